//! A minimal XMPP client: TCP (optionally STARTTLS or direct TLS), SASL (PLAIN, SCRAM, SCRAM-*-PLUS
//! with channel binding), bind, and element-level I/O.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use base64::Engine as _;
use minidom::Element;
use openssl::ssl::{SslConnector, SslMethod, SslRef, SslVerifyMode, SslVersion};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};

pub use crate::Error;

pub enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_openssl::SslStream<TcpStream>>),
    /// XMPP over WebSocket, as bytes (see [`crate::ws`]).
    Ws(tokio::io::DuplexStream),
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
            Io::Ws(s) => Pin::new(s).poll_read(cx, buf),
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
            Io::Ws(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Io::Ws(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Io::Ws(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub domain: String,
    /// TLS: none, STARTTLS or direct TLS, which versions, and the channel binding type.
    pub tls: Tls,
    pub password: String,
    /// SASL mechanism: PLAIN, SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512, or one of the SCRAM
    /// ones with -PLUS (channel binding, RFC 5802 §6; needs TLS).
    pub mechanism: String,
    /// XMPP over WebSocket (RFC 7395) at this HTTP path of `addr` instead of TCP c2s.
    pub websocket: Option<String>,
    /// SCRAM salted passwords already derived, shared by every login of a run.
    pub scram_keys: ScramKeys,
}

/// How the connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (the server must allow authentication without TLS).
    #[default]
    Off,
    /// STARTTLS after the first stream header (RFC 6120 §5).
    StartTls,
    /// TLS from the first byte (XEP-0368), with ALPN `xmpp-client`.
    Direct,
}

/// Which TLS versions the client offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsVersions {
    /// TLS 1.2 and 1.3: the server picks (the newest both have).
    #[default]
    Any,
    /// TLS 1.2 only.
    Only12,
    /// TLS 1.3 only: a server without it fails the handshake.
    Only13,
}

/// The channel binding type of SCRAM-*-PLUS (RFC 5056).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CbType {
    /// The first type the server advertises (XEP-0440) that this connection has, in the order
    /// tls-exporter, tls-server-end-point, tls-unique; without an advertisement, `tls-exporter`
    /// over TLS 1.3 (RFC 9266) and `tls-unique` over TLS 1.2 (RFC 5802's default).
    #[default]
    Auto,
    /// RFC 9266: 32 bytes of keying material exported with the label "EXPORTER-Channel-Binding"
    /// and no context.
    TlsExporter,
    /// RFC 5929 §4.1: the hash of the server's certificate.
    TlsServerEndPoint,
    /// RFC 5929 §3.1: the first Finished message of the handshake. Not defined for TLS 1.3
    /// (RFC 9266 §1); over TLS 1.3 this client sends what OpenSSL reports as the client's
    /// Finished, which is what ejabberd 23.01 binds to there.
    TlsUnique,
}

impl CbType {
    pub fn name(self) -> &'static str {
        match self {
            CbType::Auto => "auto",
            CbType::TlsExporter => "tls-exporter",
            CbType::TlsServerEndPoint => "tls-server-end-point",
            CbType::TlsUnique => "tls-unique",
        }
    }
}

impl std::str::FromStr for CbType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [
            CbType::Auto,
            CbType::TlsExporter,
            CbType::TlsServerEndPoint,
            CbType::TlsUnique,
        ]
        .into_iter()
        .find(|t| t.name() == s)
        .ok_or_else(|| {
            format!("unknown channel binding type {s:?}: auto, tls-exporter, tls-server-end-point or tls-unique")
        })
    }
}

/// The client's TLS settings, with one OpenSSL context shared by every connection of a run.
/// Certificates are not verified (benchmark servers use self-signed certificates). No session
/// is ever resumed: every connection is a full handshake.
#[derive(Clone, Default)]
pub struct Tls {
    pub mode: TlsMode,
    pub versions: TlsVersions,
    pub cb: CbType,
    connector: Option<SslConnector>,
    /// What the first completed handshake negotiated, for the report.
    seen: Arc<OnceLock<Negotiated>>,
    /// The channel binding type the first -PLUS login used, for the report.
    cb_used: Arc<OnceLock<&'static str>>,
}

/// A TLS version and cipher suite, as OpenSSL names them.
#[derive(Clone, Debug)]
pub struct Negotiated {
    pub version: &'static str,
    pub cipher: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.mode)
            .field("versions", &self.versions)
            .field("cb", &self.cb)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Plain TCP.
    pub fn off() -> Self {
        Tls::default()
    }

    pub fn new(mode: TlsMode, versions: TlsVersions, cb: CbType) -> Result<Self, Error> {
        let connector = match mode {
            TlsMode::Off => None,
            _ => {
                let mut b = SslConnector::builder(SslMethod::tls_client())?;
                b.set_verify(SslVerifyMode::NONE);
                let (min, max) = match versions {
                    TlsVersions::Any => (SslVersion::TLS1_2, SslVersion::TLS1_3),
                    TlsVersions::Only12 => (SslVersion::TLS1_2, SslVersion::TLS1_2),
                    TlsVersions::Only13 => (SslVersion::TLS1_3, SslVersion::TLS1_3),
                };
                b.set_min_proto_version(Some(min))?;
                b.set_max_proto_version(Some(max))?;
                Some(b.build())
            }
        };
        Ok(Tls {
            mode,
            versions,
            cb,
            connector,
            ..Tls::default()
        })
    }

    /// The version and cipher of the first handshake of the run, if there was one.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.seen.get().cloned()
    }

    /// The channel binding type of the first -PLUS login of the run, if there was one.
    pub fn cb_used(&self) -> Option<&'static str> {
        self.cb_used.get().copied()
    }

    async fn handshake(
        &self,
        domain: &str,
        tcp: TcpStream,
    ) -> Result<tokio_openssl::SslStream<TcpStream>, Error> {
        let connector = self.connector.as_ref().ok_or("TLS is off")?;
        let mut config = connector.configure()?.verify_hostname(false);
        if self.mode == TlsMode::Direct {
            config.set_alpn_protos(b"\x0bxmpp-client")?;
        }
        let ssl = config.into_ssl(domain)?;
        let mut stream = tokio_openssl::SslStream::new(ssl, tcp)?;
        Pin::new(&mut stream)
            .connect()
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let ssl = stream.ssl();
        self.seen.get_or_init(|| Negotiated {
            version: ssl.version_str(),
            cipher: ssl
                .current_cipher()
                .map(|c| c.name().to_string())
                .unwrap_or_default(),
        });
        Ok(stream)
    }
}

/// What a TLS connection can bind to, read once its handshake is done.
#[derive(Clone, Debug, Default)]
struct Bindings {
    tls13: bool,
    exporter: Option<Vec<u8>>,
    server_end_point: Option<Vec<u8>>,
    unique: Option<Vec<u8>>,
}

impl Bindings {
    fn of(ssl: &SslRef) -> Self {
        let tls13 = ssl.version2() == Some(SslVersion::TLS1_3);
        let mut exporter = vec![0u8; 32];
        let exporter = ssl
            .export_keying_material(&mut exporter, "EXPORTER-Channel-Binding", None)
            .ok()
            .map(|()| exporter);
        // RFC 5929 §4.1: SHA-256 when the certificate is signed with MD5 or SHA-1, else the
        // signature's own hash; undefined for signatures without one (Ed25519).
        let server_end_point = ssl.peer_certificate().and_then(|cert| {
            use openssl::hash::MessageDigest;
            use openssl::nid::Nid;
            let digest = cert
                .signature_algorithm()
                .object()
                .nid()
                .signature_algorithms()?
                .digest;
            let md = match digest {
                Nid::MD5 | Nid::SHA1 => MessageDigest::sha256(),
                other => MessageDigest::from_nid(other)?,
            };
            cert.digest(md).ok().map(|d| d.to_vec())
        });
        // The first Finished of a full handshake is the client's, the last one it sent.
        let mut finished = [0u8; 64];
        let n = ssl.finished(&mut finished);
        let unique = (n > 0 && !ssl.session_reused()).then(|| finished[..n].to_vec());
        Bindings {
            tls13,
            exporter,
            server_end_point,
            unique,
        }
    }

    fn get(&self, cb: CbType) -> Option<&[u8]> {
        match cb {
            CbType::TlsExporter => self.exporter.as_deref(),
            CbType::TlsServerEndPoint => self.server_end_point.as_deref(),
            CbType::TlsUnique => self.unique.as_deref(),
            CbType::Auto => None,
        }
    }

    /// The type to use: `wanted`, or for [`CbType::Auto`] what the server advertises
    /// (`advertised`, XEP-0440) and this connection has, else the default of its TLS version.
    fn choose(&self, wanted: CbType, advertised: &[String]) -> Result<(CbType, Vec<u8>), Error> {
        let kind = match wanted {
            CbType::Auto if !advertised.is_empty() => [
                CbType::TlsExporter,
                CbType::TlsServerEndPoint,
                CbType::TlsUnique,
            ]
            .into_iter()
            .filter(|t| !(self.tls13 && *t == CbType::TlsUnique))
            .find(|t| advertised.iter().any(|a| a == t.name()) && self.get(*t).is_some())
            .ok_or_else(|| {
                format!("the server binds only to {advertised:?}, which this connection lacks")
            })?,
            CbType::Auto if self.tls13 => CbType::TlsExporter,
            CbType::Auto => CbType::TlsUnique,
            t => t,
        };
        let data = self
            .get(kind)
            .ok_or_else(|| format!("no {} channel binding data on this connection", kind.name()))?;
        Ok((kind, data.to_vec()))
    }
}

/// rsasl's channel binding callback: the data of the one type this login binds to.
struct Binding(Option<(&'static str, Vec<u8>)>);

impl rsasl::prelude::ChannelBindingCallback for Binding {
    fn get_cb_data(&self, cbname: &str) -> Option<&[u8]> {
        match &self.0 {
            Some((name, data)) if *name == cbname => Some(data),
            _ => None,
        }
    }
}

/// The SCRAM client's salted passwords (RFC 5802 §3: `Hi(password, salt, i)`), kept by user,
/// hash, salt and iteration count, as RFC 5802 §5.1 lets a client do ("a client implementation
/// MAY cache ClientKey&ServerKey (or just SaltedPassword) for later reauthentication"). The
/// load generator's own PBKDF2 would otherwise take as much CPU per login as the server's
/// whole SCRAM exchange, and a login benchmark would measure the client. A server that
/// changes the salt (a new password) gets a fresh derivation.
#[derive(Clone, Debug, Default)]
pub struct ScramKeys(Arc<Mutex<HashMap<ScramKeyId, Vec<u8>>>>);

type ScramKeyId = (String, &'static str, Vec<u8>, u32);

impl ScramKeys {
    /// The keys saved by [`Self::save`] in `path`, if it exists: every `cordial-bench` run
    /// against the same server is one client that remembers them (compare.sh's idle, chat and
    /// login phases are separate runs; at N = 10 000 a login run alone meets each account about
    /// once, and without them it measured the load generator's PBKDF2).
    pub fn load(path: &std::path::Path) -> Self {
        let keys = ScramKeys::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return keys;
        };
        let b64 = base64::engine::general_purpose::STANDARD;
        let entries: Vec<(String, String, String, u32, String)> =
            serde_json::from_str(&text).unwrap_or_default();
        let mut map = keys.0.lock().unwrap();
        for (user, hash, salt, i, key) in entries {
            let hash = match hash.as_str() {
                "sha-256" => "sha-256",
                "sha-512" => "sha-512",
                _ => "sha-1",
            };
            if let (Ok(salt), Ok(key)) = (b64.decode(salt), b64.decode(key)) {
                map.insert((user, hash, salt, i), key);
            }
        }
        drop(map);
        keys
    }

    /// Writes the keys to `path` for the next run (see [`Self::load`]).
    pub fn save(&self, path: &std::path::Path) -> std::io::Result<()> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let entries: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|((user, hash, salt, i), key)| {
                (user.clone(), *hash, b64.encode(salt), *i, b64.encode(key))
            })
            .collect();
        std::fs::write(path, serde_json::to_string(&entries)?)
    }

    fn salted(&self, user: &str, mechanism: &str, password: &str, salt: &[u8], i: u32) -> Vec<u8> {
        // The same for a mechanism and its -PLUS variant: channel binding changes the proof,
        // not the salted password.
        let hash = if mechanism.starts_with("SCRAM-SHA-256") {
            "sha-256"
        } else if mechanism.starts_with("SCRAM-SHA-512") {
            "sha-512"
        } else {
            "sha-1"
        };
        let id = (user.to_string(), hash, salt.to_vec(), i);
        if let Some(k) = self.0.lock().unwrap().get(&id) {
            return k.clone();
        }
        let key = if hash == "sha-256" {
            pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password.as_bytes(), salt, i).to_vec()
        } else if hash == "sha-512" {
            pbkdf2::pbkdf2_hmac_array::<sha2::Sha512, 64>(password.as_bytes(), salt, i).to_vec()
        } else {
            pbkdf2::pbkdf2_hmac_array::<sha1::Sha1, 20>(password.as_bytes(), salt, i).to_vec()
        };
        self.0.lock().unwrap().insert(id, key.clone());
        key
    }
}

/// rsasl's client callback: the credentials, the salted password from [`ScramKeys`], and for
/// -PLUS the channel binding type.
struct Credentials {
    user: String,
    password: String,
    keys: ScramKeys,
    cb: Option<&'static str>,
}

impl rsasl::callback::SessionCallback for Credentials {
    fn enable_channel_binding(&self) -> bool {
        self.cb.is_some()
    }

    fn callback(
        &self,
        session: &rsasl::callback::SessionData,
        context: &rsasl::callback::Context,
        request: &mut rsasl::callback::Request<'_>,
    ) -> Result<(), rsasl::prelude::SessionError> {
        use rsasl::mechanisms::scram::properties::{Iterations, Salt, SaltedPassword};
        use rsasl::property::{AuthId, OverrideCBType, Password};
        if let Some(cb) = self.cb {
            request.satisfy::<OverrideCBType>(cb)?;
        }
        if request.is::<SaltedPassword>() {
            if let (Some(salt), Some(i)) =
                (context.get_ref::<Salt>(), context.get_ref::<Iterations>())
            {
                let mech = session.mechanism().mechanism.as_str();
                let key = self.keys.salted(&self.user, mech, &self.password, salt, *i);
                request.satisfy::<SaltedPassword>(&key)?;
            }
            return Ok(());
        }
        request
            .satisfy::<AuthId>(self.user.as_str())?
            .satisfy::<Password>(self.password.as_bytes())?;
        Ok(())
    }
}

/// The reading half: rxml events turned into top-level elements.
pub struct Reader {
    inner: rxml::AsyncReader<BufReader<ReadHalf<Io>>>,
    depth: usize,
    stack: Vec<Element>,
}

impl Reader {
    fn new(r: ReadHalf<Io>) -> Self {
        Reader {
            inner: rxml::AsyncReader::new(BufReader::new(r)),
            depth: 0,
            stack: Vec::new(),
        }
    }

    /// The next top-level element; `None` when the stream or connection ended.
    pub async fn next(&mut self) -> Result<Option<Element>, Error> {
        loop {
            let Some(ev) = self.inner.read().await? else {
                return Ok(None);
            };
            match ev {
                rxml::Event::StartElement(_, (ns, name), attrs) => {
                    if self.depth > 0 {
                        let mut b = Element::builder(name.as_str(), ns.to_string());
                        for ((ans, k), v) in attrs.into_iter() {
                            b = b.attr_ns(ans, k, v);
                        }
                        self.stack.push(b.build());
                    }
                    self.depth += 1;
                }
                rxml::Event::Text(_, t) => {
                    if let Some(top) = self.stack.last_mut() {
                        top.append_text_node(t);
                    }
                }
                rxml::Event::EndElement(_) => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Ok(None);
                    }
                    let el = self.stack.pop().expect("balanced");
                    match self.stack.last_mut() {
                        Some(p) => {
                            p.append_child(el);
                        }
                        None => return Ok(Some(el)),
                    }
                }
                rxml::Event::XmlDeclaration(..) => {}
            }
        }
    }

    /// Skips elements until one matches.
    pub async fn until(&mut self, pred: impl Fn(&Element) -> bool) -> Result<Element, Error> {
        loop {
            match self.next().await? {
                Some(e) if pred(&e) => return Ok(e),
                Some(_) => {}
                None => return Err("stream closed".into()),
            }
        }
    }

    /// The buffered byte stream underneath, for readers that scan raw bytes. Bytes the XML
    /// parser had already read ahead are not in it.
    pub fn into_raw(self) -> BufReader<ReadHalf<Io>> {
        self.inner.into_inner().0
    }

    fn restart(self) -> Self {
        let (buf, _) = self.inner.into_inner();
        Reader {
            inner: rxml::AsyncReader::new(buf),
            depth: 0,
            stack: Vec::new(),
        }
    }
}

/// Whether raw bytes may end with a complete top-level `<iq>` (`…/>` or `…</iq>`).
fn reply_complete(raw: &[u8]) -> bool {
    let text = raw.trim_ascii_end();
    text.ends_with(b"/>") || text.ends_with(b"</iq>")
}

/// The iq with `id` among the complete top-level elements in `raw`, if they parse.
fn find_reply(raw: &[u8], id: &str) -> Result<Option<Element>, Error> {
    let wrapped = format!("<x xmlns='jabber:client'>{}</x>", std::str::from_utf8(raw)?);
    let Ok(el) = wrapped.parse::<Element>() else {
        return Ok(None);
    };
    Ok(el
        .children()
        .find(|e| e.name() == "iq" && e.attr("id") == Some(id))
        .cloned())
}

pub struct Session {
    pub reader: Reader,
    pub writer: WriteHalf<Io>,
}

fn header(domain: &str) -> String {
    format!("<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='{domain}' version='1.0'>")
}

pub(crate) async fn tcp(addr: SocketAddr, source: Option<IpAddr>) -> Result<TcpStream, Error> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let s = socket.connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

async fn read_features(reader: &mut Reader) -> Result<Element, Error> {
    reader.until(|e| e.name() == "features").await
}

/// A stream opened (and secured, if the target asks for TLS), up to its features.
struct Opened {
    reader: Reader,
    writer: WriteHalf<Io>,
    features: Element,
    /// The channel binding data of the TLS connection, when asked for.
    bindings: Option<Bindings>,
}

const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_SASL_CB: &str = "urn:xmpp:sasl-cb:0";

/// Opens a stream, with STARTTLS or direct TLS as the target says, and returns the features
/// of the (secured) stream; with `want_bindings`, also the TLS connection's channel bindings.
async fn open(t: &Target, source: Option<IpAddr>, want_bindings: bool) -> Result<Opened, Error> {
    let stream = tcp(t.addr, source).await?;
    let mut bindings = None;
    let io = match (&t.websocket, t.tls.mode) {
        (Some(path), _) => Io::Ws(crate::ws::connect(stream, t.addr, path).await?),
        (None, TlsMode::Direct) => {
            let tls = t.tls.handshake(&t.domain, stream).await?;
            bindings = want_bindings.then(|| Bindings::of(tls.ssl()));
            Io::Tls(Box::new(tls))
        }
        (None, _) => Io::Plain(stream),
    };
    let (r, mut w) = tokio::io::split(io);
    w.write_all(header(&t.domain).as_bytes()).await?;
    let mut reader = Reader::new(r);
    let features = read_features(&mut reader).await?;
    if t.tls.mode != TlsMode::StartTls || t.websocket.is_some() {
        return Ok(Opened {
            reader,
            writer: w,
            features,
            bindings,
        });
    }
    w.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await?;
    let answer = reader
        .until(|e| matches!(e.name(), "proceed" | "failure"))
        .await?;
    if answer.name() != "proceed" {
        return Err(format!("STARTTLS refused: {}", String::from(&answer)).into());
    }
    let (buf, _) = reader.inner.into_inner();
    let Io::Plain(tcp) = buf.into_inner().unsplit(w) else {
        unreachable!()
    };
    let tls = t.tls.handshake(&t.domain, tcp).await?;
    let bindings = want_bindings.then(|| Bindings::of(tls.ssl()));
    let (r, mut w) = tokio::io::split(Io::Tls(Box::new(tls)));
    w.write_all(header(&t.domain).as_bytes()).await?;
    let mut reader = Reader::new(r);
    let features = read_features(&mut reader).await?;
    Ok(Opened {
        reader,
        writer: w,
        features,
        bindings,
    })
}

/// What a server offers on a (secured) stream, before authentication.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Offer {
    /// The SASL mechanisms offered (RFC 6120 §6.4.1).
    pub mechanisms: Vec<String>,
    /// The channel binding types advertised (XEP-0440); empty without the advertisement.
    pub channel_bindings: Vec<String>,
    /// TLS version and cipher of the connection (`None` without TLS).
    pub tls_version: Option<&'static str>,
    pub tls_cipher: Option<String>,
}

fn offer_of(features: &Element) -> Offer {
    let texts = |name: &str, ns: &str, child: &str, attr: Option<&str>| -> Vec<String> {
        features
            .get_child(name, ns)
            .map(|m| {
                m.children()
                    .filter(|c| c.name() == child)
                    .filter_map(|c| match attr {
                        Some(a) => c.attr(a).map(str::to_string),
                        None => Some(c.text().trim().to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    Offer {
        mechanisms: texts("mechanisms", NS_SASL, "mechanism", None),
        channel_bindings: texts(
            "sasl-channel-binding",
            NS_SASL_CB,
            "channel-binding",
            Some("type"),
        ),
        tls_version: None,
        tls_cipher: None,
    }
}

/// Opens a stream as [`login`] would and reports what the server offers, without logging in.
pub async fn probe(t: &Target, source: Option<IpAddr>) -> Result<Offer, Error> {
    let mut opened = open(t, source, false).await?;
    let mut offer = offer_of(&opened.features);
    // The run's first handshake: a probe is its own run.
    if let Some(n) = t.tls.negotiated() {
        offer.tls_version = Some(n.version);
        offer.tls_cipher = Some(n.cipher);
    }
    let _ = opened.writer.write_all(b"</stream:stream>").await;
    Ok(offer)
}

/// In-band registration (XEP-0077); an existing account is fine.
pub async fn register(t: &Target, user: &str, source: Option<IpAddr>) -> Result<(), Error> {
    let Opened {
        mut reader,
        writer: mut w,
        ..
    } = open(t, source, false).await?;
    let q = format!(
        "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>{user}</username><password>{}</password></query></iq>",
        t.password
    );
    w.write_all(q.as_bytes()).await?;
    let reply = reader.until(|e| e.name() == "iq").await?;
    let ok = reply.attr("type") == Some("result") || String::from(&reply).contains("conflict");
    let _ = w.write_all(b"</stream:stream>").await;
    if !ok {
        return Err(format!("registering {user}: {}", String::from(&reply)).into());
    }
    Ok(())
}

/// The client's mechanisms. rsasl's default set has no -PLUS ones.
static MECHANISMS: &[rsasl::prelude::Mechanism] = {
    use rsasl::mechanisms::{plain, scram};
    &[
        scram::SCRAM_SHA512_PLUS,
        scram::SCRAM_SHA512,
        scram::SCRAM_SHA256_PLUS,
        scram::SCRAM_SHA256,
        scram::SCRAM_SHA1_PLUS,
        scram::SCRAM_SHA1,
        plain::PLAIN,
    ]
};

/// SASL with the target's mechanism (RFC 6120 §6), through rsasl's client side; for -PLUS,
/// bound to the TLS channel (RFC 5802 §6). A mechanism the server does not offer is an error
/// that says so, before anything is sent.
async fn authenticate(t: &Target, user: &str, opened: &mut Opened) -> Result<(), Error> {
    use rsasl::prelude::{Mechname, SASLClient, SASLConfig};
    let b64 = base64::engine::general_purpose::STANDARD;
    let offer = offer_of(&opened.features);
    if !offer.mechanisms.contains(&t.mechanism) {
        return Err(format!(
            "the server does not offer {} here (it offers {})",
            t.mechanism,
            offer.mechanisms.join(" ")
        )
        .into());
    }
    let binding = match &opened.bindings {
        Some(b) if t.mechanism.ends_with("-PLUS") => {
            let (kind, data) = b.choose(t.tls.cb, &offer.channel_bindings)?;
            t.tls.cb_used.get_or_init(|| kind.name());
            Some((kind.name(), data))
        }
        _ if t.mechanism.ends_with("-PLUS") => {
            return Err(format!("{} needs TLS", t.mechanism).into())
        }
        _ => None,
    };
    let config = SASLConfig::builder()
        .with_registry(rsasl::prelude::Registry::with_mechanisms(MECHANISMS))
        .with_callback(Credentials {
            user: user.to_string(),
            password: t.password.clone(),
            keys: t.scram_keys.clone(),
            cb: binding.as_ref().map(|(name, _)| *name),
        })?;
    let mech = Mechname::parse(t.mechanism.as_bytes())?;
    let mut session = SASLClient::with_cb(config, Binding(binding)).start_suggested(&[mech])?;
    if session.get_mechname().as_str() != t.mechanism {
        return Err(format!(
            "the SASL client picked {} for {}",
            session.get_mechname(),
            t.mechanism
        )
        .into());
    }
    let mut out = std::io::Cursor::new(Vec::new());
    session.step(None, &mut out)?;
    let initial = match out.get_ref().is_empty() {
        true => "=".to_string(),
        false => b64.encode(out.get_ref()),
    };
    let (reader, w) = (&mut opened.reader, &mut opened.writer);
    w.write_all(
        format!(
            "<auth xmlns='{NS_SASL}' mechanism='{}'>{initial}</auth>",
            t.mechanism
        )
        .as_bytes(),
    )
    .await?;
    loop {
        let e = reader
            .until(|e| matches!(e.name(), "challenge" | "success" | "failure"))
            .await?;
        match e.name() {
            "challenge" => {
                let data = b64.decode(e.text().trim())?;
                let mut out = std::io::Cursor::new(Vec::new());
                session.step(Some(&data), &mut out)?;
                let resp = format!(
                    "<response xmlns='{NS_SASL}'>{}</response>",
                    b64.encode(out.get_ref())
                );
                w.write_all(resp.as_bytes()).await?;
            }
            "success" => return Ok(()),
            _ => {
                return Err(format!("authentication of {user} failed: {}", String::from(&e)).into())
            }
        }
    }
}

/// Connect, authenticate, bind. The caller sends presence and rosters as it needs.
pub async fn login(
    t: &Target,
    user: &str,
    resource: &str,
    source: Option<IpAddr>,
) -> Result<Session, Error> {
    let mut opened = open(t, source, t.mechanism.ends_with("-PLUS")).await?;
    authenticate(t, user, &mut opened).await?;
    let Opened {
        reader,
        writer: mut w,
        ..
    } = opened;
    let mut reader = reader.restart();
    w.write_all(header(&t.domain).as_bytes()).await?;
    read_features(&mut reader).await?;
    w.write_all(format!("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>").as_bytes()).await?;
    let b = reader
        .until(|e| e.name() == "iq" && e.attr("id") == Some("bind"))
        .await?;
    if b.attr("type") != Some("result") {
        return Err(format!("binding failed: {}", String::from(&b)).into());
    }
    // Some servers still want the RFC 3921 session iq.
    w.write_all(
        b"<iq type='set' id='sess'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
    )
    .await?;
    reader
        .until(|e| e.name() == "iq" && e.attr("id") == Some("sess"))
        .await?;
    Ok(Session { reader, writer: w })
}

impl Session {
    pub async fn send(&mut self, xml: &str) -> Result<(), Error> {
        self.writer.write_all(xml.as_bytes()).await?;
        Ok(())
    }

    /// Sends an iq and waits for its reply, skipping anything else.
    pub async fn iq(&mut self, id: &str, type_: &str, payload: &str) -> Result<Element, Error> {
        self.send(&format!("<iq type='{type_}' id='{id}'>{payload}</iq>"))
            .await?;
        self.reader
            .until(|e| e.name() == "iq" && e.attr("id") == Some(id))
            .await
    }

    /// Sends an iq and reads its reply as raw bytes, timing from the send to the reply's last
    /// byte, so that what is measured is the server and not this client's XML parser. Only for
    /// a quiet session (nothing else may arrive meanwhile). The reply is parsed after the
    /// clock stops.
    pub async fn iq_timed(
        &mut self,
        id: &str,
        type_: &str,
        payload: &str,
    ) -> Result<(std::time::Duration, Element), Error> {
        use tokio::io::AsyncBufReadExt;
        let t = std::time::Instant::now();
        self.send(&format!("<iq type='{type_}' id='{id}'>{payload}</iq>"))
            .await?;
        let mut raw: Vec<u8> = Vec::new();
        let buf = self.reader.inner.inner_mut();
        loop {
            let chunk = buf.fill_buf().await?;
            if chunk.is_empty() {
                return Err("stream closed".into());
            }
            let n = chunk.len();
            raw.extend_from_slice(chunk);
            buf.consume(n);
            // Cheap test first; parse only when the bytes could end the reply.
            if reply_complete(&raw) {
                let took = t.elapsed();
                if let Some(reply) = find_reply(&raw, id)? {
                    return Ok((took, reply));
                }
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.writer.write_all(b"</stream:stream>").await;
        let _ = self.writer.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::ssl::{Ssl, SslAcceptor};
    use openssl::x509::{X509Name, X509};

    /// A self-signed certificate for localhost on `curve`, signed with `md`.
    fn certificate(curve: Nid, md: MessageDigest) -> (X509, PKey<Private>) {
        let key =
            PKey::from_ec_key(EcKey::generate(&EcGroup::from_curve_name(curve).unwrap()).unwrap())
                .unwrap();
        let mut name = X509Name::builder().unwrap();
        name.append_entry_by_text("CN", "localhost").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, md).unwrap();
        (b.build(), key)
    }

    /// One handshake over loopback; the client's bindings, and the server's side of them:
    /// its exporter output, its certificate and the client's Finished as it received it.
    async fn handshake(
        versions: TlsVersions,
        curve: Nid,
        md: MessageDigest,
    ) -> (Bindings, Vec<u8>, X509, Vec<u8>) {
        let (cert, key) = certificate(curve, md);
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
        acceptor.set_certificate(&cert).unwrap();
        acceptor.set_private_key(&key).unwrap();
        let acceptor = acceptor.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let ssl = Ssl::new(acceptor.context()).unwrap();
            let mut s = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
            Pin::new(&mut s).accept().await.unwrap();
            let mut exporter = vec![0u8; 32];
            s.ssl()
                .export_keying_material(&mut exporter, "EXPORTER-Channel-Binding", None)
                .unwrap();
            let mut finished = [0u8; 64];
            let n = s.ssl().peer_finished(&mut finished);
            (exporter, finished[..n].to_vec())
        });
        let tls = Tls::new(TlsMode::Direct, versions, CbType::Auto).unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let client = tls.handshake("localhost", tcp).await.unwrap();
        let bindings = Bindings::of(client.ssl());
        let (exporter, finished) = server.await.unwrap();
        (bindings, exporter, cert, finished)
    }

    #[tokio::test]
    async fn tls13_bindings_match_the_servers() {
        let (b, exporter, cert, _) = handshake(
            TlsVersions::Only13,
            Nid::X9_62_PRIME256V1,
            MessageDigest::sha256(),
        )
        .await;
        assert!(b.tls13);
        assert_eq!(b.exporter.as_deref(), Some(&exporter[..]));
        let (kind, data) = b.choose(CbType::Auto, &[]).unwrap();
        assert_eq!((kind, data), (CbType::TlsExporter, exporter));
        // RFC 5929 §4.1: the certificate is signed with SHA-256, so its SHA-256 hash.
        let hash = cert.digest(MessageDigest::sha256()).unwrap().to_vec();
        assert_eq!(b.server_end_point.as_deref(), Some(&hash[..]));
        // An advertisement (XEP-0440) decides for auto; tls-unique is never chosen over 1.3.
        let ad = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let chosen = b.choose(CbType::Auto, &ad(&["tls-server-end-point"]));
        assert_eq!(chosen.unwrap().0, CbType::TlsServerEndPoint);
        assert!(b.choose(CbType::Auto, &ad(&["tls-unique"])).is_err());
    }

    #[tokio::test]
    async fn server_end_point_uses_the_certificates_own_hash() {
        let (b, _, cert, _) =
            handshake(TlsVersions::Any, Nid::SECP384R1, MessageDigest::sha384()).await;
        let hash = cert.digest(MessageDigest::sha384()).unwrap().to_vec();
        assert_eq!(hash.len(), 48);
        assert_eq!(b.server_end_point.as_deref(), Some(&hash[..]));
    }

    #[tokio::test]
    async fn tls12_unique_is_the_clients_finished() {
        let (b, _, _, finished) = handshake(
            TlsVersions::Only12,
            Nid::X9_62_PRIME256V1,
            MessageDigest::sha256(),
        )
        .await;
        assert!(!b.tls13);
        assert!(!finished.is_empty());
        assert_eq!(b.unique.as_deref(), Some(&finished[..]));
        assert_eq!(b.choose(CbType::Auto, &[]).unwrap().0, CbType::TlsUnique);
    }

    #[test]
    fn scram_keys_cover_plus_and_sha512() {
        let keys = ScramKeys::default();
        let a = keys.salted("u", "SCRAM-SHA-256", "pw", b"salt", 2);
        let b = keys.salted("u", "SCRAM-SHA-256-PLUS", "pw", b"salt", 2);
        assert_eq!(a, b);
        assert_eq!(keys.0.lock().unwrap().len(), 1);
        assert_eq!(
            keys.salted("u", "SCRAM-SHA-512-PLUS", "pw", b"salt", 2)
                .len(),
            64
        );
        assert_eq!(
            keys.salted("u", "SCRAM-SHA-1-PLUS", "pw", b"salt", 2).len(),
            20
        );
    }
}
