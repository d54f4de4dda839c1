//! The sender's messages and what became of each, and the recipient's collection after the
//! restart.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use cordial_bench::client::{Error, Session};
use minidom::Element;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const NS_ROSTER: &str = "jabber:iq:roster";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// How long any single answer may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Messages between two roster gets.
pub const BATCH: usize = 10;

const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
    "the",
    "meeting",
    "moved",
    "to",
    "thursday",
    "afternoon",
    "bring",
    "your",
    "notes",
    "and",
    "coffee",
    "we",
    "can",
    "discuss",
    "release",
    "plan",
    "tomorrow",
    "morning",
    "server",
    "logs",
    "show",
    "nothing",
    "unusual",
    "please",
    "check",
    "again",
    "later",
    "thanks",
    "for",
    "quick",
    "reply",
];

/// Every message the sender sends and what the server said about it.
pub struct Ledger {
    seed: u64,
    tag: String,
    body_bytes: usize,
    pub to: String,
    index: HashMap<String, usize>,
    /// A later iq on the same stream was answered.
    pub acked: Vec<bool>,
    /// The error condition of the bounce, if one came back.
    pub bounced: Vec<Option<String>>,
    /// Bounces that came after an iq sent after the message had been answered.
    pub late_bounces: usize,
    pub first_bounce: Option<usize>,
    /// How many messages have been sent.
    pub sent: usize,
}

impl Ledger {
    pub fn new(seed: u64, tag: &str, total: usize, body_bytes: usize, to: &str) -> Ledger {
        let mut l = Ledger {
            seed,
            tag: tag.to_string(),
            body_bytes,
            to: to.to_string(),
            index: HashMap::new(),
            acked: vec![false; total],
            bounced: vec![None; total],
            late_bounces: 0,
            first_bounce: None,
            sent: 0,
        };
        for i in 0..total {
            l.index.insert(l.id(i), i);
        }
        l
    }

    pub fn id(&self, i: usize) -> String {
        format!("{}-{i}", self.tag)
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Message `i`'s body: its id, then words of lorem ipsum and everyday chat drawn at random
    /// (seeded by the run and the index), exactly `body_bytes` long.
    pub fn body(&self, i: usize) -> String {
        let mut rng = StdRng::seed_from_u64(self.seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
        let mut b = format!("[{}]", self.id(i));
        while b.len() < self.body_bytes {
            b.push(' ');
            b.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
            if rng.gen_ratio(1, 12) {
                b.push(if rng.gen_ratio(1, 3) { ',' } else { '.' });
            }
        }
        b.truncate(self.body_bytes);
        b
    }

    pub fn stanza(&self, i: usize) -> String {
        format!(
            "<message to='{}' id='{}' type='chat'><body>{}</body></message>",
            self.to,
            self.id(i),
            self.body(i)
        )
    }

    /// Notes an element that reached the sender. Returns true if it was the first bounce.
    fn note(&mut self, e: &Element) -> bool {
        if e.name() != "message" || e.attr("type") != Some("error") {
            return false;
        }
        let Some(i) = e.attr("id").and_then(|id| self.index_of(id)) else {
            return false;
        };
        let condition = e
            .children()
            .find(|c| c.name() == "error")
            .and_then(|err| {
                err.children()
                    .find(|c| c.ns() == NS_STANZAS && c.name() != "text")
                    .map(|c| c.name().to_string())
            })
            .unwrap_or_else(|| "(none)".into());
        if self.acked[i] {
            self.late_bounces += 1;
        }
        self.bounced[i].get_or_insert(condition);
        if self.first_bounce.is_none_or(|f| i < f) {
            let first = self.first_bounce.is_none();
            self.first_bounce = Some(i);
            return first;
        }
        false
    }

    /// Acknowledged: followed by an answered iq, and never bounced.
    pub fn acknowledged(&self, i: usize) -> bool {
        self.acked[i] && self.bounced[i].is_none()
    }

    pub fn conditions(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in self.bounced.iter().flatten() {
            *m.entry(c.clone()).or_default() += 1;
        }
        m
    }
}

/// Sends an iq and reads until its answer, noting every bounce on the way. `on_first_bounce`
/// runs as soon as the first bounce is seen.
pub async fn iq(
    s: &mut Session,
    l: &mut Ledger,
    id: &str,
    type_: &str,
    payload: &str,
    on_first_bounce: &mut impl FnMut(),
) -> Result<Element, Error> {
    s.send(&format!("<iq type='{type_}' id='{id}'>{payload}</iq>"))
        .await?;
    loop {
        let next = tokio::time::timeout(TIMEOUT, s.reader.next())
            .await
            .map_err(|_| format!("no answer to iq {id} within {} s", TIMEOUT.as_secs()))??;
        let Some(e) = next else {
            return Err(format!("the stream closed before the answer to iq {id}").into());
        };
        if e.name() == "iq" && e.attr("id") == Some(id) {
            return Ok(e);
        }
        if l.note(&e) {
            on_first_bounce();
        }
    }
}

/// Sends messages `from..to`, with a roster get after every [`BATCH`]; the answer acknowledges
/// the messages before it.
pub async fn send_range(
    s: &mut Session,
    l: &mut Ledger,
    from: usize,
    to: usize,
    on_first_bounce: &mut impl FnMut(),
) -> Result<(), Error> {
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        let out: String = (start..end).map(|i| l.stanza(i)).collect();
        s.send(&out).await?;
        l.sent = end;
        let roster = format!("<query xmlns='{NS_ROSTER}'/>");
        iq(s, l, &format!("g{end}"), "get", &roster, on_first_bounce).await?;
        // RFC 6120 §10.1: an answer (of either type) means everything before it was processed.
        for a in &mut l.acked[..end] {
            *a = true;
        }
        start = end;
    }
    Ok(())
}

/// Ends the stream and reads what the server still sends until it closes its side, noting
/// late bounces.
pub async fn close(mut s: Session, l: &mut Ledger) {
    let _ = s.send("</stream:stream>").await;
    while let Ok(Ok(Some(e))) = tokio::time::timeout(TIMEOUT, s.reader.next()).await {
        l.note(&e);
    }
}

/// What the recipient got after the restart.
#[derive(Default)]
pub struct Received {
    /// How many times each message arrived.
    pub count: Vec<usize>,
    /// Arrived with a body other than the one sent.
    pub altered: usize,
    /// Messages that are not the sender's.
    pub unknown: usize,
    /// Arrived after the answer to the ping that followed the initial presence.
    pub after_ping: usize,
}

/// Logs in as the recipient (done by the caller), sends initial presence and a ping, and
/// collects messages: until the ping's answer, then until the stream has been quiet for a
/// while (1 s, or 3 s if an acknowledged message is still missing).
pub async fn collect(s: &mut Session, l: &Ledger) -> Result<Received, Error> {
    let mut r = Received {
        count: vec![0; l.acked.len()],
        ..Default::default()
    };
    s.send("<presence/><iq type='get' id='collect'><ping xmlns='urn:xmpp:ping'/></iq>")
        .await?;
    let mut answered = false;
    loop {
        let quiet = if !answered {
            TIMEOUT
        } else if (0..l.acked.len()).all(|i| !l.acknowledged(i) || r.count[i] > 0) {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(3)
        };
        let next = match tokio::time::timeout(quiet, s.reader.next()).await {
            Ok(next) => next?,
            Err(_) if answered => break,
            Err(_) => return Err("no answer to the ping after the initial presence".into()),
        };
        let Some(e) = next else {
            return Err("the stream closed while collecting offline messages".into());
        };
        if e.name() == "iq" && e.attr("id") == Some("collect") {
            answered = true;
            continue;
        }
        if e.name() != "message" || e.attr("type") == Some("error") {
            continue;
        }
        let body = e
            .children()
            .find(|c| c.name() == "body")
            .map(|b| b.text())
            .unwrap_or_default();
        // By id, or by the id the body starts with if the server changed the stanza's.
        let i = e.attr("id").and_then(|id| l.index_of(id)).or_else(|| {
            body.strip_prefix('[')
                .and_then(|b| b.split(']').next())
                .and_then(|id| l.index_of(id))
        });
        let Some(i) = i else {
            r.unknown += 1;
            continue;
        };
        r.count[i] += 1;
        if answered {
            r.after_ping += 1;
        }
        if body != l.body(i) {
            r.altered += 1;
        }
    }
    Ok(r)
}
