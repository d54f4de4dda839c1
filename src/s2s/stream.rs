//! What inbound and outbound streams share: the stream header with the dialback namespace
//! declared, reading the next element, stream errors, the namespaces of a stanza.

use cordial_actors::link::StreamCondition;
use cordial_actors::xml::BuildAttr;
use futures::StreamExt;
use minidom::Element;
use tokio_xmpp::xmlstream::{ReadError, Timeouts, XmlStream};

use crate::link::framing::Framing;
use crate::link::parser::Stanza;

/// A server-to-server stream over a connection's framing.
pub(super) type Xs<'a> = XmlStream<&'a mut Framing, Stanza>;

/// The stream namespace declaration in the headers tokio-xmpp writes, after which we declare
/// dialback's prefix: XEP-0220 §2.4 has a server that does dialback say so in its header
/// (`xmlns:db`), which older peers still look for.
const STREAM_NS_DECL: &[u8] = b"xmlns:stream='http://etherx.jabber.org/streams'";

/// Arms the next stream header written on `io` to declare `xmlns:db`.
pub(super) fn declare_dialback(io: &Framing) {
    io.splice().replace_next(
        STREAM_NS_DECL,
        [STREAM_NS_DECL, b" xmlns:db='jabber:server:dialback'"].concat(),
    );
}

pub(super) fn timeouts(idle_secs: u64) -> Timeouts {
    let t = std::time::Duration::from_secs(idle_secs.max(1));
    Timeouts {
        read_timeout: t,
        response_timeout: t,
    }
}

/// The next element from the peer; `None` once the stream or connection ended (or broke).
/// Whitespace keepalives and soft timeouts are passed over.
pub(super) async fn next(xs: &mut Xs<'_>) -> Option<Element> {
    loop {
        match xs.next().await? {
            Ok(Stanza(el)) => return Some(el),
            Err(ReadError::SoftTimeout) => continue,
            Err(e) => {
                log::debug!("s2s stream ended: {e}");
                return None;
            }
        }
    }
}

/// Sends a stream error and our footer (RFC 6120 §4.9), then shuts our side.
pub(super) async fn stream_error(xs: &mut Xs<'_>, condition: StreamCondition, text: &str) {
    let why = cordial_actors::link::StreamClose::new(condition, text.to_string());
    crate::link::close::send_close(xs, &why).await;
}

/// A dialback element (`<db:result/>`, `<db:verify/>`), written with its own namespace
/// declaration.
pub(super) fn dialback(
    name: &str,
    from: &str,
    to: &str,
    id: Option<&str>,
    type_: Option<&str>,
    key: Option<&str>,
) -> Element {
    let mut b = Element::builder(name, super::DIALBACK)
        .a("from", from)
        .a("to", to);
    if let Some(id) = id {
        b = b.a("id", id);
    }
    if let Some(t) = type_ {
        b = b.a("type", t);
    }
    if let Some(k) = key {
        b = b.append(k);
    }
    b.build()
}
