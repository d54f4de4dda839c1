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

pub use crate::link::channel_binding::ChannelBindings;
/// For the tests of the pieces below that are not public otherwise.
pub use crate::link::framing::MAX_WHITESPACE_BEFORE_HEADER;
pub use crate::link::sasl::{Exchange, Sasl, Step};

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

/// The item limit the `privacy_edits` target edits lists under: small, so that inputs reach it.
pub const EDIT_MAX_ITEMS: usize = 16;

/// Target `privacy_edits`: the edits the server applies to a stored privacy list, on arbitrary
/// XML (a root in any namespace: minidom wants one). The root's children are applied in turn to one list (at first empty, named
/// `blocklist`): a XEP-0016 `<list/>` replaces it as a set does, a XEP-0191 `<block/>` or
/// `<unblock/>` edits it as the blocking command does ([`cordial_actors::blocking`]), under
/// [`EDIT_MAX_ITEMS`]. After every step, taken or refused: nothing panicked; orders are
/// strictly increasing (so unique; non-negative by type); the list holds at most the limit and
/// serialises and parses back to itself (a stored list always reloads). A refused edit
/// changed nothing. A block leaves every requested JID blocked, its new items first (orders
/// 0, 1, …) and the items that were there behind them in the same order; an unblock leaves
/// none of its JIDs (all, for unblock-all) blocked and every other item as it was.
pub fn privacy_edits(data: &[u8]) {
    use cordial_actors::blocking::{self, NS_BLOCKING};
    use cordial_storage::{PrivacyList, PrivacyMatch};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(root) = text.parse::<Element>() else {
        return;
    };
    let mut list = PrivacyList {
        name: "blocklist".into(),
        items: Vec::new(),
    };
    for step in root.children() {
        let before = list.clone();
        if step.is("list", privacy::NS_PRIVACY) {
            if let Ok(l) = privacy::parse_list(step, EDIT_MAX_ITEMS) {
                list = l;
            }
        } else if step.ns() == NS_BLOCKING && matches!(step.name(), "block" | "unblock") {
            let Ok(jids) = blocking::request_jids(step, EDIT_MAX_ITEMS) else {
                continue;
            };
            let is_block = |i: &cordial_storage::PrivacyItem, j: &str| {
                !i.allow && i.stanzas.all() && i.what == PrivacyMatch::Jid(j.to_string())
            };
            if step.name() == "block" {
                match blocking::block(&mut list, &jids, EDIT_MAX_ITEMS) {
                    Ok(new) => {
                        let blocked = blocking::blocked_jids(&list);
                        for j in &jids {
                            assert!(blocked.contains(j), "{j} is not blocked after a block");
                        }
                        let n = new.len();
                        for (k, (item, j)) in list.items.iter().zip(&new).enumerate() {
                            assert!(is_block(item, j), "new block {k} is not {j}");
                            assert_eq!(item.order as usize, k, "new blocks come first");
                        }
                        assert_eq!(list.items.len(), before.items.len() + n);
                        for (after, was) in list.items[n..].iter().zip(&before.items) {
                            assert_eq!(after.what, was.what, "the list's own items moved");
                            assert_eq!(after.allow, was.allow);
                            assert_eq!(after.stanzas, was.stanzas);
                            assert_eq!(
                                Some(after.order),
                                was.order.checked_add(n as u32),
                                "the list's own orders were not raised by the new blocks"
                            );
                        }
                    }
                    Err(_) => assert_eq!(list, before, "a refused block changed the list"),
                }
            } else {
                let gone = blocking::unblock(&mut list, &jids);
                let blocked = blocking::blocked_jids(&list);
                if jids.is_empty() {
                    assert!(blocked.is_empty(), "blocks left after unblock-all");
                }
                for j in &jids {
                    assert!(
                        !blocked.contains(j),
                        "{j} is still blocked after an unblock"
                    );
                }
                let kept: Vec<_> = before
                    .items
                    .iter()
                    .filter(|i| !gone.iter().any(|j| is_block(i, j)))
                    .cloned()
                    .collect();
                assert_eq!(list.items, kept, "an unblock touched other items");
            }
        }
        assert!(
            list.items.windows(2).all(|w| w[0].order < w[1].order),
            "orders not strictly increasing"
        );
        assert!(
            list.items.len() <= EDIT_MAX_ITEMS,
            "more items than the limit"
        );
        let again = privacy::parse_list(&privacy::list_element(&list), EDIT_MAX_ITEMS);
        match again {
            Ok(again) => assert_eq!(
                again, list,
                "a list after an edit does not parse back to itself"
            ),
            Err(e) => panic!("a list after an edit does not parse: {e}"),
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
        Sasl::new(std::sync::Arc::new(store), &["localhost".to_string()])
    })
}

/// Target `sasl`: server-side SASL (rsasl with cordial's stored-key callback). The first byte
/// picks PLAIN, SCRAM-SHA-1 or SCRAM-SHA-256, and with its high bit set, a connection with
/// channel binding data and SCRAM as its -PLUS variant; the rest, split at 0xFF, are the
/// client's messages. Nothing panics, and no exchange succeeds without the password.
pub fn sasl(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let mech = ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"][*first as usize % 3];
    let (mech, bindings) = match first & 0x80 {
        0 => (mech.to_string(), ChannelBindings::default()),
        _ => {
            let plus = match mech {
                "PLAIN" => mech.to_string(),
                scram => format!("{scram}-PLUS"),
            };
            let bindings = ChannelBindings {
                tls_exporter: Some(b"fuzz tls-exporter".to_vec()),
                tls_server_end_point: Some(b"fuzz tls-server-end-point".to_vec()),
                tls_unique: None,
            };
            (plus, bindings)
        }
    };
    let Some(mut exchange) = sasl_server().start(&mech, "localhost", &bindings) else {
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
