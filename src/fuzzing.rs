//! The properties the fuzz targets (`fuzz/`, cargo-fuzz) check, one function per target, so
//! that the regression inputs in `fuzz/regressions/` replay as ordinary tests
//! (`tests/fuzz_regressions.rs`) on the stable toolchain. Each function panics when a property
//! fails; otherwise any input is fine.

use std::sync::OnceLock;

use cordial_actors::privacy::{self, CompiledList, Direction, NoRoster};
use cordial_actors::roster::{parse_set, RosterLimits};
use cordial_actors::stanza::{self, DefinedCondition, ErrorType};
use minidom::Element;

use crate::link::framing::LinkLimits;
use crate::link::parser::read_client_stream;
use crate::link::sasl::{Sasl, Step};

fn read(input: &[u8], max_bytes: usize, max_depth: usize) -> Vec<Element> {
    read_client_stream(input, LinkLimits::new(max_bytes, max_depth)).0
}

fn depth(el: &Element) -> usize {
    1 + el.children().map(depth).max().unwrap_or(0)
}

/// Target `stream_parser`: the client stream parser (xmlstream and the limit-checking stanza
/// builder) on arbitrary bytes never panics and never hands over an element beyond its limits.
pub fn stream_parser(data: &[u8]) {
    const MAX_BYTES: usize = 4096;
    const MAX_DEPTH: usize = 8;
    for el in read(data, MAX_BYTES, MAX_DEPTH) {
        assert!(
            depth(&el) <= MAX_DEPTH,
            "an element deeper than the limit got through"
        );
        let len = String::from(&el).len();
        assert!(
            len <= 2 * MAX_BYTES + 256,
            "a {len}-byte element got through"
        );
    }
}

const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";

/// Target `stanza_routing`: whatever stanzas a stream carries, classification of `to` and
/// `from` never panics, and an error reply goes back to the sender and parses again.
pub fn stanza_routing(data: &[u8]) {
    let mut input = HEADER.to_vec();
    input.extend_from_slice(data);
    for el in read(&input, 16384, 16) {
        let _ = stanza::kind(&el);
        let _ = stanza::stanza_type(&el);
        let _ = stanza::priority(&el);
        let _ = stanza::iq_payload(&el);
        let _ = stanza::classify(el.attr("to"), |d| d == "localhost");
        let _ = stanza::classify(el.attr("from"), |d| d == "localhost");
        let reply = stanza::error_reply(
            &el,
            ErrorType::Cancel,
            DefinedCondition::ServiceUnavailable,
            Some("fuzz"),
        );
        if let Some(reply) = reply {
            assert_eq!(
                reply.attr("to"),
                el.attr("from"),
                "errors go back to the sender"
            );
            assert_eq!(reply.attr("type"), Some("error"));
            let text = String::from(&reply);
            assert!(
                text.parse::<Element>().is_ok(),
                "an error reply that does not parse: {text}"
            );
        }
    }
}

/// Target `roster_privacy`: roster set queries and privacy lists on arbitrary XML. A list that
/// parses serialises and parses back to itself, compiles, and answers every direction for a
/// few entities the same way from text and from a parsed JID.
pub fn roster_privacy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(el) = text.parse::<Element>() else {
        return;
    };
    let _ = parse_set(&el, &RosterLimits::default());
    for list_el in std::iter::once(&el).chain(el.children()) {
        let Ok(list) = privacy::parse_list(list_el, 1000) else {
            continue;
        };
        let again = privacy::parse_list(&privacy::list_element(&list), 1000)
            .expect("a list we serialised parses again");
        assert_eq!(again, list, "a list changed through serialisation");
        let compiled = CompiledList::compile(&list);
        for dir in Direction::ALL {
            for other in [
                "a@localhost/r",
                "a@localhost",
                "localhost",
                "b@example.net/x",
                "x@y",
            ] {
                let text_says = compiled.allows_text(dir, other, &NoRoster);
                let jid = jid::Jid::new(other).expect("a valid JID");
                assert_eq!(
                    compiled.allows(dir, &jid, &NoRoster),
                    text_says,
                    "text and parsed JID disagree"
                );
            }
        }
    }
}

/// The password of the account the `sasl` target attacks.
pub const SASL_PASSWORD: &str = "secret-password";

fn sasl_server() -> &'static Sasl {
    static SASL: OnceLock<Sasl> = OnceLock::new();
    SASL.get_or_init(|| {
        use cordial_storage::AccountStore;
        let dir = std::env::temp_dir().join(format!("cordial-fuzz-sasl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = cordial_storage::Store::open(&dir).expect("a temporary store");
        let creds = cordial_actors::accounts::derive_credentials(SASL_PASSWORD, 4096);
        store
            .create_account("alice@localhost", &creds)
            .expect("the account");
        Sasl::new(store, "localhost".into())
    })
}

/// Target `sasl`: server-side SASL (rsasl with cordial's stored-key callback). The first byte
/// picks PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256; the rest, split at 0xFF, are the client's
/// messages. Nothing panics, and no exchange succeeds without the password.
pub fn sasl(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let mech = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"][*first as usize % 3];
    let Some(mut exchange) = sasl_server().start(mech) else {
        return;
    };
    for msg in rest.split(|b| *b == 0xFF) {
        match exchange.step(Some(msg)) {
            Step::Challenge(_) => {}
            Step::Success { .. } => {
                // PLAIN carries the password; a SCRAM proof cannot be made without it.
                let pw = SASL_PASSWORD.as_bytes();
                assert!(
                    msg.windows(pw.len()).any(|w| w == pw),
                    "authenticated without the password"
                );
                return;
            }
            Step::Failure => return,
        }
    }
}
