//! Replays the fuzz targets' seed corpora and every committed regression input (inputs that
//! once crashed, hung or misbehaved) through the same checks the fuzz targets run
//! (`cordial::fuzzing`), on the stable toolchain.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.file_name().is_some_and(|f| f == ".gitkeep") {
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", path.display());
            n += 1;
        }
    }
    assert!(n > 0, "{target}: no seed inputs found");
}

#[test]
fn stream_parser() {
    replay("stream_parser", cordial::fuzzing::stream_parser);
}

#[test]
fn stanza_routing() {
    replay("stanza_routing", cordial::fuzzing::stanza_routing);
}

#[test]
fn roster_privacy() {
    replay("roster_privacy", cordial::fuzzing::roster_privacy);
}

#[test]
fn privacy_edits() {
    replay("privacy_edits", cordial::fuzzing::privacy_edits);
}

/// The `privacy_edits` seeds reach the edits: each is XML whose root carries steps (an input
/// that does not parse is skipped by the check, so a broken seed would test nothing).
#[test]
fn privacy_edits_seeds_are_edits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/privacy_edits");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let root: minidom::Element = text
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            root.children()
                .any(|c| matches!(c.name(), "block" | "unblock" | "list")),
            "{}: no edits",
            path.display()
        );
    }
}

#[test]
fn sasl() {
    replay("sasl", cordial::fuzzing::sasl);
}

/// A SASL server whose store holds alice@localhost with the fuzz targets' password.
fn sasl_with_alice() -> cordial::fuzzing::Sasl {
    use cordial_storage::AccountStore;
    let dir = tempfile::tempdir().unwrap().keep();
    let store = cordial_storage::Store::open(&dir).unwrap();
    let creds = cordial_actors::accounts::derive_credentials(cordial::fuzzing::SASL_PASSWORD, 4096);
    store.create_account("alice@localhost", &creds).unwrap();
    cordial::fuzzing::Sasl::new(std::sync::Arc::new(store), &["localhost".to_string()])
}

/// A plain connection's: no channel binding data.
fn no_binding() -> cordial::fuzzing::ChannelBindings {
    cordial::fuzzing::ChannelBindings::default()
}

/// The SASL check is not vacuous: the right password succeeds, a wrong one does not.
#[test]
fn sasl_seed_with_the_password_authenticates() {
    use cordial::fuzzing::Step;
    let _ = std::panic::catch_unwind(|| cordial::fuzzing::sasl(&[0]));
    let sasl = sasl_with_alice();
    let mut good = sasl.start("PLAIN", "localhost", &no_binding()).unwrap();
    assert!(matches!(
        good.step(Some(b"\0alice\0secret-password")),
        Step::Success { .. }
    ));
    let mut bad = sasl.start("PLAIN", "localhost", &no_binding()).unwrap();
    assert!(matches!(bad.step(Some(b"\0alice\0wrong")), Step::Failure));
}

/// rsasl may draw '"' into a SCRAM server nonce; cordial draws again, because clients such as
/// @xmpp/client's sasl-scram-sha-1 misparse a quoted challenge and fail (seen 1 login in 3).
#[test]
fn scram_server_nonces_have_no_quote_or_backslash() {
    use cordial::fuzzing::Step;
    let sasl = sasl_with_alice();
    for mech in ["SCRAM-SHA-1", "SCRAM-SHA-256"] {
        for i in 0..300 {
            let mut ex = sasl.start(mech, "localhost", &no_binding()).unwrap();
            let first = format!("n,,n=alice,r=clientnonce{i}");
            let Step::Challenge(c) = ex.step(Some(first.as_bytes())) else {
                panic!("{mech}: no challenge")
            };
            let c = String::from_utf8(c).unwrap();
            let nonce = c.split(',').find(|a| a.starts_with("r=")).unwrap();
            assert!(nonce.starts_with(&format!("r=clientnonce{i}")), "{c}");
            assert!(!nonce.contains(['"', '\\']), "{mech}: {c}");
        }
    }
}
