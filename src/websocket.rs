//! XMPP over WebSocket (RFC 7395), served by the same link code as TCP c2s.
//!
//! A WebSocket client sends one complete element per text message, opens and restarts its
//! stream with `<open/>` and ends it with `<close/>` (framing namespace
//! `urn:ietf:params:xml:ns:xmpp-framing`). This module translates that framing to and from the
//! byte stream a TCP client would have sent, at one end of an in-memory pipe; at the other end
//! the ordinary link task runs the same negotiation (SASL, bind), limits and actors as on TCP.
//!
//! - inbound: `<open .../>` becomes a `<stream:stream ...>` header, `<close/>` the stream
//!   footer, and every other message passes through unchanged;
//! - outbound: the link's byte stream is cut at the boundaries of top-level elements; the
//!   header becomes `<open/>`, the footer `<close/>`, and each element one message, carrying
//!   the namespace declarations it inherited from the stream header (§3.3.3: each message is a
//!   self-contained XML document).

use std::net::SocketAddr;
use std::sync::Arc;

use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Session};
use cordial_actors::ns::JABBER_CLIENT as NS_CLIENT;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use xmpp_parsers::ns::STREAM as NS_STREAM;

use crate::link::{self, LinkContext};

/// The RFC 7395 framing namespace.
pub const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// Bytes the pipe buffers in each direction.
const PIPE_BUFFER: usize = 64 * 1024;

/// One attribute of a start tag as written: its name and its raw (still escaped) value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attr<'a> {
    name: &'a str,
    value: &'a str,
}

/// A parsed start tag: `<name attrs...>` or `<name attrs.../>`.
#[derive(Debug)]
struct StartTag<'a> {
    attrs: Vec<Attr<'a>>,
}

impl<'a> StartTag<'a> {
    fn attr(&self, name: &str) -> Option<&'a str> {
        self.attrs.iter().find(|a| a.name == name).map(|a| a.value)
    }
}

/// Parses `<name a='v' b="w"/>` or `<name ...>` (the whole tag, `<` to `>`). `None` if it is
/// not a well-formed start tag.
fn parse_start_tag(tag: &str) -> Option<StartTag<'_>> {
    let inner = tag.strip_prefix('<')?.strip_suffix('>')?;
    let inner = inner.strip_suffix('/').unwrap_or(inner);
    let name_end = inner
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    if name.is_empty() {
        return None;
    }
    let mut rest = inner[name_end..].trim_start();
    let mut attrs = Vec::new();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let attr_name = rest[..eq].trim_end();
        let after = rest[eq + 1..].trim_start();
        let quote = after.chars().next()?;
        if quote != '\'' && quote != '"' {
            return None;
        }
        let close = after[1..].find(quote)? + 1;
        attrs.push(Attr {
            name: attr_name,
            value: &after[1..close],
        });
        rest = after[close + 1..].trim_start();
    }
    Some(StartTag { attrs })
}

fn push_attr(out: &mut String, name: &str, value: &str) {
    // Values are copied as written, so they are already escaped; only the quote must not
    // clash.
    let q = if value.contains('\'') { '"' } else { '\'' };
    out.push(' ');
    out.push_str(name);
    out.push('=');
    out.push(q);
    out.push_str(value);
    out.push(q);
}

/// What an inbound WebSocket message becomes on the pipe.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Bytes for the link to read.
    Bytes(String),
    /// The message was the client's `<close/>`: the stream footer, after which the client
    /// sends nothing more.
    Close(String),
}

/// Translates one text message from the client.
pub fn inbound(message: &str) -> Inbound {
    let mut text = message.trim_start();
    // An XML declaration is allowed before each message's element; the link never needs it.
    if text.starts_with("<?xml") {
        if let Some(end) = text.find("?>") {
            text = text[end + 2..].trim_start();
        }
    }
    let is = |name: &str| {
        text.strip_prefix('<')
            .and_then(|t| t.strip_prefix(name))
            .is_some_and(|t| {
                t.starts_with(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            })
    };
    if is("open") {
        let tag_end = text.find('>').map_or(text.len(), |i| i + 1);
        if let Some(tag) = parse_start_tag(text[..tag_end].trim_end()) {
            // The header the link expects. A wrong framing namespace becomes a wrong stream
            // namespace, which the link answers with <invalid-namespace/>.
            let ns = tag.attr("xmlns").unwrap_or("");
            let stream_ns = if ns == NS_FRAMING { NS_STREAM } else { ns };
            let mut header = String::from("<stream:stream");
            push_attr(&mut header, "xmlns", NS_CLIENT);
            push_attr(&mut header, "xmlns:stream", stream_ns);
            for a in tag.attrs.iter().filter(|a| a.name != "xmlns") {
                push_attr(&mut header, a.name, a.value);
            }
            header.push('>');
            return Inbound::Bytes(header);
        }
    }
    if is("close") {
        return Inbound::Close("</stream:stream>".to_string());
    }
    Inbound::Bytes(text.to_string())
}

/// Cuts the link's output into RFC 7395 messages.
#[derive(Default)]
pub struct Outbound {
    /// The end of a UTF-8 character split across two writes.
    partial: Vec<u8>,
    buf: String,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    /// Element nesting at `scanned`: 0 outside the stream, 1 between top-level elements.
    depth: usize,
    /// Where the top-level element being scanned starts.
    element_start: Option<usize>,
}

/// The scanner needs more bytes.
struct Incomplete;

impl Outbound {
    /// Feeds bytes the link wrote; returns the complete messages they finish, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        // The link writes UTF-8; a character split across two writes waits for the rest.
        self.partial.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.partial) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                // Never produced by the link; drop the bad bytes rather than stall.
                log::warn!("invalid UTF-8 from the link at byte {}", e.valid_up_to());
                let bad = e.valid_up_to() + e.error_len().unwrap_or(1);
                let text = String::from_utf8_lossy(&self.partial[..bad]).into_owned();
                self.partial.drain(..bad);
                self.buf.push_str(&text);
                0
            }
        };
        if let Ok(text) = std::str::from_utf8(&self.partial[..valid]) {
            self.buf.push_str(text);
        }
        self.partial.drain(..valid);
        let mut messages = Vec::new();
        while let Ok(Some(m)) = self.step() {
            if !m.is_empty() {
                messages.push(m);
            }
        }
        let consumed = self.element_start.unwrap_or(self.scanned);
        self.buf.drain(..consumed);
        self.scanned -= consumed;
        if let Some(s) = self.element_start.as_mut() {
            *s = 0;
        }
        messages
    }

    /// Scans one construct. `Ok(Some(message))` when a message is complete (empty for
    /// something that produces none), `Ok(None)`/`Err(Incomplete)` when more bytes are needed.
    fn step(&mut self) -> Result<Option<String>, Incomplete> {
        let rest = &self.buf[self.scanned..];
        let Some(lt) = rest.find('<') else {
            // Text: whitespace keepalives between elements, or character data inside one.
            self.scanned = self.buf.len();
            return Ok(None);
        };
        let at = self.scanned + lt;
        let tail = &self.buf[at..];
        let (len, kind) = tag_extent(tail)?;
        let tag = &self.buf[at..at + len];
        self.scanned = at + len;
        let message = match kind {
            TagKind::Skip => String::new(),
            TagKind::End => {
                self.depth = self.depth.saturating_sub(1);
                match self.depth {
                    0 => format!("<close xmlns='{NS_FRAMING}'/>"),
                    1 => self.take_element(),
                    _ => String::new(),
                }
            }
            TagKind::Start | TagKind::Empty if self.depth == 0 || is_stream_header(tag) => {
                // The stream header; after a restart (SASL) a new one comes while the old
                // stream is still open, and starts a new stream.
                let mut open = String::from("<open");
                push_attr(&mut open, "xmlns", NS_FRAMING);
                if let Some(t) = parse_start_tag(tag) {
                    for a in t.attrs.iter().filter(|a| !a.name.starts_with("xmlns")) {
                        push_attr(&mut open, a.name, a.value);
                    }
                }
                open.push_str("/>");
                self.depth = usize::from(kind == TagKind::Start);
                self.element_start = None;
                open
            }
            TagKind::Start => {
                if self.depth == 1 {
                    self.element_start = Some(at);
                }
                self.depth += 1;
                String::new()
            }
            TagKind::Empty => {
                if self.depth == 1 {
                    self.element_start = Some(at);
                    self.take_element()
                } else {
                    String::new()
                }
            }
        };
        Ok(Some(message))
    }

    /// The top-level element from `element_start` to `scanned`, with the namespace
    /// declarations its start tag inherited from the stream header.
    fn take_element(&mut self) -> String {
        let start = self.element_start.take().unwrap_or(self.scanned);
        let element = &self.buf[start..self.scanned];
        let name_end = element[1..]
            .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .map_or(element.len(), |i| i + 1);
        let name = &element[1..name_end];
        let first_tag_end = element.find('>').unwrap_or(element.len());
        let first_tag = &element[..first_tag_end];
        let mut decl = String::new();
        if let Some(prefix) = name.split_once(':').map(|(p, _)| p) {
            if prefix == "stream" && !first_tag.contains("xmlns:stream=") {
                push_attr(&mut decl, "xmlns:stream", NS_STREAM);
            }
        } else if !first_tag.contains(" xmlns=") {
            push_attr(&mut decl, "xmlns", NS_CLIENT);
        }
        let mut out = String::with_capacity(element.len() + decl.len());
        out.push_str(&element[..name_end]);
        out.push_str(&decl);
        out.push_str(&element[name_end..]);
        out
    }
}

/// Whether a start tag is a stream header (what the link writes: `<stream:stream ...>`).
fn is_stream_header(tag: &str) -> bool {
    tag.strip_prefix("<stream:stream")
        .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/'))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TagKind {
    Start,
    End,
    Empty,
    /// XML declaration, processing instruction, comment, CDATA: no message of its own.
    Skip,
}

/// The length of the tag at the start of `s` (which starts with `<`) and its kind.
fn tag_extent(s: &str) -> Result<(usize, TagKind), Incomplete> {
    let find = |pat: &str| s.find(pat).ok_or(Incomplete);
    if s.starts_with("<?") {
        return Ok((find("?>")? + 2, TagKind::Skip));
    }
    if s.starts_with("<!--") {
        return Ok((find("-->")? + 3, TagKind::Skip));
    }
    if s.starts_with("<![CDATA[") {
        return Ok((find("]]>")? + 3, TagKind::Skip));
    }
    if s.starts_with("</") {
        return Ok((find(">")? + 1, TagKind::End));
    }
    // A start tag: '>' outside quoted attribute values ends it.
    let mut quote = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => {
                let empty = s[..i].ends_with('/');
                return Ok((
                    i + 1,
                    if empty {
                        TagKind::Empty
                    } else {
                        TagKind::Start
                    },
                ));
            }
            _ => {}
        }
    }
    Err(Incomplete)
}

/// Runs one WebSocket connection: the link task on one of the server's arbiters, and the
/// translation between the WebSocket and the link's pipe here.
pub async fn bridge(
    ctx: Arc<LinkContext>,
    arbiter: Option<actix::ArbiterHandle>,
    peer: SocketAddr,
    secured: bool,
    session: Session,
    messages: AggregatedMessageStream,
    slot: crate::link::connections::Slot,
) {
    let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
    let link = async move {
        let _slot = slot;
        link::serve_pipe(theirs, peer, ctx, secured).await;
        log::debug!("{peer}: WebSocket stream ended");
    };
    match arbiter {
        Some(a) => {
            a.spawn(link);
        }
        None => {
            actix_rt::spawn(link);
        }
    }
    let (read, write) = tokio::io::split(ours);
    // Two loops, so that a link that is not reading (its rate limit) never stops its output
    // from reaching the client, and the other way round.
    let from_client = client_to_link(messages, write, session.clone());
    let to_client = link_to_client(read, session.clone());
    tokio::pin!(from_client, to_client);
    tokio::select! {
        ended = &mut from_client => {
            if ended == ClientEnded::Oversized {
                // The message never reached the link, which cannot say why the stream ends:
                // the stream error is ours to send (RFC 6120 §4.9.3.17).
                log::info!("{peer}: WebSocket message over the size limit; closing");
                let mut s = session.clone();
                let _ = s.text(format!(
                    "<stream:error xmlns:stream='{NS_STREAM}'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
                     <text xmlns='urn:ietf:params:xml:ns:xmpp-streams' xml:lang='en'>The stanza exceeds the server's size limit</text></stream:error>"
                )).await;
                let _ = s.text(format!("<close xmlns='{NS_FRAMING}'/>")).await;
            } else {
                // The client closed or is gone: let the link finish writing its answer (a
                // footer to our <close/>), then close.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(2), &mut to_client).await;
            }
        }
        _ = &mut to_client => {}
    }
    let _ = session
        .close(Some(CloseReason::from(CloseCode::Normal)))
        .await;
}

/// How the client's side of a WebSocket ended.
#[derive(Debug, PartialEq, Eq)]
enum ClientEnded {
    Closed,
    /// A message larger than the configured stanza limit.
    Oversized,
}

async fn client_to_link(
    mut messages: AggregatedMessageStream,
    mut pipe: tokio::io::WriteHalf<DuplexStream>,
    mut session: Session,
) -> ClientEnded {
    let mut ended = ClientEnded::Closed;
    while let Some(msg) = messages.next().await {
        if let Ok(AggregatedMessage::Text(text)) = &msg {
            log::trace!("ws in: {text}");
        }
        match msg {
            Ok(AggregatedMessage::Text(text)) => match inbound(&text) {
                Inbound::Bytes(b) => {
                    if pipe.write_all(b.as_bytes()).await.is_err() {
                        break;
                    }
                }
                Inbound::Close(b) => {
                    let _ = pipe.write_all(b.as_bytes()).await;
                    break;
                }
            },
            Ok(AggregatedMessage::Binary(_)) => {
                // RFC 7395 §3.2: XMPP travels in text frames only.
                log::debug!("WebSocket client sent a binary message; closing");
                let _ = session
                    .clone()
                    .close(Some(CloseReason {
                        code: CloseCode::Unsupported,
                        description: Some("XMPP uses text messages".into()),
                    }))
                    .await;
                break;
            }
            Ok(AggregatedMessage::Ping(p)) => {
                if session.pong(&p).await.is_err() {
                    break;
                }
            }
            Ok(AggregatedMessage::Pong(_)) => {}
            Err(actix_ws::ProtocolError::Overflow) => {
                ended = ClientEnded::Oversized;
                break;
            }
            Ok(AggregatedMessage::Close(_)) | Err(_) => break,
        }
    }
    let _ = pipe.shutdown().await;
    ended
}

async fn link_to_client(mut pipe: tokio::io::ReadHalf<DuplexStream>, mut session: Session) {
    let mut out = Outbound::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for m in out.push(&buf[..n]) {
            log::trace!("ws out: {m}");
            if session.text(m).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_becomes_a_stream_header() {
        let Inbound::Bytes(h) = inbound(
            "<open xmlns=\"urn:ietf:params:xml:ns:xmpp-framing\" to=\"localhost\" version=\"1.0\"/>",
        ) else {
            panic!()
        };
        assert_eq!(
            h,
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
        );
    }

    #[test]
    fn whitespace_around_open_is_dropped() {
        let open =
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>";
        assert_eq!(inbound(&format!("\r\n {open}\n")), inbound(open));
    }

    #[test]
    fn open_in_the_wrong_namespace_keeps_it_wrong() {
        let Inbound::Bytes(h) = inbound("<open xmlns='urn:wrong' to='localhost' version='1.0'/>")
        else {
            panic!()
        };
        assert!(h.contains("xmlns:stream='urn:wrong'"), "{h}");
    }

    #[test]
    fn close_and_stanzas() {
        assert_eq!(
            inbound("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
            Inbound::Close("</stream:stream>".into())
        );
        let m = "<message xmlns='jabber:client' to='a@b'><body>hi</body></message>";
        assert_eq!(inbound(m), Inbound::Bytes(m.into()));
        assert_eq!(
            inbound(&format!("<?xml version='1.0'?>{m}")),
            Inbound::Bytes(m.into())
        );
        // Not the framing's elements, though they start alike.
        assert_eq!(inbound("<opener/>"), Inbound::Bytes("<opener/>".into()));
    }

    #[test]
    fn outbound_is_cut_into_self_contained_messages() {
        let mut out = Outbound::default();
        let stream = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
            xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='abc' version='1.0' xml:lang='en'>\
            <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>\n\
            <message from='a@localhost/r' to='b@localhost' type='chat'><body>1 &lt; 2 &amp; \"q\" 'a&gt;b'</body></message>\
            <iq type='result' id='x'/>\
            <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></stream:stream>";
        // Fed a byte at a time, the result is the same as at once.
        let whole = Outbound::default().push(stream.as_bytes());
        let mut bytewise = Vec::new();
        for b in stream.as_bytes() {
            bytewise.extend(out.push(std::slice::from_ref(b)));
        }
        assert_eq!(whole, bytewise);
        // A character split across two writes.
        let mut split = Outbound::default();
        split.push(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
        let msg = "<message><body>caf\u{e9} \u{1f600}</body></message>";
        let (a, b) = msg.as_bytes().split_at(msg.find('\u{e9}').unwrap() + 1);
        assert!(split.push(a).is_empty());
        assert_eq!(
            split.push(b),
            vec![msg.replacen("<message", "<message xmlns='jabber:client'", 1)]
        );
        assert_eq!(
            whole,
            vec![
                "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='localhost' id='abc' version='1.0' xml:lang='en'/>".to_string(),
                "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>".into(),
                "<message xmlns='jabber:client' from='a@localhost/r' to='b@localhost' type='chat'><body>1 &lt; 2 &amp; \"q\" 'a&gt;b'</body></message>".into(),
                "<iq xmlns='jabber:client' type='result' id='x'/>".into(),
                "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>".into(),
                "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>".into(),
            ]
        );
        // Every message parses on its own.
        for m in &whole {
            m.parse::<minidom::Element>()
                .unwrap_or_else(|e| panic!("{m}: {e}"));
        }
    }

    #[test]
    fn a_restart_opens_a_new_stream() {
        let mut out = Outbound::default();
        let header = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='1'>";
        assert_eq!(out.push(header.as_bytes()).len(), 1);
        out.push(b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
        let again = out.push(header.replace("'1'", "'2'").as_bytes());
        assert_eq!(
            again,
            vec!["<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='2'/>".to_string()]
        );
        assert_eq!(
            out.push(b"<iq type='result' id='b'/>"),
            vec!["<iq xmlns='jabber:client' type='result' id='b'/>".to_string()]
        );
    }

    #[test]
    fn attribute_values_with_angle_brackets_do_not_end_a_tag() {
        let mut out = Outbound::default();
        out.push(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
        let got = out.push(b"<message id='a>b'><body>x</body></message>");
        assert_eq!(
            got,
            vec!["<message xmlns='jabber:client' id='a>b'><body>x</body></message>".to_string()]
        );
    }
}
