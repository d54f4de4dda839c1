//! Stanzas from XML events, with limits.
//!
//! xmlstream hands us rxml events; [`Stanza`]'s builder turns them into a [`minidom::Element`]
//! iteratively (an explicit stack, so nesting costs O(1) per event, unlike a recursive builder)
//! and counts wire bytes and depth against the connection's [`LinkLimits`](super::framing::LinkLimits). Crossing a limit
//! trips the connection's flag so that the framing stops reading at once.

use minidom::Element;
use xso::exports::rxml;
use xso::{error::Error, error::FromEventsError, Context, FromEventsBuilder, FromXml};

use super::framing::{Limit, LIMITS};

/// The error text of a crossed limit, recognised by the link.
pub const LIMIT_CROSSED: &str = "stanza exceeds a configured limit";

/// One top-level element of the stream (a stanza or a negotiation element).
#[derive(Debug)]
pub struct Stanza(pub Element);

impl FromXml for Stanza {
    type Builder = StanzaBuilder;

    fn from_events(
        qname: rxml::QName,
        attrs: rxml::AttrMap,
        _ctx: &Context<'_>,
    ) -> Result<Self::Builder, FromEventsError> {
        let mut b = StanzaBuilder {
            stack: Vec::new(),
            bytes: 0,
        };
        b.open(qname, attrs, 0).map_err(FromEventsError::Invalid)?;
        Ok(b)
    }
}

pub struct StanzaBuilder {
    stack: Vec<Element>,
    bytes: usize,
}

fn limits() -> (usize, usize) {
    LIMITS
        .try_with(|l| (l.max_stanza_bytes, l.max_depth))
        .unwrap_or((256 * 1024, 64))
}

fn trip(limit: Limit) -> Error {
    let _ = LIMITS.try_with(|l| l.tripped.set(Some(limit)));
    Error::Other(LIMIT_CROSSED)
}

impl StanzaBuilder {
    fn count(&mut self, n: usize) -> Result<(), Error> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > limits().0 {
            return Err(trip(Limit::StanzaSize));
        }
        Ok(())
    }

    fn open(&mut self, qname: rxml::QName, attrs: rxml::AttrMap, wire: usize) -> Result<(), Error> {
        if self.stack.len() + 1 > limits().1 {
            return Err(trip(Limit::Depth));
        }
        let mut size = wire.max(qname.0.len() + qname.1.len());
        let mut builder = Element::builder(qname.1, qname.0);
        for ((ns, name), value) in attrs.into_iter() {
            size += ns.len() + name.len() + value.len();
            builder = builder.attr_ns(ns, name, value);
        }
        self.count(size)?;
        self.stack.push(builder.build());
        Ok(())
    }
}

impl FromEventsBuilder for StanzaBuilder {
    type Output = Stanza;

    fn feed(&mut self, ev: rxml::Event, _ctx: &Context<'_>) -> Result<Option<Stanza>, Error> {
        match ev {
            rxml::Event::XmlDeclaration(..) => Ok(None),
            rxml::Event::StartElement(m, qname, attrs) => {
                self.open(qname, attrs, m.len()).map(|()| None)
            }
            rxml::Event::Text(m, text) => {
                self.count(m.len().max(text.len()))?;
                if let Some(top) = self.stack.last_mut() {
                    top.append_text_node(text);
                }
                Ok(None)
            }
            rxml::Event::EndElement(m) => {
                self.count(m.len())?;
                let done = self
                    .stack
                    .pop()
                    .expect("an end event closes an open element");
                match self.stack.last_mut() {
                    Some(parent) => {
                        parent.append_child(done);
                        Ok(None)
                    }
                    None => Ok(Some(Stanza(done))),
                }
            }
        }
    }
}

/// How [`read_client_stream`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The input ended, or the peer closed the stream.
    Closed,
    /// The header was refused (what the link answers with a stream error).
    BadHeader,
    /// A limit was crossed: the link closes with `<policy-violation/>`.
    Limit(Limit),
    /// Not well-formed XML or not a valid stanza: the link closes with `<not-well-formed/>`.
    Invalid,
}

/// Reads a client stream from `input` the way a link does before negotiation (through a
/// [`Framing`](super::framing::Framing), tokio-xmpp's `xmlstream` with this module's stanza
/// builder under `limits`), answering the header and
/// features into nothing, and returns the top-level elements it read and how it ended. For
/// tests and fuzzing of the stream parser: it runs on a runtime of its own, so call it outside
/// any async context.
pub fn read_client_stream(
    input: &[u8],
    limits: super::framing::LinkLimits,
) -> (Vec<Element>, StreamEnd) {
    use super::framing::{Framing, Transport};
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio_xmpp::xmlstream::{self, ReadError, StreamHeader, Timeouts};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    rt.block_on(LIMITS.scope(limits, async move {
        // The whole input waits in the pipe, then its end; what we write (header, features)
        // fits in the slack and is never read (`peer` stays open until we return).
        let (mut peer, pipe) = tokio::io::duplex(input.len() + 64 * 1024);
        if peer.write_all(input).await.is_err() || peer.shutdown().await.is_err() {
            return (Vec::new(), StreamEnd::Closed);
        }
        let mut io = Framing::new(Transport::Pipe(pipe));
        io.expect_header();
        let timeouts = Timeouts {
            read_timeout: std::time::Duration::from_secs(3600),
            response_timeout: std::time::Duration::from_secs(3600),
        };
        let Ok(accepted) = xmlstream::accept_stream(&mut io, "jabber:client", timeouts).await
        else {
            let end = match LIMITS.with(|l| l.tripped.get()) {
                Some(limit) => StreamEnd::Limit(limit),
                None => StreamEnd::BadHeader,
            };
            return (Vec::new(), end);
        };
        let Ok(pending) = accepted.send_header(StreamHeader::default()).await else {
            return (Vec::new(), StreamEnd::Closed);
        };
        let features = xmpp_parsers::stream_features::StreamFeatures::default();
        let Ok(mut xs) = pending.send_features::<Stanza>(&features).await else {
            return (Vec::new(), StreamEnd::Closed);
        };
        let mut read = Vec::new();
        loop {
            match xs.next().await {
                Some(Ok(Stanza(el))) => read.push(el),
                Some(Err(ReadError::StreamFooterReceived)) | None => {
                    return (read, StreamEnd::Closed)
                }
                Some(Err(ReadError::SoftTimeout)) => continue,
                Some(Err(_)) => {
                    let end = match LIMITS.with(|l| l.tripped.get()) {
                        Some(limit) => StreamEnd::Limit(limit),
                        None => StreamEnd::Invalid,
                    };
                    return (read, end);
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::framing::LinkLimits;

    fn read(input: &str, max_bytes: usize, max_depth: usize) -> (Vec<Element>, StreamEnd) {
        read_client_stream(input.as_bytes(), LinkLimits::new(max_bytes, max_depth))
    }

    const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

    #[test]
    fn stanzas_are_read_until_the_footer() {
        let (els, end) = read(
            &format!(
                "{HEADER}<message to='a@b'><body>hi</body></message><presence/></stream:stream>"
            ),
            1 << 16,
            16,
        );
        assert_eq!(end, StreamEnd::Closed);
        assert_eq!(els.len(), 2);
        assert_eq!(
            els[0].get_child("body", "jabber:client").unwrap().text(),
            "hi"
        );
    }

    #[test]
    fn depth_size_and_bad_xml_each_end_the_stream() {
        let deep = format!("{HEADER}<message>{}", "<a>".repeat(20));
        assert_eq!(read(&deep, 1 << 16, 16).1, StreamEnd::Limit(Limit::Depth));
        let big = format!(
            "{HEADER}<message><body>{}</body></message>",
            "x".repeat(5000)
        );
        assert_eq!(read(&big, 4096, 16).1, StreamEnd::Limit(Limit::StanzaSize));
        let bad = format!("{HEADER}<message><body></message>");
        assert_eq!(read(&bad, 1 << 16, 16).1, StreamEnd::Invalid);
        assert_eq!(read("<nonsense/>", 1 << 16, 16).1, StreamEnd::BadHeader);
    }

    #[test]
    fn whitespace_before_the_header_is_skipped_up_to_its_limit() {
        use crate::link::framing::MAX_WHITESPACE_BEFORE_HEADER as MAX;
        let stream = |ws: &str| format!("{ws}{HEADER}<presence/></stream:stream>");
        let (els, end) = read(&stream(" \r\n\t\n"), 1 << 16, 16);
        assert_eq!((els.len(), end), (1, StreamEnd::Closed));
        let (els, end) = read(&stream(&"\n".repeat(MAX)), 1 << 16, 16);
        assert_eq!((els.len(), end), (1, StreamEnd::Closed));
        let (els, end) = read(&stream(&" ".repeat(MAX + 1)), 1 << 16, 16);
        assert_eq!(
            (els.len(), end),
            (0, StreamEnd::Limit(Limit::WhitespaceBeforeHeader))
        );
        // Anything else before the header is still refused.
        assert_eq!(read(&stream(" x"), 1 << 16, 16).1, StreamEnd::BadHeader);
    }
}
