//! SCRAM-*-PLUS as a client sees it: a SCRAM client written here from RFC 5802 §3 and §5,
//! independently of rsasl, logs in over each binding type, and every way of binding wrongly
//! ends in a failure.

use base64::Engine as _;
use cordial_storage::AccountStore;

use super::{Sasl, Step};
use crate::link::channel_binding::ChannelBindings;

#[path = "../../../tests/common/scram.rs"]
mod scram;
use scram::ScramClient as Client;

impl Client {
    fn plus_alice(mechanism: &'static str, cb_type: &str, data: &[u8]) -> Client {
        Client::plus(mechanism, cb_type, data, PASSWORD)
    }

    fn unbound_alice(mechanism: &'static str, flag: &str) -> Client {
        Client::unbound(mechanism, flag, PASSWORD)
    }
}

const PASSWORD: &str = "alice's password";
const EXPORTER: &[u8] = &[0xE1; 32];
const END_POINT: &[u8] = &[0x5E; 32];

/// A server hosting `localhost` with the account alice@localhost, and the store behind it.
fn server() -> (Sasl, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = cordial_storage::Store::open(dir.path()).unwrap();
    let creds = cordial_actors::accounts::derive_credentials(PASSWORD, 4096);
    store.create_account("alice@localhost", &creds).unwrap();
    let sasl = Sasl::new(std::sync::Arc::new(store), &["localhost".to_string()]);
    (sasl, dir)
}

fn both() -> ChannelBindings {
    ChannelBindings {
        tls_exporter: Some(EXPORTER.to_vec()),
        tls_server_end_point: Some(END_POINT.to_vec()),
        tls_unique: None,
    }
}

fn end_point_only() -> ChannelBindings {
    ChannelBindings {
        tls_exporter: None,
        tls_server_end_point: Some(END_POINT.to_vec()),
        tls_unique: None,
    }
}

/// How an exchange ended, as the client sees it.
#[derive(Debug, PartialEq)]
enum Seen {
    /// `<success/>` for this localpart, with a ServerSignature that verified.
    LoggedIn(String),
    /// `<failure/>` answering the client-first-message.
    RefusedFirst,
    /// `<failure/>` answering the client-final-message.
    RefusedFinal,
    /// The mechanism could not be started on this connection.
    NotOffered,
}

fn log_in(sasl: &Sasl, bindings: &ChannelBindings, client: &Client) -> Seen {
    let Some(mut exchange) = sasl.start(client.mechanism, "localhost", bindings) else {
        return Seen::NotOffered;
    };
    let bare = "n=alice,r=fyko+d2lbbFgONRv9qkxdawL".to_string();
    let first = format!("{}{bare}", client.gs2_header());
    let server_first = match exchange.step(Some(first.as_bytes())) {
        Step::Challenge(c) => String::from_utf8(c).unwrap(),
        Step::Failure => return Seen::RefusedFirst,
        Step::Success { .. } => panic!("success after the client-first-message"),
    };
    let (last, signature) = client.final_message(&bare, &server_first);
    match exchange.step(Some(last.as_bytes())) {
        Step::Success {
            additional,
            localpart,
        } => {
            let v = format!(
                "v={}",
                base64::engine::general_purpose::STANDARD.encode(signature)
            );
            assert_eq!(String::from_utf8(additional).unwrap(), v, "ServerSignature");
            Seen::LoggedIn(localpart)
        }
        Step::Failure => Seen::RefusedFinal,
        Step::Challenge(c) => panic!("another challenge: {c:?}"),
    }
}

fn alice() -> Seen {
    Seen::LoggedIn("alice".to_string())
}

#[test]
fn scram_sha_256_plus_logs_in_bound_to_tls_exporter() {
    let (sasl, _dir) = server();
    let client = Client::plus_alice("SCRAM-SHA-256-PLUS", "tls-exporter", EXPORTER);
    assert_eq!(log_in(&sasl, &both(), &client), alice());
}

#[test]
fn scram_sha_256_plus_logs_in_bound_to_tls_server_end_point() {
    let (sasl, _dir) = server();
    let client = Client::plus_alice("SCRAM-SHA-256-PLUS", "tls-server-end-point", END_POINT);
    assert_eq!(log_in(&sasl, &both(), &client), alice());
    assert_eq!(log_in(&sasl, &end_point_only(), &client), alice());
}

#[test]
fn scram_sha_1_plus_logs_in_with_either_binding_type() {
    let (sasl, _dir) = server();
    let exporter = Client::plus_alice("SCRAM-SHA-1-PLUS", "tls-exporter", EXPORTER);
    assert_eq!(log_in(&sasl, &both(), &exporter), alice());
    let end_point = Client::plus_alice("SCRAM-SHA-1-PLUS", "tls-server-end-point", END_POINT);
    assert_eq!(log_in(&sasl, &both(), &end_point), alice());
}

/// Over TLS 1.2 a client limited to tls-unique (Python's ssl: slixmpp, nbxmpp) binds with it.
#[test]
fn tls_unique_logs_in_where_the_connection_has_it() {
    let (sasl, _dir) = server();
    let unique = [0x75; 12];
    let tls_1_2 = ChannelBindings {
        tls_exporter: None,
        tls_server_end_point: Some(END_POINT.to_vec()),
        tls_unique: Some(unique.to_vec()),
    };
    for mech in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        let client = Client::plus_alice(mech, "tls-unique", &unique);
        assert_eq!(log_in(&sasl, &tls_1_2, &client), alice(), "{mech}");
        let wrong = Client::plus_alice(mech, "tls-unique", &[0x76; 12]);
        assert_eq!(
            log_in(&sasl, &tls_1_2, &wrong),
            Seen::RefusedFinal,
            "{mech}"
        );
    }
}

/// The wrong password still fails with -PLUS: binding adds to the proof, it does not replace it.
#[test]
fn scram_plus_with_the_wrong_password_is_refused() {
    let (sasl, _dir) = server();
    let mut client = Client::plus_alice("SCRAM-SHA-256-PLUS", "tls-exporter", EXPORTER);
    client.password = "guess";
    assert_eq!(log_in(&sasl, &both(), &client), Seen::RefusedFinal);
}

/// A client on another TLS connection (a man in the middle's) computes other binding data: its
/// `c=` does not match ours and the exchange fails, though its proof is right for its `c=`.
#[test]
fn binding_data_of_another_connection_is_refused() {
    let (sasl, _dir) = server();
    for (cb_type, mech) in [
        ("tls-exporter", "SCRAM-SHA-256-PLUS"),
        ("tls-server-end-point", "SCRAM-SHA-256-PLUS"),
        ("tls-exporter", "SCRAM-SHA-1-PLUS"),
    ] {
        let client = Client::plus_alice(mech, cb_type, &[0x66; 32]);
        assert_eq!(
            log_in(&sasl, &both(), &client),
            Seen::RefusedFinal,
            "{mech} {cb_type}"
        );
    }
}

/// `p=` naming a type we do not implement (tls-unique, undefined for TLS 1.3), or one this
/// connection lacks (tls-exporter over TLS 1.2), fails at once (RFC 5802 §6).
#[test]
fn binding_types_the_connection_lacks_are_refused() {
    let (sasl, _dir) = server();
    let unique = Client::plus_alice("SCRAM-SHA-256-PLUS", "tls-unique", &[1; 12]);
    assert_eq!(log_in(&sasl, &both(), &unique), Seen::RefusedFirst);
    let exporter = Client::plus_alice("SCRAM-SHA-256-PLUS", "tls-exporter", EXPORTER);
    assert_eq!(
        log_in(&sasl, &end_point_only(), &exporter),
        Seen::RefusedFirst
    );
}

/// RFC 5802 §6: `y` says "I can bind, but the server offered no -PLUS". Where we offered it,
/// someone removed it on the way: refused, with either hash.
#[test]
fn y_is_refused_where_plus_was_offered() {
    let (sasl, _dir) = server();
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1"] {
        let client = Client::unbound_alice(mech, "y");
        assert_eq!(
            log_in(&sasl, &both(), &client),
            Seen::RefusedFirst,
            "{mech}"
        );
        assert_eq!(
            log_in(&sasl, &end_point_only(), &client),
            Seen::RefusedFirst,
            "{mech}"
        );
    }
}

/// Without binding data no -PLUS is offered, so `y` is the truth and is accepted.
#[test]
fn y_is_accepted_where_no_plus_was_offered() {
    let (sasl, _dir) = server();
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1"] {
        let client = Client::unbound_alice(mech, "y");
        let none = ChannelBindings::default();
        assert_eq!(log_in(&sasl, &none, &client), alice(), "{mech}");
    }
}

/// `n`, a client that does not bind, logs in with or without binding data.
#[test]
fn n_is_accepted_with_or_without_binding_data() {
    let (sasl, _dir) = server();
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1"] {
        let client = Client::unbound_alice(mech, "n");
        assert_eq!(log_in(&sasl, &both(), &client), alice(), "{mech}");
        let none = ChannelBindings::default();
        assert_eq!(log_in(&sasl, &none, &client), alice(), "{mech}");
    }
}

/// A -PLUS mechanism cannot start on a connection without binding data: it was not offered.
#[test]
fn plus_needs_binding_data() {
    let (sasl, _dir) = server();
    let client = Client::plus_alice("SCRAM-SHA-256-PLUS", "tls-exporter", EXPORTER);
    let none = ChannelBindings::default();
    assert_eq!(log_in(&sasl, &none, &client), Seen::NotOffered);
    assert!(sasl
        .start("SCRAM-SHA-512-PLUS", "localhost", &both())
        .is_none());
    assert!(sasl.start("SCRAM-SHA-512", "localhost", &both()).is_none());
}

/// The flag must fit the mechanism: a -PLUS one binds (`p`), a plain one does not (`n`, `y`).
#[test]
fn a_flag_that_does_not_fit_the_mechanism_is_refused() {
    let (sasl, _dir) = server();
    for flag in ["n", "y"] {
        let client = Client::unbound_alice("SCRAM-SHA-256-PLUS", flag);
        assert_eq!(
            log_in(&sasl, &both(), &client),
            Seen::RefusedFirst,
            "{flag}"
        );
    }
    let bound_under_plain_name = Client::plus_alice("SCRAM-SHA-256", "tls-exporter", EXPORTER);
    assert_eq!(
        log_in(&sasl, &both(), &bound_under_plain_name),
        Seen::RefusedFirst
    );
}
