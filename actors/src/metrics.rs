//! What the server counts while it runs, for the Prometheus endpoint.
//!
//! Hot-path updates are single atomic operations on pre-created counters (no label lookup);
//! the routing-latency histogram takes one uncontended lock per routed stanza. Values that are
//! cheaper to read when asked (offline queues, running accounts) are gathered at scrape time
//! by the caller and registered next to these with [`Metrics::register`].

use std::fmt::Write;
use std::time::Instant;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::stanza::Kind;

/// How a client reached the server.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Transport {
    /// The client-to-server port (plain, then STARTTLS).
    Tcp,
    /// The direct TLS port (XEP-0368).
    Tls,
    /// XMPP over WebSocket (RFC 7395).
    Websocket,
}

const TRANSPORTS: [Transport; 3] = [Transport::Tcp, Transport::Tls, Transport::Websocket];

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
            Transport::Websocket => "websocket",
        }
    }
}

impl EncodeLabelValue for Transport {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct StanzaKind(Kind);

impl EncodeLabelValue for StanzaKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.0.name())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: StanzaKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabel {
    transport: Transport,
}

fn index(kind: Kind) -> usize {
    match kind {
        Kind::Message => 0,
        Kind::Presence => 1,
        Kind::Iq => 2,
    }
}

fn transport_index(t: Transport) -> usize {
    match t {
        Transport::Tcp => 0,
        Transport::Tls => 1,
        Transport::Websocket => 2,
    }
}

/// Counters for stanzas of each kind, one [`Family`] whose three members are kept at hand.
struct ByKind {
    family: Family<KindLabel, Counter>,
    each: [Counter; 3],
}

impl ByKind {
    fn new() -> Self {
        let family = Family::<KindLabel, Counter>::default();
        let each = [Kind::Message, Kind::Presence, Kind::Iq].map(|k| {
            family
                .get_or_create(&KindLabel {
                    kind: StanzaKind(k),
                })
                .clone()
        });
        ByKind { family, each }
    }
}

/// The server's running counters; one per server, shared through the [`crate::Router`].
pub struct Metrics {
    stanzas_in: ByKind,
    stanzas_out: ByKind,
    routing: Histogram,
    connections: Family<TransportLabel, Gauge>,
    connections_each: [Gauge; 3],
}

impl Default for Metrics {
    fn default() -> Self {
        let connections = Family::<TransportLabel, Gauge>::default();
        let connections_each = TRANSPORTS.map(|transport| {
            connections
                .get_or_create(&TransportLabel { transport })
                .clone()
        });
        Metrics {
            stanzas_in: ByKind::new(),
            stanzas_out: ByKind::new(),
            // 10 µs to 2.6 s, each bucket four times the one before.
            routing: Histogram::new(exponential_buckets(0.000_01, 4.0, 10)),
            connections,
            connections_each,
        }
    }
}

impl Metrics {
    /// A stanza a client sent on a bound stream.
    pub fn stanza_in(&self, kind: Kind) {
        self.stanzas_in.each[index(kind)].inc();
    }

    /// A stanza written to a client on a bound stream.
    pub fn stanza_out(&self, kind: Kind) {
        self.stanzas_out.each[index(kind)].inc();
    }

    /// A pre-serialised stanza written to a client, counted by the element it begins with.
    pub fn stanza_out_xml(&self, xml: &str) {
        let kind = [Kind::Message, Kind::Presence, Kind::Iq]
            .into_iter()
            .find(|k| {
                let name = k.name().as_bytes();
                let b = xml.as_bytes();
                b.len() > name.len() + 1
                    && b[0] == b'<'
                    && &b[1..=name.len()] == name
                    && matches!(
                        b[name.len() + 1],
                        b' ' | b'>' | b'/' | b'\t' | b'\n' | b'\r'
                    )
            });
        if let Some(kind) = kind {
            self.stanza_out(kind);
        }
    }

    /// A stanza the router took at `since` has been delivered, stored or bounced by the
    /// recipient account's actor.
    pub fn routed(&self, since: Instant) {
        self.routing.observe(since.elapsed().as_secs_f64());
    }

    /// Counts an open connection until the guard is dropped.
    pub fn connection(&self, transport: Transport) -> Open {
        Open::new(self.connections_each[transport_index(transport)].clone())
    }

    /// Adds these metrics to `registry` (names get the registry's prefix).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "connections",
            "Open client connections by transport",
            self.connections.clone(),
        );
        registry.register(
            "stanzas_in",
            "Stanzas received from clients on bound streams, by kind",
            self.stanzas_in.family.clone(),
        );
        registry.register(
            "stanzas_out",
            "Stanzas written to clients on bound streams, by kind",
            self.stanzas_out.family.clone(),
        );
        registry.register(
            "routing_latency_seconds",
            "From the router taking a stanza to the recipient account's actor having \
             delivered, stored or bounced it",
            self.routing.clone(),
        );
    }
}

/// Keeps a gauge one higher while it lives.
#[must_use = "the count drops when the guard does"]
pub struct Open(Gauge);

impl Open {
    fn new(g: Gauge) -> Self {
        g.inc();
        Open(g)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A gauge set at scrape time, for values read when asked.
pub fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Metrics) -> String {
        let mut r = Registry::with_prefix("cordial");
        m.register(&mut r);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &r).unwrap();
        out
    }

    #[test]
    fn counts_show_in_the_text_format() {
        let m = Metrics::default();
        m.stanza_in(Kind::Message);
        m.stanza_in(Kind::Message);
        m.stanza_out_xml("<iq type='result'/>");
        m.stanza_out_xml("<stream:features/>");
        m.stanza_out_xml("<presence to='a@b'><show>away</show></presence>");
        m.stanza_out_xml("<presences/>");
        m.stanza_out_xml("<message>");
        m.stanza_out_xml("<iq");
        let open = m.connection(Transport::Websocket);
        m.routed(Instant::now());
        let t = text(&m);
        assert!(
            t.contains("cordial_stanzas_in_total{kind=\"message\"} 2"),
            "{t}"
        );
        assert!(t.contains("cordial_stanzas_in_total{kind=\"iq\"} 0"), "{t}");
        for kind in ["iq", "presence", "message"] {
            assert!(
                t.contains(&format!("cordial_stanzas_out_total{{kind=\"{kind}\"}} 1")),
                "{t}"
            );
        }
        assert!(
            t.contains("cordial_connections{transport=\"websocket\"} 1"),
            "{t}"
        );
        assert!(t.contains("cordial_routing_latency_seconds_count 1"), "{t}");
        drop(open);
        let t = text(&m);
        assert!(
            t.contains("cordial_connections{transport=\"websocket\"} 0"),
            "{t}"
        );
    }
}
