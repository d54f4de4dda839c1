//! RFC 6120 streams: headers, STARTTLS, direct TLS, SASL, binding, and bad input.

mod common;

use common::*;

/// RFC 6120 §4.9.3.6: a `to` we do not serve gets our header, then `<host-unknown/>`.
#[actix_rt::test]
async fn rfc6120_4_9_3_6_unknown_host_is_host_unknown() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    assert!(c.open_to("elsewhere.example").await.is_none());
    assert_eq!(c.header.get("from").map(String::as_str), Some(DOMAIN));
    assert_eq!(c.expect_stream_error().await, "host-unknown");
}

/// RFC 6120 §4.9.3.10: a wrong stream namespace is `<invalid-namespace/>`.
#[actix_rt::test]
async fn rfc6120_4_9_3_10_wrong_stream_namespace_is_invalid_namespace() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong' to='localhost' version='1.0'>").await;
    assert_eq!(c.expect_stream_error().await, "invalid-namespace");
}

/// RFC 6120 §4.9.3.25: a version other than 1.0 is `<unsupported-version/>`.
#[actix_rt::test]
async fn rfc6120_4_9_3_25_version_2_is_unsupported_version() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='2.0'>").await;
    assert_eq!(c.expect_stream_error().await, "unsupported-version");
}

/// RFC 6120 §4.9.3.13: malformed XML is `<not-well-formed/>`, and the stream closes.
#[actix_rt::test]
async fn rfc6120_4_9_3_13_malformed_xml_is_not_well_formed() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.open().await;
    c.send("<foo><bar></foo>").await;
    assert_eq!(c.expect_stream_error().await, "not-well-formed");
}

/// RFC 6120 §11.1: comments and processing instructions are `<restricted-xml/>`.
#[actix_rt::test]
async fn rfc6120_11_1_comments_and_processing_instructions_are_restricted_xml() {
    let s = TestServer::start().await;
    for evil in ["<!-- hello -->", "<?php echo 1; ?>"] {
        let mut c = Client::connect(s.addr()).await;
        c.open().await;
        c.send(evil).await;
        assert_eq!(
            c.expect_stream_error().await,
            "restricted-xml",
            "for {evil}"
        );
    }
}

/// RFC 6120 §8 / §4.9.3.12: stanzas before authentication are `<not-authorized/>`.
#[actix_rt::test]
async fn rfc6120_stanza_before_authentication_is_not_authorized() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    c.send("<message to='bob@localhost'><body>sneaky</body></message>")
        .await;
    assert_eq!(c.expect_stream_error().await, "not-authorized");
}

/// RFC 6120 §4.9.3.24: an unknown top-level element is `<unsupported-stanza-type/>`.
#[actix_rt::test]
async fn rfc6120_4_9_3_24_unknown_top_level_element_is_unsupported_stanza_type() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = s.login("alice", "pw", "r").await;
    c.send("<gossip xmlns='jabber:client'/>").await;
    assert_eq!(c.expect_stream_error().await, "unsupported-stanza-type");
}

/// RFC 6120 §13.12: a stanza over the size limit is `<policy-violation/>`; other sessions go on.
#[actix_rt::test]
async fn rfc6120_13_12_oversized_stanza_is_policy_violation_and_others_continue() {
    let s = TestServer::start_with(|c| c.limits.max_stanza_bytes = 8192).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let mut alice = s.login("alice", "pw", "r").await;
    let big = "x".repeat(20_000);
    alice
        .send(&format!(
            "<message to='bob@localhost'><body>{big}</body></message>"
        ))
        .await;
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
    // bob never saw the oversized message, and still gets served.
    let pong = bob
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert_eq!(pong.attr("type"), Some("result"));
}

/// Deeply nested XML is cut off at the depth limit with `<policy-violation/>`.
#[actix_rt::test]
async fn deeply_nested_xml_is_policy_violation() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut alice = s.login("alice", "pw", "r").await;
    alice
        .send(&format!(
            "<message to='alice@localhost'>{}",
            "<a>".repeat(5000)
        ))
        .await;
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
}

/// A huge attribute value is cut off with `<policy-violation/>` before it is buffered whole.
#[actix_rt::test]
async fn huge_attribute_value_is_policy_violation() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut alice = s.login("alice", "pw", "r").await;
    alice
        .send(&format!(
            "<message to='alice@localhost' id='{}'/>",
            "y".repeat(100_000)
        ))
        .await;
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
}

/// RFC 6120 §5.3.1: TLS is required before authentication by default, so no mechanism is
/// offered in the clear and an `<auth/>` is refused with `<encryption-required/>`.
#[actix_rt::test]
async fn rfc6120_5_3_1_tls_required_before_authentication() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    let f = c.open().await;
    let tls = f
        .get_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
        .expect("STARTTLS offered");
    assert!(tls.has_child("required", "urn:ietf:params:xml:ns:xmpp-tls"));
    assert!(c.mechanisms().is_empty(), "no SASL mechanism before TLS");
    assert!(!c.auth_scram("alice", "pw", "SCRAM-SHA-256").await);
    assert_eq!(c.last_failure.as_deref(), Some("encryption-required"));
}

/// With `auth.require_tls = false` (loopback benchmarking) SASL works without TLS.
#[actix_rt::test]
async fn plaintext_authentication_only_when_switched_on() {
    let s = TestServer::start_with(|c| c.auth.require_tls = false).await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.open().await;
    assert!(c.mechanisms().contains(&"PLAIN".to_string()));
    assert!(c.auth_scram("alice", "pw", "SCRAM-SHA-1").await);
}

/// After STARTTLS the features offer SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS) and PLAIN, and no
/// STARTTLS.
#[actix_rt::test]
async fn rfc6120_6_mechanisms_after_tls() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    let mut m = c.mechanisms();
    m.sort();
    assert_eq!(
        m,
        [
            "PLAIN",
            "SCRAM-SHA-1",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-256",
            "SCRAM-SHA-256-PLUS"
        ]
    );
    assert!(c
        .features
        .as_ref()
        .unwrap()
        .get_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
        .is_none());
}

/// SCRAM-SHA-1, SCRAM-SHA-256 and PLAIN all log in with the stored keys.
#[actix_rt::test]
async fn rfc6120_6_every_mechanism_logs_in() {
    let s = TestServer::start().await;
    s.add_user("alice", "correct horse").await;
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1"] {
        let mut c = Client::connect(s.addr()).await;
        c.negotiate_tls().await;
        assert!(c.auth_scram("alice", "correct horse", mech).await, "{mech}");
    }
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert_eq!(
        c.auth_plain("alice", "correct horse").await.name(),
        "success"
    );
}

/// With several hosted domains, a client authenticates as `localpart@<the stream's domain>`
/// (RFC 6120 §6.3.8) and is checked against that account only: the password of
/// alice@localhost does not log in as alice@other.test, and bob@other.test logs in on a stream
/// to other.test (with SCRAM and PLAIN) but not on one to localhost.
#[actix_rt::test]
async fn rfc6120_6_3_8_each_hosted_domain_checks_its_own_accounts() {
    let s = TestServer::start_with(|c| c.domains.push("other.test".into())).await;
    s.add_user("alice", "alice's password").await;
    let bob = jid::BareJid::new("bob@other.test").unwrap();
    assert!(s.handle().add_user(&bob, "bob's password").await.unwrap());
    let stream_to = |domain: &'static str| {
        let addr = s.addr();
        async move {
            let mut c = Client::connect(addr).await;
            c.open_to(domain).await.expect("stream features");
            c.upgrade_tls("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
                .await;
            c.open_to(domain).await.expect("stream features");
            c
        }
    };
    let mut c = stream_to("other.test").await;
    assert!(
        !c.auth_scram("alice", "alice's password", "SCRAM-SHA-256")
            .await
    );
    let mut c = stream_to("other.test").await;
    assert_eq!(
        c.auth_plain("alice", "alice's password").await.name(),
        "failure"
    );
    let mut c = stream_to("localhost").await;
    assert!(!c.auth_scram("bob", "bob's password", "SCRAM-SHA-1").await);
    let mut c = stream_to("other.test").await;
    assert_eq!(
        c.auth_plain("bob", "bob's password").await.name(),
        "success"
    );
    let mut c = stream_to("other.test").await;
    assert!(c.auth_scram("bob", "bob's password", "SCRAM-SHA-256").await);
    c.restart_to("other.test").await.expect("stream features");
    assert_eq!(c.bind(Some("r")).await, "bob@other.test/r");
}

/// RFC 6120 §6.5.10: a wrong password is `<not-authorized/>` and the client may retry; after
/// `auth.max_attempts` failures the stream is closed.
#[actix_rt::test]
async fn rfc6120_6_4_5_failed_auth_allows_retry_then_closes() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert!(!c.auth_scram("alice", "wrong", "SCRAM-SHA-256").await);
    assert_eq!(c.last_failure.as_deref(), Some("not-authorized"));
    assert!(
        c.auth_scram("alice", "pw", "SCRAM-SHA-256").await,
        "a retry with the right password works"
    );

    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    for _ in 0..2 {
        let f = c.auth_plain("alice", "nope").await;
        assert_eq!(f.name(), "failure");
    }
    assert!(
        !c.auth_scram("nobody", "pw", "SCRAM-SHA-256").await,
        "unknown users fail the same way"
    );
    assert_eq!(c.last_failure.as_deref(), Some("not-authorized"));
    assert_eq!(c.expect_stream_error().await, "policy-violation");
}

/// Brute force: past `auth.account_failures_before_backoff` failures naming one account, that
/// account backs off — even the right password gets `<temporary-auth-failure/>` (RFC 6120
/// §6.5.13) — while other accounts still log in; past `auth.ip_failures_before_backoff`, the
/// whole address backs off.
#[actix_rt::test]
async fn brute_force_backs_off_per_account_then_per_address() {
    let s = TestServer::start_with(|c| {
        c.auth.max_attempts = 10;
        c.auth.account_failures_before_backoff = 3;
        c.auth.ip_failures_before_backoff = 6;
    })
    .await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    for _ in 0..3 {
        assert!(!c.auth_scram("alice", "guess", "SCRAM-SHA-256").await);
        assert_eq!(c.last_failure.as_deref(), Some("not-authorized"));
    }
    assert!(!c.auth_scram("alice", "pw", "SCRAM-SHA-256").await);
    assert_eq!(c.last_failure.as_deref(), Some("temporary-auth-failure"));
    let f = c.auth_plain("alice", "pw").await;
    assert!(f.has_child("temporary-auth-failure", "urn:ietf:params:xml:ns:xmpp-sasl"));
    assert!(
        c.auth_scram("bob", "pw", "SCRAM-SHA-256").await,
        "another account is not affected"
    );

    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    for _ in 0..3 {
        assert!(!c.auth_scram("bob", "guess", "SCRAM-SHA-1").await);
    }
    // Six failures from this address: it backs off whatever account it names.
    assert!(!c.auth_scram("carol", "pw", "SCRAM-SHA-1").await);
    assert_eq!(c.last_failure.as_deref(), Some("temporary-auth-failure"));
}

/// Connection floods: past `limits.max_connections_per_ip` open connections from one address
/// (even ones that never send a header), a new one is closed with `<policy-violation/>`; a
/// place frees when a connection ends.
#[actix_rt::test]
async fn connections_per_address_are_limited() {
    let s = TestServer::start_with(|c| {
        c.limits.max_connections_per_ip = 3;
        c.limits.loopback_exempt = false;
    })
    .await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(s.addr()).await.unwrap());
    }
    let mut c = Client::connect(s.addr()).await;
    assert_eq!(c.expect_stream_error().await, "policy-violation");
    drop(silent.pop());
    // The place frees once the server has seen that connection end; until then a new one is
    // still refused.
    let addr = s.addr();
    let mut c = eventually("a place frees", || async move {
        let mut c = Client::connect(addr).await;
        match c.open_to(DOMAIN).await {
            Some(_) => Ok(c),
            None => Err("still refused"),
        }
    })
    .await;
    c.starttls().await;
}

/// RFC 6120 §6.4.4: an unknown or unoffered mechanism is `<invalid-mechanism/>`.
#[actix_rt::test]
async fn rfc6120_6_5_invalid_mechanism() {
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-MAGIC'>AA==</auth>")
        .await;
    let f = c.expect_element().await;
    assert_eq!(f.name(), "failure");
    assert!(f.has_child("invalid-mechanism", "urn:ietf:params:xml:ns:xmpp-sasl"));
}

/// XEP-0368: direct TLS on its own port, then SASL without STARTTLS.
#[actix_rt::test]
async fn xep0368_direct_tls_logs_in() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect_direct_tls(s.tls_addr()).await;
    let f = c.open().await;
    assert!(f
        .get_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls")
        .is_none());
    assert!(c.auth_scram("alice", "pw", "SCRAM-SHA-256").await);
    c.restart().await;
    assert_eq!(c.bind(Some("phone")).await, "alice@localhost/phone");
}

/// RFC 6120 §7: a client-chosen resource, a server-chosen one, and resourceprep.
#[actix_rt::test]
async fn rfc6120_7_binding() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert!(c.auth_scram("alice", "pw", "SCRAM-SHA-256").await);
    c.restart().await;
    let f = c.features.clone().unwrap();
    assert!(f
        .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
        .is_some());
    let session = f
        .get_child("session", "urn:ietf:params:xml:ns:xmpp-session")
        .expect("session advertised");
    assert!(session.has_child("optional", "urn:ietf:params:xml:ns:xmpp-session"));
    // RFC 6120 §6.4.6: no SASL after authentication, not even an empty mechanism list.
    assert!(
        !f.has_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"),
        "{}",
        String::from(&f)
    );
    let jid = c.bind(None).await;
    assert!(
        jid.starts_with("alice@localhost/") && jid.len() > "alice@localhost/".len(),
        "{jid}"
    );

    let mut c = s.login("alice", "pw", "Laptop").await;
    assert_eq!(c.jid.as_deref(), Some("alice@localhost/Laptop"));
    // RFC 3921 §3: the legacy session iq is answered with a result.
    let r = c
        .iq(
            "set",
            None,
            "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>",
        )
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

/// RFC 6120 §7.7.2.1: a resource that fails resourceprep is `<bad-request/>`.
#[actix_rt::test]
async fn rfc6120_7_7_2_1_bad_resource_is_bad_request() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert!(c.auth_scram("alice", "pw", "SCRAM-SHA-256").await);
    c.restart().await;
    // Valid XML, but longer than the 1023 bytes a resourcepart may have (RFC 7622 §3.4).
    let long = "r".repeat(1100);
    c.send(&format!("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{long}</resource></bind></iq>")).await;
    let r = c.expect_element().await;
    assert_eq!(error_condition(&r).as_deref(), Some("bad-request"));
}

/// RFC 3921 §3 case #1 / RFC 6120 §7.7.2.2: binding the same full JID again kicks the old
/// session with `<conflict/>`; the new one works.
#[actix_rt::test]
async fn rfc3921_3_same_resource_again_kicks_the_old_session_with_conflict() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut old = s.online("alice", "pw", "home", 0).await;
    let mut new = s.online("alice", "pw", "home", 0).await;
    assert_eq!(old.expect_stream_error().await, "conflict");
    let mut bob = s.online("bob", "pw", "r", 0).await;
    bob.send("<message to='alice@localhost/home' type='chat'><body>still there?</body></message>")
        .await;
    let m = new.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("still there?"));
}

/// RFC 6120 §8.1.2.1: a `from` that is not the session's JID is `<invalid-from/>` and the
/// stanza is never delivered.
#[actix_rt::test]
async fn rfc6120_8_1_2_1_spoofed_from_is_invalid_from_and_never_delivered() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let mut alice = s.login("alice", "pw", "r").await;
    alice
        .send("<message from='mallory@localhost/x' to='bob@localhost'><body>spoof</body></message>")
        .await;
    assert_eq!(alice.expect_stream_error().await, "invalid-from");
    // Alice's session handled the stanza before it wrote the error: anything it had routed to
    // bob would be queued for him before the answer to his ping.
    bob.expect_quiet().await;
}

/// The server stamps `from` with the full JID, whatever (valid) form the client used.
#[actix_rt::test]
async fn rfc6120_8_1_2_1_from_is_stamped_with_the_full_jid() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let mut alice = s.login("alice", "pw", "desk").await;
    alice.send("<message from='alice@localhost' to='bob@localhost' type='chat'><body>1</body></message>").await;
    alice
        .send("<message to='bob@localhost' type='chat'><body>2</body></message>")
        .await;
    for n in ["1", "2"] {
        let m = bob.expect_where(|e| e.name() == "message").await;
        assert_eq!(m.attr("from"), Some("alice@localhost/desk"));
        assert_eq!(body(&m).as_deref(), Some(n));
    }
}

/// RFC 6120 §4.4 and §4.6.1: whitespace keepalives are fine; `</stream:stream>` is answered
/// with ours.
#[actix_rt::test]
async fn rfc6120_4_4_keepalives_and_closing_handshake() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = s.login("alice", "pw", "r").await;
    c.send(" \n \t ").await;
    let r = c
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
    c.send("</stream:stream>").await;
    assert!(matches!(c.next().await, Got::Footer));
}

const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";

/// RFC 6120 §11.7: whitespace before the first stream header (XML declaration included), sent
/// on its own and in the header's packet, is skipped; the client logs in and binds.
#[actix_rt::test]
async fn rfc6120_11_7_whitespace_before_the_first_stream_header_is_accepted() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.send("\r\n").await;
    let f = c.open_after(" \n\t").await;
    assert!(f.has_child("starttls", NS_TLS), "{}", String::from(&f));
    c.starttls().await;
    assert!(c.auth_scram("alice", "pw", "SCRAM-SHA-256").await);
    c.restart().await;
    assert_eq!(c.bind(Some("r")).await, "alice@localhost/r");
}

/// RFC 6120 §11.7: a newline after `<starttls/>` (plaintext, dropped before the handshake) and
/// whitespace before the header of the encrypted stream are accepted.
#[actix_rt::test]
async fn rfc6120_11_7_whitespace_around_the_starttls_restart_is_accepted() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.open().await;
    c.upgrade_tls("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n")
        .await;
    c.send("\n").await;
    let f = c.open_after("\r\n ").await;
    assert!(f.has_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"));
    assert!(c.auth_scram("alice", "pw", "SCRAM-SHA-256").await);
    c.restart().await;
    assert_eq!(c.bind(Some("r")).await, "alice@localhost/r");
}

/// RFC 6120 §11.7: what go-sendxmpp does — `</auth>` followed by a newline, and the new
/// stream header only after `<success/>` — logs in; so does whitespace in the header's packet.
#[actix_rt::test]
async fn rfc6120_11_7_whitespace_after_auth_before_the_sasl_restart_is_accepted() {
    use base64::Engine as _;
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    let token = base64::engine::general_purpose::STANDARD.encode("\0alice\0pw");
    c.send(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>\n"
    ))
    .await;
    assert_eq!(c.expect_element().await.name(), "success");
    c.restart().await;
    assert_eq!(c.bind(Some("sendxmpp")).await, "alice@localhost/sendxmpp");

    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    assert!(c.auth_scram("alice", "pw", "SCRAM-SHA-1").await);
    c.restart_after("\n \r\n").await;
    assert_eq!(c.bind(Some("scram")).await, "alice@localhost/scram");
}

/// Whitespace before a header is bounded like everything a client sends: past
/// `MAX_WHITESPACE_BEFORE_HEADER` bytes the stream ends with `<policy-violation/>` (RFC 6120
/// §4.9.3.17), whether it came in one packet or many.
#[actix_rt::test]
async fn whitespace_before_a_stream_header_is_bounded() {
    use cordial::fuzzing::MAX_WHITESPACE_BEFORE_HEADER as MAX;
    let s = TestServer::start().await;
    let mut c = Client::connect(s.addr()).await;
    c.send(&" ".repeat(MAX + 1)).await;
    assert_eq!(c.expect_stream_error().await, "policy-violation");

    let mut c = Client::connect(s.addr()).await;
    for _ in 0..4 {
        c.send(&"\n".repeat(MAX / 3)).await;
    }
    assert_eq!(c.expect_stream_error().await, "policy-violation");

    // Up to the bound, it is accepted.
    let mut c = Client::connect(s.addr()).await;
    c.open_after(&"\t".repeat(MAX)).await;
}

/// RFC 6120 §4.6.1: a bound client that falls silent is checked with a ping; stanzas for it
/// still flow meanwhile; if it never answers, its stream ends with `<connection-timeout/>`.
#[actix_rt::test]
async fn rfc6120_4_6_1_a_silent_client_is_pinged_then_timed_out() {
    let s = TestServer::start_with(|c| c.limits.idle_timeout_secs = 10).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut quiet = s.online("alice", "pw", "r", 0).await;
    let mut bob = s.online("bob", "pw", "r", 0).await;
    let Some(Got::Element(ping)) = quiet.next_within(std::time::Duration::from_secs(15)).await
    else {
        panic!("no ping to a silent client");
    };
    assert_eq!(ping.name(), "iq");
    assert!(ping.has_child("ping", "urn:xmpp:ping"));
    // Bob, as silent so far, answers his own ping, then talks to alice (not the server): her
    // stream is still written to...
    let bob_ping = bob
        .expect_where(|e| e.name() == "iq" && e.attr("type") == Some("get"))
        .await;
    let id = bob_ping.attr("id").unwrap().to_string();
    bob.send(&format!("<iq type='result' id='{id}' to='{DOMAIN}'/>"))
        .await;
    bob.send("<message to='alice@localhost/r' type='chat'><body>still there?</body></message>")
        .await;
    let m = quiet.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("still there?"));
    // ...but what counts is that she says nothing: the stream is closed.
    let Some(Got::Element(e)) = quiet.next_within(std::time::Duration::from_secs(15)).await else {
        panic!("a client that never answers is not disconnected");
    };
    assert_eq!(e.name(), "error");
    assert!(e.has_child("connection-timeout", "urn:ietf:params:xml:ns:xmpp-streams"));
    // Bob, who kept talking to the server, is still served.
    let r = bob
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert_eq!(r.attr("type"), Some("result"));
}

/// RFC 6120 §4.4: stanzas sent in the same packet as the closing tag are still answered,
/// before the server's own closing tag.
#[actix_rt::test]
async fn rfc6120_4_4_a_request_sent_with_the_closing_tag_is_answered_first() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut c = s.login("alice", "pw", "r").await;
    c.send(&format!(
        "<iq type='get' id='last' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq></stream:stream>"
    ))
    .await;
    let r = c.expect_where(|e| e.name() == "iq").await;
    assert_eq!(r.attr("id"), Some("last"));
    assert_eq!(r.attr("type"), Some("result"));
    assert!(matches!(c.next().await, Got::Footer));
}

/// A client that does not read has a bounded queue and is disconnected when it overflows,
/// while the sender is unaffected.
#[actix_rt::test]
async fn a_client_that_does_not_read_is_disconnected() {
    let s = TestServer::start_with(|c| c.limits.outbound_queue = 16).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut sleepy = s.online("bob", "pw", "r", 0).await;
    let mut alice = s.online("alice", "pw", "r", 0).await;
    let chunk = "z".repeat(60_000);
    for _ in 0..400 {
        alice
            .send(&format!(
                "<message to='bob@localhost/r' type='chat'><body>{chunk}</body></message>"
            ))
            .await;
    }
    let r = alice
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert_eq!(r.attr("type"), Some("result"), "the sender is still served");
    // Draining what was written before the cut, bob's stream ends with policy-violation.
    loop {
        match sleepy.next().await {
            Got::Element(e) if e.name() == "message" => continue,
            Got::Element(e) => {
                assert_eq!(e.name(), "error");
                assert!(e.has_child("policy-violation", "urn:ietf:params:xml:ns:xmpp-streams"));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// RFC 6120 §4.9.3.10: stanzas in a content namespace other than jabber:client on a client
/// stream are `<invalid-namespace/>`.
#[actix_rt::test]
async fn rfc6120_4_9_3_10_stanza_in_wrong_content_namespace_is_invalid_namespace() {
    let s = TestServer::start().await;
    s.add_user("alice", "pw").await;
    let mut alice = s.login("alice", "pw", "r").await;
    alice
        .send("<message xmlns='jabber:server' to='alice@localhost'><body>x</body></message>")
        .await;
    assert_eq!(alice.expect_stream_error().await, "invalid-namespace");
}

/// A client sending faster than `limits.stanzas_per_sec` is slowed, not cut off: every stanza
/// is answered in order, no faster than the rate allows after the burst, and another client is
/// served while the fast one waits.
#[actix_rt::test]
async fn a_fast_sender_is_slowed_to_the_stanza_rate_and_others_go_on() {
    let s = TestServer::start_with(|c| {
        c.limits.stanzas_per_sec = 10;
        c.limits.stanza_burst = 5;
    })
    .await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut alice = s.login("alice", "pw", "r").await;
    let mut bob = s.login("bob", "pw", "r").await;
    let started = std::time::Instant::now();
    let mut burst = String::new();
    for i in 0..25 {
        burst.push_str(&format!(
            "<iq type='get' id='p{i}' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>"
        ));
    }
    alice.send(&burst).await;
    // Alice's first answers come; bob is served while she is held back.
    let first = alice.expect_element().await;
    assert_eq!(first.attr("id"), Some("p0"));
    let pong = bob
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert_eq!(pong.attr("type"), Some("result"));
    for i in 1..25 {
        let e = alice.expect_element().await;
        assert_eq!(
            e.attr("id"),
            Some(format!("p{i}").as_str()),
            "in order, none dropped"
        );
        assert_eq!(e.attr("type"), Some("result"));
    }
    // 5 at once, then 20 at 10/s: the bucket cannot let them through in under 2 s.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1900),
        "the rate was not applied: 25 stanzas read in {:?}",
        started.elapsed()
    );
}

const ADMIN_TOKEN: &str = "streams-admin-token";

/// How many bound sessions the server lists (its admin API, mounted as an embedder would; the
/// server needs `web.admin_token` = [`ADMIN_TOKEN`]). A session leaves the list once its stream
/// is closed: after its stream error has been written.
async fn bound_sessions(s: &TestServer) -> usize {
    use actix_web::dev::Service;
    use actix_web::{test, App};
    let app =
        test::init_service(App::new().configure(cordial::web::configure(&s.handle().web()))).await;
    let req = test::TestRequest::get()
        .uri("/admin/api/sessions")
        .insert_header(("Authorization", format!("Bearer {ADMIN_TOKEN}")))
        .to_request();
    let resp = app.call(req).await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let body = test::read_body(resp).await;
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    json["sessions"].as_array().unwrap().len()
}

/// Lingering close: a client still sending when its stream is closed for a limit is not reset
/// mid-write (closing a socket with unread input resets it), and reads the stream error.
#[actix_rt::test]
async fn a_client_still_sending_reads_the_stream_error() {
    let s = TestServer::start_with(|c| {
        c.limits.max_stanza_bytes = 8192;
        c.web.admin_token = ADMIN_TOKEN.to_string();
    })
    .await;
    s.add_user("alice", "pw").await;
    let mut alice = s.login("alice", "pw", "r").await;
    assert_eq!(bound_sessions(&s).await, 1);
    let big = "x".repeat(100_000);
    alice
        .send(&format!("<message to='alice@localhost'><body>{big}"))
        .await;
    // The server has closed the stream (its error is written, unread here) ...
    eventually("the over-long stanza closes the stream", || async {
        match bound_sessions(&s).await {
            0 => Ok(()),
            n => Err(format!("{n} session(s) still bound")),
        }
    })
    .await;
    // ... and the client, not reading, goes on sending.
    for i in 0..6 {
        let more = alice.try_send(&big).await;
        assert!(more.is_ok(), "write {i} after the limit failed: {more:?}");
    }
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
}
