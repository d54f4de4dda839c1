//! XMPP over WebSocket (RFC 7395) for the load generator, as a byte stream.
//!
//! The scenarios write and read the same bytes as on TCP; this module sits between them and a
//! WebSocket: what they write is cut at top-level element boundaries into one message per
//! element (the stream header becomes `<open/>`, the footer `<close/>`), and each message the
//! server sends is passed on as bytes (`<open/>` becomes a stream header, `<close/>` a footer),
//! so the TCP reader above sees an ordinary stream. Two tasks per connection do the moving.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::Error;

const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const HEADER_FOR_READER: &str = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/// Connects to `ws://addr{path}` with the `xmpp` sub-protocol over `tcp` and returns the
/// byte-stream end.
pub async fn connect(
    tcp: tokio::net::TcpStream,
    addr: SocketAddr,
    path: &str,
) -> Result<DuplexStream, Error> {
    let mut req = format!("ws://{addr}{path}").into_client_request()?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "xmpp".parse()?);
    let (ws, _) = tokio_tungstenite::client_async(req, tcp).await?;
    let (ours, theirs) = tokio::io::duplex(256 * 1024);
    let (mut from_bench, mut to_bench) = tokio::io::split(theirs);
    let (mut sink, mut stream) = ws.split();
    tokio::spawn(async move {
        let mut cutter = Cutter::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from_bench.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for unit in cutter.push(&buf[..n]) {
                if sink.feed(Message::text(unit)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let Message::Text(text) = msg else {
                continue;
            };
            let text = text.as_str();
            let bytes = if text.starts_with("<open") {
                HEADER_FOR_READER
            } else if text.starts_with("<close") {
                "</stream:stream>"
            } else {
                text
            };
            if to_bench.write_all(bytes.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    Ok(ours)
}

/// Cuts the bytes the scenarios write into RFC 7395 messages.
#[derive(Default)]
struct Cutter {
    pending: Vec<u8>,
}

impl Cutter {
    /// The complete messages `more` finishes; the rest waits for the next write.
    fn push(&mut self, more: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(more);
        let mut out = Vec::new();
        let mut start = 0;
        let mut depth = 0usize;
        let mut i = 0;
        let p = &self.pending;
        while i < p.len() {
            if p[i] != b'<' {
                i += 1;
                continue;
            }
            let Some(end) = tag_end(p, i) else {
                break;
            };
            let tag = &p[i..=end];
            i = end + 1;
            if tag.starts_with(b"<?") {
                start = i;
            } else if tag.starts_with(b"<stream:stream") {
                out.push(open_message(tag));
                start = i;
            } else if tag.starts_with(b"</stream:stream") {
                out.push(format!("<close xmlns='{FRAMING}'/>"));
                start = i;
            } else if tag.starts_with(b"</") {
                depth = depth.saturating_sub(1);
            } else if !tag.ends_with(b"/>") {
                depth += 1;
            }
            if depth == 0 && start < i {
                let unit = String::from_utf8_lossy(&p[start..i]).trim().to_string();
                if !unit.is_empty() {
                    out.push(unit);
                }
                start = i;
            }
        }
        self.pending.drain(..start);
        out
    }
}

/// The index of the `>` that ends the tag starting at `from`, skipping quoted values.
fn tag_end(p: &[u8], from: usize) -> Option<usize> {
    let mut quote = None;
    for (j, &b) in p.iter().enumerate().skip(from + 1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'>') => return Some(j),
            _ => {}
        }
    }
    None
}

/// `<open/>` with the header's `to` and `version`.
fn open_message(header: &[u8]) -> String {
    let text = String::from_utf8_lossy(header);
    let attr = |name: &str| {
        let at = text.find(&format!(" {name}="))? + name.len() + 2;
        let q = text[at..].chars().next()?;
        let rest = &text[at + 1..];
        Some(rest[..rest.find(q)?].to_string())
    };
    let mut open = format!("<open xmlns='{FRAMING}'");
    if let Some(to) = attr("to") {
        open.push_str(&format!(" to='{to}'"));
    }
    open.push_str(&format!(
        " version='{}'/>",
        attr("version").unwrap_or_else(|| "1.0".into())
    ));
    open
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_cut_into_one_message_per_element() {
        let mut c = Cutter::default();
        let all = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>\
                   <iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>\
                   <message to='a@b' id='x>y'><body>hi</body></message><presence/></stream:stream>";
        let whole = c.push(all.as_bytes());
        assert_eq!(
            whole,
            [
                format!("<open xmlns='{FRAMING}' to='localhost' version='1.0'/>"),
                "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>".into(),
                "<message to='a@b' id='x>y'><body>hi</body></message>".into(),
                "<presence/>".into(),
                format!("<close xmlns='{FRAMING}'/>"),
            ]
        );
        let mut c = Cutter::default();
        let mut bytewise = Vec::new();
        for b in all.as_bytes() {
            bytewise.extend(c.push(std::slice::from_ref(b)));
        }
        assert_eq!(bytewise, whole);
    }
}
