//! How a stream ends: the closing handshake (RFC 6120 §4.4) and stream errors (§4.9).
//!
//! Every way a read can fail (a limit crossed, restricted or malformed XML, a bad stream
//! header, a silent or vanished peer) is mapped here, once, to the stream error it is answered
//! with; the rest of the link only says [`Stop`].

use cordial_actors::link::{StreamClose, StreamCondition};
use futures::SinkExt;
use minidom::Element;
use tokio_xmpp::xmlstream::ReadError;
use xmpp_parsers::stream_error::StreamError;

use super::framing::{Framing, LimitExceeded};
use super::parser::{Stanza, LIMIT_CROSSED};
use super::{ns, random_id, Xs};

/// Why reading stopped.
pub(super) enum Stop {
    /// The peer closed its stream with `</stream:stream>` (RFC 6120 §4.4).
    Footer,
    /// We must close with this stream error.
    Error(StreamClose),
    /// The connection is gone.
    Gone,
}

/// Stop with this stream error (RFC 6120 §4.9.3) and its text.
pub(super) fn close(condition: StreamCondition, text: &str) -> Stop {
    Stop::Error(StreamClose::new(condition, Some(text.to_string())))
}

/// What one item read from the stream asks of us.
pub(super) enum Inbound {
    Stanza(Element),
    /// The connection was silent for a while: check it with a ping (RFC 6120 §4.6.1; its
    /// answer resets the timer).
    Ping,
    Stop(Stop),
}

/// Maps every way a read can end to what we must do.
pub(super) fn inbound(item: Option<Result<Stanza, ReadError>>) -> Inbound {
    match item {
        Some(Ok(Stanza(el))) => Inbound::Stanza(el),
        Some(Err(ReadError::SoftTimeout)) => Inbound::Ping,
        Some(Err(ReadError::StreamFooterReceived)) => Inbound::Stop(Stop::Footer),
        Some(Err(ReadError::ParseError(e))) => {
            let limit = matches!(e, xso::error::Error::Other(m) if m == LIMIT_CROSSED);
            Inbound::Stop(if limit {
                close(
                    StreamCondition::PolicyViolation,
                    "The stanza exceeds the server's size or depth limit",
                )
            } else {
                close(StreamCondition::BadFormat, "Unprocessable element")
            })
        }
        Some(Err(ReadError::HardError(e))) => {
            Inbound::Stop(if e.kind() == std::io::ErrorKind::TimedOut {
                close(
                    StreamCondition::ConnectionTimeout,
                    "The connection was silent for too long",
                )
            } else {
                match xml_error_condition(&e) {
                    Some(c @ StreamCondition::PolicyViolation) => {
                        close(c, "The stanza exceeds the server's size or depth limit")
                    }
                    Some(c @ StreamCondition::RestrictedXml) => close(
                        c,
                        "Comments, processing instructions and DTDs are not allowed",
                    ),
                    Some(c) => close(c, "The XML is not well-formed"),
                    None => Stop::Gone,
                }
            })
        }
        None => Inbound::Stop(Stop::Gone),
    }
}

/// Maps a failure to read the opening stream header to the stream error to send, or `None`
/// when the peer is simply gone.
///
/// xmlstream reports header problems as `io::Error`s with a message; the messages of
/// tokio-xmpp 6 are matched here, in one place, and anything unrecognised falls back to the
/// XML-level classification.
pub(super) fn header_error_condition(e: &std::io::Error) -> Option<StreamCondition> {
    let text = e.to_string();
    if text.contains("unknown stream header") {
        Some(StreamCondition::InvalidNamespace)
    } else if text.contains("stream version") || text.contains("`version`") {
        Some(StreamCondition::UnsupportedVersion)
    } else if text.contains("stream header attribute") || text.contains("before stream header") {
        Some(StreamCondition::BadFormat)
    } else {
        xml_error_condition(e)
    }
}

/// Stream errors for XML-level problems: limits, restricted XML, malformed XML.
pub(super) fn xml_error_condition(e: &std::io::Error) -> Option<StreamCondition> {
    let inner = e.get_ref()?;
    if inner.downcast_ref::<LimitExceeded>().is_some() {
        return Some(StreamCondition::PolicyViolation);
    }
    if let Some(x) = inner.downcast_ref::<xso::error::Error>() {
        return Some(match x {
            xso::error::Error::Other(m) if *m == LIMIT_CROSSED => StreamCondition::PolicyViolation,
            _ => StreamCondition::BadFormat,
        });
    }
    if let Some(x) = inner.downcast_ref::<xso::exports::rxml::Error>() {
        use xso::exports::rxml::Error as X;
        return Some(match x {
            X::RestrictedXml(what) if what.contains("long") => StreamCondition::PolicyViolation,
            X::RestrictedXml(_) => StreamCondition::RestrictedXml,
            _ => StreamCondition::NotWellFormed,
        });
    }
    (e.kind() == std::io::ErrorKind::InvalidData).then_some(StreamCondition::NotWellFormed)
}

/// Writes a whole stream (header, error, footer) by hand: used when the peer's header could not
/// be read, because RFC 6120 §4.9.1.1 still wants our header before the error.
pub(super) async fn raw_stream_error(
    io: &mut Framing,
    domain: &str,
    condition: StreamCondition,
    text: &str,
) {
    use tokio::io::AsyncWriteExt;
    let err: Element = StreamError::new(condition, "en", text).into();
    let doc = format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='http://etherx.jabber.org/streams' id='{}' from='{}' version='1.0'>{}</stream:stream>",
        ns::JABBER_CLIENT,
        random_id(),
        domain,
        String::from(&err)
    );
    let _ = io.write_all(doc.as_bytes()).await;
    let _ = io.shutdown().await;
}

/// Sends a stream error and our footer, then closes the connection.
pub(crate) async fn send_close(xs: &mut Xs<'_>, why: &StreamClose) {
    let err = StreamError::new(
        why.condition.clone(),
        "en",
        why.text.clone().unwrap_or_default(),
    );
    let _ = xs.send(&err).await;
    let _ = xs.shutdown().await;
}

/// Ends the stream as `stop` says: our footer answering the client's, a stream error, or
/// nothing when the connection is already gone.
pub(super) async fn finish(xs: &mut Xs<'_>, stop: Stop) {
    match stop {
        Stop::Footer => {
            // RFC 6120 §4.4: answer the closing handshake with our own footer.
            let _ = xs.shutdown().await;
        }
        Stop::Error(why) => send_close(xs, &why).await,
        Stop::Gone => {}
    }
}
