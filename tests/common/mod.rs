//! Scripted client sessions against a server started in-process on ephemeral ports with a
//! temporary data dir. Tests read as conversations: "alice sends ...; bob receives ...".
#![allow(dead_code)]

pub mod dns;
pub mod scram;

use std::collections::HashMap;
use std::io::Cursor;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use cordial::config::{Config, Listen};
use cordial::{Server, ServerHandle};
use cordial_storage::Store;
use minidom::Element;
use rsasl::prelude::*;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use xso::exports::rxml;

pub const DOMAIN: &str = "localhost";
pub const WAIT: Duration = Duration::from_secs(10);
/// The upper bound for a condition polled with [`eventually`] (a count going down, a file
/// appearing): only a bound, a condition met sooner ends the wait at once.
pub const SETTLE: Duration = Duration::from_secs(20);

/// Polls `check` (every 20 ms) until it gives `Ok`, for at most [`SETTLE`]; panics with the
/// last error after that. For conditions no stanza announces (an actor retiring, a store
/// reopening).
pub async fn eventually<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not within {SETTLE:?}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Polls `check` (every 20 ms) until it gives `Some`, for at most [`SETTLE`].
pub async fn poll_until<T, F: std::future::Future<Output = Option<T>>>(
    mut check: impl FnMut() -> F,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub struct TestServer {
    pub handle: Option<ServerHandle>,
    /// What a reload through the server's configuration source reads (the configuration the
    /// server started with, until a test changes it).
    pub reload_source: ReloadSource,
    pub dir: tempfile::TempDir,
    pub config: Config,
    /// The store the test opened and gave the server ([`TestServer::start_with_store`]).
    store: Option<Store>,
}

/// The configuration (or the error) a reload of a test server reads.
pub type ReloadSource = std::sync::Arc<std::sync::Mutex<Result<Config, String>>>;

/// Starts a server on `config`; with `inject`, on a store opened here and given to it.
async fn launch(
    config: &Config,
    inject: bool,
    source: &ReloadSource,
) -> Result<(ServerHandle, Option<Store>), String> {
    // As `cordial serve`: the command line reaches it over the admin socket.
    let source = source.clone();
    let mut server = Server::new(config.clone())
        .admin_socket(true)
        .config_source(move || source.lock().unwrap().clone());
    let mut store = None;
    if inject {
        let s = Store::open(&config.data_dir.join("db")).map_err(|e| e.to_string())?;
        server = server.storage(std::sync::Arc::new(s.clone()));
        store = Some(s);
    }
    let handle = server.start().await.map_err(|e| e.to_string())?;
    Ok((handle, store))
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::launch_with(tweak, false).await
    }

    /// A server on a store the test opened itself and gave it ([`Server::storage`]), to fail
    /// on command through [`TestServer::store`].
    pub async fn start_with_store(tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::launch_with(tweak, true).await
    }

    async fn launch_with(tweak: impl FnOnce(&mut Config), inject: bool) -> TestServer {
        let _ = env_logger::builder().is_test(true).try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.c2s.listen = Listen(Some("127.0.0.1:0".parse().unwrap()));
        config.c2s.tls_listen = Listen(Some("127.0.0.1:0".parse().unwrap()));
        config.web.listen = Listen(None);
        config.s2s.listen = Listen(Some("127.0.0.1:0".parse().unwrap()));
        // Names of other domains are looked up on a stub that knows none: nothing leaves
        // loopback, and an unknown domain fails at once.
        config.s2s.nameservers = vec![dns::stub(Vec::new()).await];
        tweak(&mut config);
        let reload_source: ReloadSource =
            std::sync::Arc::new(std::sync::Mutex::new(Ok(config.clone())));
        let (handle, store) = launch(&config, inject, &reload_source)
            .await
            .expect("server starts");
        TestServer {
            handle: Some(handle),
            reload_source,
            dir,
            config,
            store,
        }
    }

    /// Stops the server and starts a new one on the same data dir (new ports). The new one
    /// is started as soon as it can open the data dir (the old one's store may still be
    /// closing on another thread), within [`SETTLE`].
    pub async fn restart(&mut self) {
        self.handle.take().unwrap().stop().await;
        let inject = self.store.take().is_some();
        let config = &self.config;
        let source = &self.reload_source;
        let (handle, store) =
            eventually("the server restarts", || launch(config, inject, source)).await;
        self.handle = Some(handle);
        self.store = store;
    }

    /// The store given to the server, for a test started with [`TestServer::start_with_store`].
    pub fn store(&self) -> &Store {
        self.store
            .as_ref()
            .expect("the test started its server with start_with_store")
    }

    pub fn handle(&self) -> &ServerHandle {
        self.handle.as_ref().unwrap()
    }

    /// Waits (at most [`SETTLE`]) until no more than `n` UserActors are running, and returns
    /// how many are: an account's actor retires `user_idle_secs` after its last session.
    pub async fn running_users_down_to(&self, n: usize) -> usize {
        let handle = self.handle();
        let _ = poll_until(|| async { (handle.running_users() <= n).then_some(()) }).await;
        handle.running_users()
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle().c2s_addr().unwrap()
    }

    pub fn tls_addr(&self) -> SocketAddr {
        self.handle().tls_addr().unwrap()
    }

    pub async fn add_user(&self, user: &str, password: &str) {
        let bare = jid::BareJid::new(&format!("{user}@{DOMAIN}")).unwrap();
        assert!(self.handle().add_user(&bare, password).await.unwrap());
    }

    /// A logged-in, bound client that has not sent presence yet.
    pub async fn login(&self, user: &str, password: &str, resource: &str) -> Client {
        let mut c = Client::connect(self.addr()).await;
        c.negotiate_tls().await;
        assert!(
            c.auth_scram(user, password, "SCRAM-SHA-256").await,
            "{user} authenticates"
        );
        c.restart().await;
        c.bind(Some(resource)).await;
        c
    }

    /// A logged-in client that has sent available presence (with a priority) and consumed its
    /// own presence reflected back (RFC 6121 §4.2.2).
    pub async fn online(&self, user: &str, password: &str, resource: &str, priority: i8) -> Client {
        let mut c = self.login(user, password, resource).await;
        c.send(&format!(
            "<presence><priority>{priority}</priority></presence>"
        ))
        .await;
        c.own_presence().await;
        c
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            actix_rt::spawn(h.stop());
        }
    }
}

/// TCP or TLS, so that STARTTLS can swap one for the other under the same client.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_openssl::SslStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Reader = rxml::AsyncReader<BufReader<ReadHalf<Io>>>;

/// What the server said at stream level.
#[derive(Debug)]
pub enum Got {
    Element(Element),
    /// `</stream:stream>` from the server.
    Footer,
    /// The connection ended (or the XML broke).
    Eof,
}

/// What the client read from its TLS session when the handshake completed.
#[derive(Clone, Debug)]
pub struct TlsSeen {
    pub version: openssl::ssl::SslVersion,
    pub alpn: Option<Vec<u8>>,
    /// The server's certificate.
    pub certificate: openssl::x509::X509,
    /// RFC 9266 `tls-exporter`, as this side computes it (TLS 1.3 only).
    pub tls_exporter: Option<Vec<u8>>,
    /// RFC 5929 `tls-server-end-point`, as this side computes it.
    pub tls_server_end_point: Vec<u8>,
    /// RFC 5929 `tls-unique` (TLS 1.2 only): the first Finished of the handshake, ours on a
    /// full handshake.
    pub tls_unique: Option<Vec<u8>>,
}

impl TlsSeen {
    fn of(ssl: &openssl::ssl::SslRef) -> TlsSeen {
        use openssl::hash::MessageDigest;
        use openssl::nid::Nid;
        let version = ssl.version2().expect("a TLS version");
        let tls_exporter = (version == openssl::ssl::SslVersion::TLS1_3).then(|| {
            let mut out = vec![0; 32];
            ssl.export_keying_material(&mut out, "EXPORTER-Channel-Binding", None)
                .unwrap();
            out
        });
        let certificate = ssl.peer_certificate().expect("the server's certificate");
        let digest = certificate
            .signature_algorithm()
            .object()
            .nid()
            .signature_algorithms()
            .map(|a| a.digest)
            .expect("a signature with a hash");
        let digest = match digest {
            Nid::MD5 | Nid::SHA1 => MessageDigest::sha256(),
            other => MessageDigest::from_nid(other).unwrap(),
        };
        let tls_unique = (version == openssl::ssl::SslVersion::TLS1_2).then(|| {
            let mut out = vec![0; 64];
            let n = if ssl.session_reused() {
                ssl.peer_finished(&mut out)
            } else {
                ssl.finished(&mut out)
            };
            out.truncate(n);
            out
        });
        TlsSeen {
            tls_unique,
            version,
            alpn: ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
            tls_server_end_point: certificate.digest(digest).unwrap().to_vec(),
            certificate,
            tls_exporter,
        }
    }
}

pub struct Client {
    /// The TLS session as the client saw it, once there is one.
    pub tls: Option<TlsSeen>,
    reader: Option<Reader>,
    writer: Option<WriteHalf<Io>>,
    depth: usize,
    stack: Vec<Element>,
    pub header: HashMap<String, String>,
    pub features: Option<Element>,
    pub jid: Option<String>,
    pub secure: bool,
    pub last_failure: Option<String>,
    pending: std::collections::VecDeque<Element>,
    next_id: u32,
}

/// How the test client's TLS is set up: by default any version the server takes, no ALPN, SNI
/// for [`DOMAIN`], no certificate check (the server's is the self-signed development one).
#[derive(Clone, Debug)]
pub struct TlsOptions {
    pub min: Option<openssl::ssl::SslVersion>,
    pub max: Option<openssl::ssl::SslVersion>,
    /// ALPN protocols in wire format (`b"\x0bxmpp-client"`).
    pub alpn: Option<Vec<u8>>,
    pub sni: String,
    /// An OpenSSL cipher list (with `@SECLEVEL=0`, a client that can still offer TLS 1.0).
    pub ciphers: Option<String>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            min: None,
            max: None,
            alpn: None,
            sni: DOMAIN.to_string(),
            ciphers: None,
        }
    }
}

impl TlsOptions {
    /// Only TLS 1.3, or only 1.2.
    pub fn only(version: openssl::ssl::SslVersion) -> TlsOptions {
        TlsOptions {
            min: Some(version),
            max: Some(version),
            ..Default::default()
        }
    }

    /// The client side of a handshake on `tcp`.
    pub async fn connect(
        &self,
        tcp: TcpStream,
    ) -> Result<tokio_openssl::SslStream<TcpStream>, String> {
        use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
        let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
        b.set_verify(SslVerifyMode::NONE);
        b.set_min_proto_version(self.min)
            .map_err(|e| e.to_string())?;
        b.set_max_proto_version(self.max)
            .map_err(|e| e.to_string())?;
        if let Some(alpn) = &self.alpn {
            b.set_alpn_protos(alpn).map_err(|e| e.to_string())?;
        }
        if let Some(ciphers) = &self.ciphers {
            b.set_cipher_list(ciphers).map_err(|e| e.to_string())?;
        }
        let ssl = b
            .build()
            .configure()
            .and_then(|c| c.verify_hostname(false).into_ssl(&self.sni))
            .map_err(|e| e.to_string())?;
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
        Pin::new(&mut stream)
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(stream)
    }
}

impl Client {
    fn from_io(io: Io, secure: bool) -> Client {
        let tls = match &io {
            Io::Tls(s) => Some(TlsSeen::of(s.ssl())),
            Io::Plain(_) => None,
        };
        let (r, w) = tokio::io::split(io);
        Client {
            tls,
            reader: Some(rxml::AsyncReader::new(BufReader::new(r))),
            writer: Some(w),
            depth: 0,
            stack: Vec::new(),
            header: HashMap::new(),
            features: None,
            jid: None,
            secure,
            last_failure: None,
            pending: std::collections::VecDeque::new(),
            next_id: 0,
        }
    }

    /// A TCP connection with nothing sent yet.
    pub async fn connect(addr: SocketAddr) -> Client {
        Client::from_io(Io::Plain(TcpStream::connect(addr).await.unwrap()), false)
    }

    /// A direct TLS connection (XEP-0368) with nothing sent yet.
    pub async fn connect_direct_tls(addr: SocketAddr) -> Client {
        Client::connect_direct_tls_with(addr, &TlsOptions::default())
            .await
            .unwrap()
    }

    /// A direct TLS connection set up as `options` say; `Err` when the handshake fails.
    pub async fn connect_direct_tls_with(
        addr: SocketAddr,
        options: &TlsOptions,
    ) -> Result<Client, String> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let tls = options.connect(tcp).await?;
        Ok(Client::from_io(Io::Tls(Box::new(tls)), true))
    }

    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("t{}", self.next_id)
    }

    pub async fn send(&mut self, xml: &str) {
        let w = self.writer.as_mut().unwrap();
        // A write to a connection the server has already closed is not the test's concern;
        // what the server answered is read afterwards.
        let _ = w.write_all(xml.as_bytes()).await;
        let _ = w.flush().await;
    }

    /// Sends and reports whether the connection took the bytes.
    pub async fn try_send(&mut self, xml: &str) -> std::io::Result<()> {
        let w = self.writer.as_mut().unwrap();
        w.write_all(xml.as_bytes()).await?;
        w.flush().await
    }

    /// Sends a stream header to `to` and reads the server's header and features.
    pub async fn open_to(&mut self, to: &str) -> Option<Element> {
        self.open_with("", to).await
    }

    /// Sends `prefix` (whitespace, say) and a stream header in one write, and reads the
    /// server's header and features.
    pub async fn open_after(&mut self, prefix: &str) -> Element {
        self.open_with(prefix, DOMAIN)
            .await
            .expect("stream features")
    }

    async fn open_with(&mut self, prefix: &str, to: &str) -> Option<Element> {
        self.send(&format!(
            "{prefix}<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{to}' version='1.0'>"
        ))
        .await;
        match self.next().await {
            Got::Element(f) if f.name() == "features" => {
                self.features = Some(f.clone());
                Some(f)
            }
            Got::Element(other) => {
                self.stack.clear();
                self.pending.push_back(other);
                None
            }
            _ => None,
        }
    }

    pub async fn open(&mut self) -> Element {
        self.open_to(DOMAIN).await.expect("stream features")
    }

    /// STARTTLS (RFC 6120 §5) and the stream restart after it.
    pub async fn negotiate_tls(&mut self) {
        self.open().await;
        self.starttls().await;
    }

    /// STARTTLS on a stream whose features have been read.
    pub async fn starttls(&mut self) {
        self.upgrade_tls("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .await;
        self.open().await;
    }

    /// Sends `starttls` (the `<starttls/>` element, as written), waits for `<proceed/>` and
    /// runs the TLS handshake; the new stream is not opened yet.
    pub async fn upgrade_tls(&mut self, starttls: &str) {
        self.upgrade_tls_with(starttls, &TlsOptions::default())
            .await
            .unwrap()
    }

    /// [`Client::upgrade_tls`] with the TLS set up as `options` say.
    pub async fn upgrade_tls_with(
        &mut self,
        starttls: &str,
        options: &TlsOptions,
    ) -> Result<(), String> {
        self.send(starttls).await;
        let proceed = self.expect_element().await;
        assert_eq!(proceed.name(), "proceed");
        let reader = self.reader.take().unwrap();
        let (buf, _) = reader.into_inner();
        let r = buf.into_inner();
        let io = r.unsplit(self.writer.take().unwrap());
        let Io::Plain(tcp) = io else {
            panic!("already TLS")
        };
        let tls = options.connect(tcp).await?;
        *self = Client {
            next_id: self.next_id,
            ..Client::from_io(Io::Tls(Box::new(tls)), true)
        };
        Ok(())
    }

    /// A stream restart (after SASL success): new header, new parser state on our side.
    pub async fn restart(&mut self) {
        self.restart_after("").await;
    }

    /// A stream restart to domain `to` (after SASL success on a stream to it).
    pub async fn restart_to(&mut self, to: &str) -> Option<Element> {
        self.depth = 0;
        self.stack.clear();
        let reader = self.reader.take().unwrap();
        let (buf, _) = reader.into_inner();
        self.reader = Some(rxml::AsyncReader::new(buf));
        self.open_to(to).await
    }

    /// A stream restart whose header follows `prefix` (whitespace, say) in the same write.
    pub async fn restart_after(&mut self, prefix: &str) {
        self.depth = 0;
        self.stack.clear();
        let reader = self.reader.take().unwrap();
        let (buf, _) = reader.into_inner();
        self.reader = Some(rxml::AsyncReader::new(buf));
        self.open_after(prefix).await;
    }

    pub fn mechanisms(&self) -> Vec<String> {
        let Some(f) = &self.features else {
            return vec![];
        };
        f.get_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
            .map(|m| m.children().map(|c| c.text()).collect())
            .unwrap_or_default()
    }

    /// Runs SASL with `mechanism`; true on `<success/>`.
    pub async fn auth_scram(&mut self, user: &str, password: &str, mechanism: &str) -> bool {
        let config =
            SASLConfig::with_credentials(None, user.to_string(), password.to_string()).unwrap();
        let mech = Mechname::parse(mechanism.as_bytes()).unwrap();
        let mut session = SASLClient::new(config).start_suggested(&[mech]).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = Cursor::new(Vec::new());
        session.step(None, &mut out).unwrap();
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{mechanism}'>{}</auth>",
            b64.encode(out.get_ref())
        ))
        .await;
        loop {
            let el = self.expect_element().await;
            match el.name() {
                "challenge" => {
                    let data = b64.decode(el.text()).unwrap();
                    let mut out = Cursor::new(Vec::new());
                    if session.step(Some(&data), &mut out).is_err() {
                        return false;
                    }
                    self.send(&format!(
                        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
                        b64.encode(out.get_ref())
                    ))
                    .await;
                }
                "success" => {
                    let data = b64.decode(el.text()).unwrap();
                    if !data.is_empty() {
                        // The server signature must verify (mutual authentication).
                        let mut out = Cursor::new(Vec::new());
                        assert!(
                            session.step(Some(&data), &mut out).is_ok(),
                            "server signature verifies"
                        );
                    }
                    return true;
                }
                "failure" => {
                    self.last_failure = el.children().next().map(|c| c.name().to_string());
                    return false;
                }
                other => panic!("unexpected <{other}/> during SASL"),
            }
        }
    }

    /// SASL with the independent SCRAM client of [`scram`] as `user`, binding as `scram` says.
    /// `Ok` on `<success/>` with a ServerSignature that verifies; else the `<failure/>`'s
    /// condition and whether it answered the first message (`true`) or the final one.
    pub async fn auth_scram_bound(
        &mut self,
        user: &str,
        scram: &scram::ScramClient,
    ) -> Result<(), (String, bool)> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let bare = format!("n={user},r=rOprNGfwEbeRWgbNEkqO{}", self.next_id);
        let first = format!("{}{bare}", scram.gs2_header());
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{}'>{}</auth>",
            scram.mechanism,
            b64.encode(&first)
        ))
        .await;
        let failure = |el: &Element, first: bool| {
            let condition = el.children().next().map(|c| c.name().to_string());
            Err((condition.unwrap_or_default(), first))
        };
        let challenge = self.expect_element().await;
        if challenge.name() == "failure" {
            return failure(&challenge, true);
        }
        assert_eq!(challenge.name(), "challenge", "{challenge:?}");
        let server_first = String::from_utf8(b64.decode(challenge.text()).unwrap()).unwrap();
        let (last, signature) = scram.final_message(&bare, &server_first);
        self.send(&format!(
            "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
            b64.encode(&last)
        ))
        .await;
        let outcome = self.expect_element().await;
        if outcome.name() == "failure" {
            return failure(&outcome, false);
        }
        assert_eq!(outcome.name(), "success", "{outcome:?}");
        let v = String::from_utf8(b64.decode(outcome.text()).unwrap()).unwrap();
        assert_eq!(v, format!("v={}", b64.encode(signature)), "ServerSignature");
        Ok(())
    }

    /// SASL PLAIN with the given authcid and password.
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Element {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{b64}</auth>"
        ))
        .await;
        self.expect_element().await
    }

    /// Resource binding; returns the bound full JID.
    pub async fn bind(&mut self, resource: Option<&str>) -> String {
        let id = self.id();
        let inner = resource
            .map(|r| format!("<resource>{r}</resource>"))
            .unwrap_or_default();
        self.send(&format!("<iq type='set' id='{id}'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{inner}</bind></iq>")).await;
        let reply = self.expect_element().await;
        assert_eq!(
            reply.attr("type"),
            Some("result"),
            "bind result: {}",
            String::from(&reply)
        );
        let jid = reply
            .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.get_child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
            .map(|j| j.text())
            .unwrap();
        self.jid = Some(jid.clone());
        jid
    }

    fn feed(&mut self, ev: rxml::Event) -> Option<Got> {
        match ev {
            rxml::Event::StartElement(_, (ns, name), attrs) => {
                if self.depth == 0 {
                    for ((_, k), v) in attrs.into_iter() {
                        self.header.insert(k.to_string(), v);
                    }
                } else {
                    let mut b = Element::builder(name.as_str(), ns.to_string());
                    for ((ans, k), v) in attrs.into_iter() {
                        b = b.attr_ns(ans, k, v);
                    }
                    self.stack.push(b.build());
                }
                self.depth += 1;
                None
            }
            rxml::Event::Text(_, t) => {
                if let Some(top) = self.stack.last_mut() {
                    top.append_text_node(t);
                }
                None
            }
            rxml::Event::EndElement(_) => {
                self.depth -= 1;
                if self.depth == 0 {
                    return Some(Got::Footer);
                }
                let el = self.stack.pop().unwrap();
                match self.stack.last_mut() {
                    Some(p) => {
                        p.append_child(el);
                        None
                    }
                    None => Some(Got::Element(el)),
                }
            }
            rxml::Event::XmlDeclaration(..) => None,
        }
    }

    /// The next thing the server says at stream level, waiting at most [`WAIT`].
    pub async fn next(&mut self) -> Got {
        self.next_within(WAIT)
            .await
            .expect("the server answers in time")
    }

    pub async fn next_within(&mut self, wait: Duration) -> Option<Got> {
        if let Some(p) = self.pending.pop_front() {
            return Some(Got::Element(p));
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let reader = self.reader.as_mut().unwrap();
            let ev = match tokio::time::timeout_at(deadline, reader.read()).await {
                Err(_) => return None,
                Ok(Ok(None)) | Ok(Err(_)) => return Some(Got::Eof),
                Ok(Ok(Some(ev))) => ev,
            };
            if let Some(got) = self.feed(ev) {
                return Some(got);
            }
        }
    }

    pub async fn expect_element(&mut self) -> Element {
        match self.next().await {
            Got::Element(e) => e,
            other => panic!("expected an element, got {other:?}"),
        }
    }

    /// The next element, which must match `pred`: anything else arriving first (an extra push,
    /// an unexpected error) fails the test.
    pub async fn expect_where(&mut self, pred: impl Fn(&Element) -> bool) -> Element {
        let e = self.expect_element().await;
        assert!(pred(&e), "unexpected stanza: {}", String::from(&e));
        e
    }

    /// [`Self::expect_where`], skipping first what `tolerated` matches: traffic that is not the
    /// subject of the test, named at the call site. Anything else still fails the test.
    pub async fn expect_where_tolerating(
        &mut self,
        pred: impl Fn(&Element) -> bool,
        tolerated: impl Fn(&Element) -> bool,
    ) -> Element {
        loop {
            let e = self.expect_element().await;
            if pred(&e) {
                return e;
            }
            assert!(tolerated(&e), "unexpected stanza: {}", String::from(&e));
        }
    }

    /// Waits for the client's own presence reflected back (RFC 6121 §4.2.2) after it sent
    /// presence. What arrives before it (another resource's presence, say) stays queued for the
    /// test, which has to account for it.
    pub async fn own_presence(&mut self) -> Element {
        let me = self.jid.clone().unwrap();
        let mut before = Vec::new();
        let own = loop {
            let e = self.expect_element().await;
            if e.name() == "presence" && e.attr("from") == Some(me.as_str()) {
                break e;
            }
            before.push(e);
        };
        for e in before.into_iter().rev() {
            self.pending.push_front(e);
        }
        own
    }

    /// The next stanza must be a stream error; returns its condition, and checks that the
    /// server then closes the stream.
    pub async fn expect_stream_error(&mut self) -> String {
        let e = self.expect_element().await;
        assert_eq!(
            e.name(),
            "error",
            "expected a stream error, got {}",
            String::from(&e)
        );
        assert_eq!(e.ns(), "http://etherx.jabber.org/streams");
        let cond = e
            .children()
            .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-streams" && c.name() != "text")
            .map(|c| c.name().to_string())
            .unwrap();
        assert!(
            matches!(self.next().await, Got::Footer | Got::Eof),
            "stream closed after the error"
        );
        cond
    }

    /// Nothing more arrives: a ping sent now is answered before anything else. The server
    /// answers it only once everything this client sent before is done (RFC 6120 §10.1), and
    /// what that queued for the client is written before the answer, so this needs no fixed
    /// wait. For what another client's stanzas cause here, let that client's own ping come back
    /// first (`other.until_ping()` or `other.expect_quiet()`).
    pub async fn expect_quiet(&mut self) {
        let got = self.until_ping().await;
        let shown: Vec<String> = got.iter().map(String::from).collect();
        assert!(shown.is_empty(), "expected nothing more, got {shown:#?}");
    }

    /// Sends an iq and waits for the reply with the same id.
    pub async fn iq(&mut self, type_: &str, to: Option<&str>, payload: &str) -> Element {
        let id = self.id();
        let to = to.map(|t| format!(" to='{t}'")).unwrap_or_default();
        self.send(&format!("<iq type='{type_}' id='{id}'{to}>{payload}</iq>"))
            .await;
        // Whatever arrives before the reply (pushes, messages) stays queued for the test.
        let mut skipped = Vec::new();
        let reply = loop {
            let e = self.expect_element().await;
            if e.name() == "iq" && e.attr("id") == Some(id.as_str()) {
                break e;
            }
            skipped.push(e);
        };
        for e in skipped.into_iter().rev() {
            self.pending.push_front(e);
        }
        reply
    }

    /// Everything the server sends before it answers a ping sent now. The server processes a
    /// client's stanzas in order (RFC 6120 §10.1), including what they start for local
    /// contacts, so this is all that the client's earlier stanzas caused: a test can expect
    /// an exact set without waiting for a fixed time.
    pub async fn until_ping(&mut self) -> Vec<Element> {
        let id = self.id();
        self.send(&format!(
            "<iq type='get' id='{id}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ))
        .await;
        let mut before = Vec::new();
        loop {
            let e = self.expect_element().await;
            if e.name() == "iq" && e.attr("id") == Some(id.as_str()) {
                assert_eq!(e.attr("type"), Some("result"), "{}", String::from(&e));
                return before;
            }
            before.push(e);
        }
    }

    /// Closes the stream and waits (at most [`WAIT`]) for the server's closing tag, which it
    /// sends once it has handled everything before ours (RFC 6120 §4.4), logout included.
    /// Stanzas still arriving for the client meanwhile are not looked at.
    pub async fn close(mut self) {
        self.send("</stream:stream>").await;
        let deadline = tokio::time::Instant::now() + WAIT;
        while let Some(Got::Element(_)) = self
            .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {}
    }
}

/// The stanza error condition of an error reply.
pub fn error_condition(el: &Element) -> Option<String> {
    assert_eq!(
        el.attr("type"),
        Some("error"),
        "expected an error: {}",
        String::from(el)
    );
    el.get_child("error", "jabber:client")?
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        .map(|c| c.name().to_string())
}

pub fn body(el: &Element) -> Option<String> {
    el.get_child("body", "jabber:client").map(|b| b.text())
}

// Subscription helpers shared by the subscription and privacy tests.

pub const NS_ROSTER: &str = "jabber:iq:roster";

pub type Pred<'a> = &'a dyn Fn(&Element) -> bool;

/// Reads until every predicate has matched one element (in any order); returns the matches in
/// the order of the predicates. Any other element arriving meanwhile fails the test: one that
/// no predicate wants, or a second match for a predicate already met (a duplicated push).
/// Stanzas after the last match are left for the test; [`gather_exactly`] also checks there
/// are none.
pub async fn gather(c: &mut Client, preds: &[Pred<'_>]) -> Vec<Element> {
    gather_tolerating(c, preds, &|_| false).await
}

/// [`gather`], skipping what `tolerated` matches (and no outstanding predicate wants): traffic
/// that is not the subject of the test, named at the call site.
pub async fn gather_tolerating(
    c: &mut Client,
    preds: &[Pred<'_>],
    tolerated: Pred<'_>,
) -> Vec<Element> {
    let mut got: Vec<Option<Element>> = vec![None; preds.len()];
    while got.iter().any(Option::is_none) {
        let e = c.expect_element().await;
        if let Some(i) = (0..preds.len()).find(|&i| got[i].is_none() && preds[i](&e)) {
            got[i] = Some(e);
        } else if !tolerated(&e) {
            let so_far: Vec<String> = got.iter().flatten().map(String::from).collect();
            panic!(
                "unexpected stanza while gathering {} ({} matched so far: {so_far:#?}): {}",
                preds.len(),
                so_far.len(),
                String::from(&e)
            );
        }
    }
    got.into_iter().map(Option::unwrap).collect()
}

/// [`gather`], then nothing more arrives ([`Client::expect_quiet`]): exactly this set.
pub async fn gather_exactly(c: &mut Client, preds: &[Pred<'_>]) -> Vec<Element> {
    let got = gather(c, preds).await;
    c.expect_quiet().await;
    got
}

pub fn push_of(jid: &'static str) -> impl Fn(&Element) -> bool {
    move |e: &Element| {
        e.name() == "iq"
            && e.attr("type") == Some("set")
            && e.get_child("query", NS_ROSTER)
                .and_then(|q| q.get_child("item", NS_ROSTER))
                .is_some_and(|i| i.attr("jid") == Some(jid))
    }
}

pub fn presence(type_: &'static str, from: &'static str) -> impl Fn(&Element) -> bool {
    move |e: &Element| {
        e.name() == "presence"
            && e.attr("type").unwrap_or("available") == type_
            && e.attr("from").is_some_and(|f| f.starts_with(from))
    }
}

/// The item of a roster push.
pub fn item(push: &Element) -> &Element {
    push.get_child("query", NS_ROSTER)
        .unwrap()
        .get_child("item", NS_ROSTER)
        .unwrap()
}

pub fn sub(push: &Element) -> (&str, Option<&str>) {
    let i = item(push);
    (i.attr("subscription").unwrap(), i.attr("ask"))
}

/// `a` subscribes to `b` and `b` approves; both online and ready (roster requested, each
/// with one available resource), with nothing left unread. Every step is exact: `a` gets the
/// pending push, `b` the request, then `b` its push and `a` the approval, its push and `b`'s
/// current presence, and nothing else arrives on either side.
pub async fn subscribe(a: &mut Client, a_bare: &'static str, b: &mut Client, b_bare: &'static str) {
    a.send(&format!("<presence to='{b_bare}' type='subscribe'/>"))
        .await;
    gather_exactly(
        a,
        &[&|e: &Element| push_of(b_bare)(e) && sub(e).1 == Some("subscribe")],
    )
    .await;
    gather_exactly(b, &[&presence("subscribe", a_bare)]).await;
    b.send(&format!("<presence to='{a_bare}' type='subscribed'/>"))
        .await;
    gather_exactly(b, &[&push_of(a_bare)]).await;
    gather_exactly(
        a,
        &[
            &presence("subscribed", b_bare),
            &|e: &Element| push_of(b_bare)(e) && sub(e).1.is_none(),
            &presence("available", b_bare),
        ],
    )
    .await;
}
