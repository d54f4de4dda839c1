//! A minimal XMPP client: TCP (optionally STARTTLS), SASL (PLAIN, SCRAM), bind, and element-level I/O.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use base64::Engine as _;
use minidom::Element;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};

pub use crate::Error;

pub enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_native_tls::TlsStream<TcpStream>>),
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
    pub starttls: bool,
    pub password: String,
    /// SASL mechanism: PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256.
    pub mechanism: String,
    /// XMPP over WebSocket (RFC 7395) at this HTTP path of `addr` instead of TCP c2s.
    pub websocket: Option<String>,
    /// SCRAM salted passwords already derived, shared by every login of a run.
    pub scram_keys: ScramKeys,
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
        let hash = if mechanism.starts_with("SCRAM-SHA-256") {
            "sha-256"
        } else {
            "sha-1"
        };
        let id = (user.to_string(), hash, salt.to_vec(), i);
        if let Some(k) = self.0.lock().unwrap().get(&id) {
            return k.clone();
        }
        let key = if hash == "sha-256" {
            pbkdf2::pbkdf2_hmac_array::<sha2::Sha256, 32>(password.as_bytes(), salt, i).to_vec()
        } else {
            pbkdf2::pbkdf2_hmac_array::<sha1::Sha1, 20>(password.as_bytes(), salt, i).to_vec()
        };
        self.0.lock().unwrap().insert(id, key.clone());
        key
    }
}

/// rsasl's client callback: the credentials, and the salted password from [`ScramKeys`].
struct Credentials {
    user: String,
    password: String,
    keys: ScramKeys,
}

impl rsasl::callback::SessionCallback for Credentials {
    fn callback(
        &self,
        session: &rsasl::callback::SessionData,
        context: &rsasl::callback::Context,
        request: &mut rsasl::callback::Request<'_>,
    ) -> Result<(), rsasl::prelude::SessionError> {
        use rsasl::mechanisms::scram::properties::{Iterations, Salt, SaltedPassword};
        use rsasl::property::{AuthId, Password};
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

async fn features(reader: &mut Reader) -> Result<Element, Error> {
    reader.until(|e| e.name() == "features").await
}

/// Opens a stream, optionally STARTTLS, and returns the features of the (secured) stream.
async fn open(t: &Target, source: Option<IpAddr>) -> Result<(Reader, WriteHalf<Io>), Error> {
    let stream = tcp(t.addr, source).await?;
    let io = match &t.websocket {
        Some(path) => Io::Ws(crate::ws::connect(stream, t.addr, path).await?),
        None => Io::Plain(stream),
    };
    let (r, mut w) = tokio::io::split(io);
    w.write_all(header(&t.domain).as_bytes()).await?;
    let mut reader = Reader::new(r);
    features(&mut reader).await?;
    if !t.starttls || t.websocket.is_some() {
        return Ok((reader, w));
    }
    w.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await?;
    reader.until(|e| e.name() == "proceed").await?;
    let (buf, _) = reader.inner.into_inner();
    let Io::Plain(tcp) = buf.into_inner().unsplit(w) else {
        unreachable!()
    };
    let connector: tokio_native_tls::TlsConnector = native_tls::TlsConnector::builder()
        .danger_accept_invalid_certs(true)
        .danger_accept_invalid_hostnames(true)
        .build()?
        .into();
    let tls = connector.connect(&t.domain, tcp).await?;
    let (r, mut w) = tokio::io::split(Io::Tls(Box::new(tls)));
    w.write_all(header(&t.domain).as_bytes()).await?;
    let mut reader = Reader::new(r);
    features(&mut reader).await?;
    Ok((reader, w))
}

/// In-band registration (XEP-0077); an existing account is fine.
pub async fn register(t: &Target, user: &str, source: Option<IpAddr>) -> Result<(), Error> {
    let (mut reader, mut w) = open(t, source).await?;
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

/// SASL with the target's mechanism (RFC 6120 §6), through rsasl's client side.
async fn authenticate(
    t: &Target,
    user: &str,
    reader: &mut Reader,
    w: &mut WriteHalf<Io>,
) -> Result<(), Error> {
    use rsasl::prelude::{Mechname, SASLClient, SASLConfig};
    let b64 = base64::engine::general_purpose::STANDARD;
    let config = SASLConfig::builder()
        .with_default_mechanisms()
        .with_callback(Credentials {
            user: user.to_string(),
            password: t.password.clone(),
            keys: t.scram_keys.clone(),
        })?;
    let mech = Mechname::parse(t.mechanism.as_bytes())?;
    let mut session = SASLClient::new(config).start_suggested(&[mech])?;
    let mut out = std::io::Cursor::new(Vec::new());
    session.step(None, &mut out)?;
    let initial = match out.get_ref().is_empty() {
        true => "=".to_string(),
        false => b64.encode(out.get_ref()),
    };
    w.write_all(
        format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='{}'>{initial}</auth>",
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
                    "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</response>",
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
    let (mut reader, mut w) = open(t, source).await?;
    authenticate(t, user, &mut reader, &mut w).await?;
    let mut reader = reader.restart();
    w.write_all(header(&t.domain).as_bytes()).await?;
    features(&mut reader).await?;
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
