//! Server-to-server federation (RFC 6120 over `jabber:server`, RFC 6121 across domains).
//!
//! - `outbound`: one stream per (local domain, remote domain), opened on demand with stanzas
//!   queued (bounded, in order) while it is set up, authenticated with Server Dialback
//!   (XEP-0220); failures bounce what was queued (`<remote-server-not-found/>`,
//!   `<remote-server-timeout/>`), and the stream closes when idle;
//! - `inbound`: the s2s listener: STARTTLS required, dialback checked with the authoritative
//!   server, every stanza's `from` domain checked against the domains the stream
//!   authenticated;
//! - [`dialback`]: the keys.
//!
//! - `resolve`: finding a domain's server (static routes, DNS SRV, A/AAAA).
//!
//! Work in progress (issue 21): outgoing direct TLS (XEP-0368 `_xmpps-server` targets are
//! skipped for now) and the direct TLS listener, SASL EXTERNAL with certificates (XEP-0178), and the IM rules that need a peer's state
//! (unavailable presence when a peer's stream drops) are not built yet.

pub mod dialback;
mod inbound;
mod outbound;
pub mod resolve;
mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use cordial_actors::in_order::Ticket;
use cordial_actors::router::RemoteRoute;
use cordial_actors::stanza::{DefinedCondition, ErrorType, Kind};
use cordial_actors::Router;
use jid::Jid;
use minidom::Element;
use tokio::sync::mpsc;

use crate::link::LinkContext;

pub use inbound::accept_loop;

/// The namespace of stanzas between servers (RFC 6120 §4.8.2).
pub const JABBER_SERVER: &str = "jabber:server";
/// Server Dialback's namespace (XEP-0220).
pub const DIALBACK: &str = "jabber:server:dialback";
/// The stream feature that says a server does dialback (XEP-0220 §2.1.2).
pub const DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";

/// An address from a `[s2s.routes]` value: `host:port`, or an IP address (port 5269).
pub fn parse_route(value: &str) -> Option<(String, u16)> {
    if let Ok(a) = value.parse::<SocketAddr>() {
        return Some((a.ip().to_string(), a.port()));
    }
    if let Ok(ip) = value.parse::<std::net::IpAddr>() {
        return Some((ip.to_string(), 5269));
    }
    let (host, port) = value.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| (host.to_string(), port))
}

/// The federation side of one server.
pub struct S2s {
    pub(crate) ctx: Arc<LinkContext>,
    pub(crate) secret: dialback::Secret,
    /// The queue of each outgoing stream, by (local domain, remote domain).
    outgoing: Mutex<HashMap<(String, String), mpsc::Sender<Element>>>,
    pub(crate) resolver: resolve::Resolver,
    pub(crate) counters: Counters,
    /// Incoming streams that authenticated at least one domain, by connection number.
    incoming: Mutex<HashMap<u64, Incoming>>,
    /// Cancelled when the server stops: every stream task ends.
    pub(crate) stopping: tokio_util::sync::CancellationToken,
}

impl S2s {
    pub fn new(ctx: Arc<LinkContext>) -> Arc<S2s> {
        let resolver = resolve::Resolver::new(&ctx.config().s2s.nameservers);
        Arc::new(S2s {
            resolver,
            counters: Counters::default(),
            incoming: Mutex::default(),
            ctx,
            secret: dialback::Secret::random(),
            outgoing: Mutex::default(),
            stopping: Default::default(),
        })
    }

    /// Ends every stream (the server is stopping); stanzas still queued are dropped.
    pub fn stop(&self) {
        self.stopping.cancel();
        self.outgoing.lock().expect("s2s lock").clear();
    }

    fn router(&self) -> &Arc<Router> {
        &self.ctx.router
    }

    /// Hands a stanza (in `jabber:client` form, `from` stamped with a local JID) to the stream
    /// from its sender's domain to `remote`, opening it if needed.
    fn send(self: &Arc<Self>, stanza: Element, kind: Kind, remote: String) {
        let Some(local) = stanza
            .attr("from")
            .and_then(|f| Jid::new(f).ok())
            .map(|j| j.domain().to_string())
        else {
            return log::warn!("not sending a stanza without a sender to {remote}");
        };
        let key = (local, remote);
        let mut outgoing = self.outgoing.lock().expect("s2s lock");
        if let Some(tx) = outgoing.get(&key) {
            match tx.try_send(stanza) {
                Ok(()) => return,
                Err(mpsc::error::TrySendError::Full(stanza)) => {
                    drop(outgoing);
                    log::warn!("queue to {} full; bouncing", key.1);
                    return self.router().bounce(
                        &stanza,
                        kind,
                        ErrorType::Wait,
                        DefinedCondition::ResourceConstraint,
                    );
                }
                // The stream ended since: a new one.
                Err(mpsc::error::TrySendError::Closed(s)) => {
                    outgoing.remove(&key);
                    return {
                        drop(outgoing);
                        self.send(s, kind, key.1)
                    };
                }
            }
        }
        let (tx, rx) = mpsc::channel(self.ctx.config().s2s.queue);
        let _ = tx.try_send(stanza);
        outgoing.insert(key.clone(), tx.clone());
        drop(outgoing);
        let s2s = self.clone();
        actix_rt::spawn(async move {
            tokio::select! {
                _ = outbound::run(&s2s, &key.0, &key.1, rx) => {}
                _ = s2s.stopping.cancelled() => {}
            }
            let mut outgoing = s2s.outgoing.lock().expect("s2s lock");
            if outgoing.get(&key).is_some_and(|t| t.same_channel(&tx)) {
                outgoing.remove(&key);
            }
        });
    }

    /// Outgoing streams open now, by (local domain, remote domain).
    pub fn outgoing(&self) -> Vec<(String, String)> {
        let outgoing = self.outgoing.lock().expect("s2s lock");
        outgoing.keys().cloned().collect()
    }
}

/// Counts for the metrics (`cordial_s2s_*`).
#[derive(Default)]
pub struct Counters {
    pub stanzas_in: AtomicU64,
    pub stanzas_out: AtomicU64,
    /// Stanzas answered with an error because no stream could take them.
    pub bounced: AtomicU64,
    pub dialback_verified: AtomicU64,
    pub dialback_refused: AtomicU64,
}

/// An incoming stream, as the admin API lists it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Incoming {
    pub peer: String,
    pub domains: Vec<String>,
    pub authentication: &'static str,
}

impl S2s {
    /// Notes (or updates) an incoming stream's authenticated domains.
    pub(crate) fn incoming_authenticated(&self, id: u64, info: Incoming) {
        self.incoming.lock().expect("s2s lock").insert(id, info);
    }

    pub(crate) fn incoming_closed(&self, id: u64) {
        self.incoming.lock().expect("s2s lock").remove(&id);
    }

    /// Incoming streams that authenticated a domain.
    pub fn incoming(&self) -> Vec<Incoming> {
        self.incoming
            .lock()
            .expect("s2s lock")
            .values()
            .cloned()
            .collect()
    }
}

/// The router's way to other domains once federation runs: set when the server starts (the
/// router exists before the federation side that needs it). Weak: the federation side holds
/// the router, and a server that stopped must let both go.
#[derive(Default)]
pub struct S2sRoute(pub Arc<OnceLock<Weak<S2s>>>);

impl RemoteRoute for S2sRoute {
    fn route(
        &self,
        router: &Arc<Router>,
        stanza: Element,
        kind: Kind,
        to: Jid,
        // Held until the stanza is queued to its stream: the order of a client's stanzas is
        // kept from there by the stream's queue.
        _ticket: Option<Ticket>,
    ) {
        match self.0.get().and_then(Weak::upgrade) {
            Some(s2s) => s2s.send(stanza, kind, to.domain().to_string()),
            None => router.bounce(
                &stanza,
                kind,
                ErrorType::Cancel,
                DefinedCondition::RemoteServerNotFound,
            ),
        }
    }
}

/// `el` with every element in namespace `from` (the stanza and its `jabber:client` children
/// such as `<body/>`) moved to `to`: stanzas are `jabber:client` inside the server and
/// `jabber:server` between servers (RFC 6120 §4.8.3).
pub fn renamespace(el: &Element, from: &str, to: &str) -> Element {
    let ns = if el.ns() == from {
        to.to_string()
    } else {
        el.ns()
    };
    let mut out = Element::builder(el.name(), ns).build();
    *out.attrs_mut() = el.attrs().clone();
    for node in el.nodes() {
        match node {
            minidom::Node::Element(child) => {
                out.append_child(renamespace(child, from, to));
            }
            minidom::Node::Text(t) => out.append_text_node(t.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_host_port_or_an_ip() {
        assert_eq!(
            parse_route("127.0.0.3:5269"),
            Some(("127.0.0.3".into(), 5269))
        );
        assert_eq!(parse_route("127.0.0.3"), Some(("127.0.0.3".into(), 5269)));
        assert_eq!(
            parse_route("xmpp.b.test:5270"),
            Some(("xmpp.b.test".into(), 5270))
        );
        assert_eq!(parse_route("[::1]:5269"), Some(("::1".into(), 5269)));
        assert_eq!(parse_route("b.test"), None);
        assert_eq!(parse_route("b test:1"), None);
    }

    #[test]
    fn stanzas_change_namespace_with_their_jabber_client_children_only() {
        let el: Element = "<message xmlns='jabber:client' to='b@b.test' from='a@a.test/r'><body>x</body><x xmlns='urn:x'><body>y</body></x></message>"
            .parse()
            .unwrap();
        let s = renamespace(&el, "jabber:client", JABBER_SERVER);
        assert_eq!(s.ns(), JABBER_SERVER);
        assert_eq!(s.get_child("body", JABBER_SERVER).unwrap().text(), "x");
        let x = s.get_child("x", "urn:x").unwrap();
        assert_eq!(x.get_child("body", "urn:x").unwrap().text(), "y");
        assert_eq!(s.attr("to"), Some("b@b.test"));
        let back = renamespace(&s, JABBER_SERVER, "jabber:client");
        assert_eq!(back, el);
    }
}
