//! Federation (RFC 6120 server-to-server streams, XEP-0220 dialback) between two cordial
//! servers in one process, each serving its own domain on loopback, found through static
//! routes or DNS SRV records on a stub nameserver: chat both ways, offline delivery of a
//! remote sender's message, an unreachable domain answered `<remote-server-not-found/>`.

mod common;

use common::*;
use cordial::config::Config;

const PW: &str = "pw";

const TOKEN: &str = "federation-admin-token";

/// A server for `domain` whose federation listener is on a free loopback port.
async fn server_for(domain: &str) -> TestServer {
    let domain = domain.to_string();
    TestServer::start_with(move |c| {
        c.domains = vec![domain];
        c.web.admin_token = TOKEN.into();
    })
    .await
}

/// GET on the admin endpoints of `s`, mounted as an embedding app would.
async fn admin_get(s: &TestServer, path: &str) -> String {
    use actix_web::dev::Service;
    let app = actix_web::test::init_service(
        actix_web::App::new().configure(cordial::web::configure(&s.handle().web())),
    )
    .await;
    let req = actix_web::test::TestRequest::get()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {TOKEN}")))
        .to_request();
    let resp = app.call(req).await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    let body = actix_web::body::MessageBody::try_into_bytes(resp.into_body()).unwrap_or_default();
    String::from_utf8(body.to_vec()).unwrap()
}

/// Points each server's route for the other's domain at the other's s2s listener.
fn route(from: &TestServer, to: &TestServer) {
    let mut config: Config = from.config.clone();
    let domain = to.config.domains[0].clone();
    let addr = to.handle().s2s_addr().unwrap().to_string();
    config.s2s.routes.insert(domain, addr);
    from.handle().reload_with(config).expect("routes reloaded");
}

async fn add(s: &TestServer, jid: &str) {
    let bare = jid::BareJid::new(jid).unwrap();
    assert!(s.handle().add_user(&bare, PW).await.unwrap());
}

/// A client logged in on `s` as `user@domain`, bound to `resource`, with available presence
/// sent and its own reflected presence consumed.
async fn online(s: &TestServer, user: &str, resource: &str) -> Client {
    let domain = s.config.domains[0].clone();
    let mut c = Client::connect(s.addr()).await;
    c.open_to(&domain).await.expect("features");
    c.upgrade_tls("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await;
    c.open_to(&domain).await.expect("features after TLS");
    assert!(
        c.auth_scram(user, PW, "SCRAM-SHA-256").await,
        "{user} logs in"
    );
    c.restart_to(&domain).await.expect("features after SASL");
    c.bind(Some(resource)).await;
    c.send("<presence/>").await;
    c.own_presence().await;
    c
}

async fn pair() -> (TestServer, TestServer) {
    let a = server_for("a.test").await;
    let b = server_for("b.test").await;
    route(&a, &b);
    route(&b, &a);
    add(&a, "alice@a.test").await;
    add(&b, "bob@b.test").await;
    (a, b)
}

#[actix_rt::test]
async fn chat_both_ways_across_two_servers() {
    let (a, b) = pair().await;
    let mut alice = online(&a, "alice", "phone").await;
    let mut bob = online(&b, "bob", "desk").await;

    alice
        .send("<message to='bob@b.test' type='chat' id='m1'><body>hello bob</body></message>")
        .await;
    let m = bob.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("hello bob"));
    assert_eq!(
        m.attr("from"),
        Some("alice@a.test/phone"),
        "from as stamped by alice's server"
    );
    assert_eq!(m.attr("to"), Some("bob@b.test"));

    bob.send(
        "<message to='alice@a.test/phone' type='chat' id='m2'><body>hi alice</body></message>",
    )
    .await;
    let m = alice.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("hi alice"));
    assert_eq!(m.attr("from"), Some("bob@b.test/desk"));
    assert_eq!(
        a.handle().s2s_outgoing(),
        [("a.test".to_string(), "b.test".to_string())]
    );
    assert_eq!(
        b.handle().s2s_outgoing(),
        [("b.test".to_string(), "a.test".to_string())]
    );

    // The admin API lists the streams; the metrics count what crossed them.
    let listed: serde_json::Value =
        serde_json::from_str(&admin_get(&b, "/admin/api/s2s").await).unwrap();
    assert_eq!(
        listed["outgoing"],
        serde_json::json!([{"local": "b.test", "remote": "a.test"}])
    );
    assert_eq!(
        listed["incoming"][0]["domains"],
        serde_json::json!(["a.test"])
    );
    assert_eq!(listed["incoming"][0]["authentication"], "dialback");
    let metrics = admin_get(&b, "/admin/metrics").await;
    assert!(
        metrics.contains("cordial_s2s_stanzas_in_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cordial_s2s_stanzas_out_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("cordial_s2s_dialback_verified_total 1"),
        "{metrics}"
    );
}

#[actix_rt::test]
async fn a_message_from_another_server_waits_offline() {
    let (a, b) = pair().await;
    let mut alice = online(&a, "alice", "phone").await;
    alice
        .send("<message to='bob@b.test' type='chat' id='m1'><body>while you were out</body></message>")
        .await;
    // Stored at b.test (durably, before anything else happens to it); bob gets it, stamped
    // with a delay, when he comes online.
    let stored = poll_until(|| async {
        let totals = b.handle().storage().offline_totals().ok()?;
        (totals.messages == 1).then_some(())
    })
    .await;
    assert!(stored.is_some(), "the message is stored at b.test");
    let mut bob = online_raw(&b).await;
    bob.send("<presence/>").await;
    let own = |e: &minidom::Element| e.name() == "presence";
    let m = bob
        .expect_where_tolerating(|e| e.name() == "message", own)
        .await;
    assert_eq!(body(&m).as_deref(), Some("while you were out"));
    assert_eq!(m.attr("from"), Some("alice@a.test/phone"));
    assert!(m.get_child("delay", "urn:xmpp:delay").is_some(), "{m:?}");
}

/// Bob, logged in and bound, no presence sent yet.
async fn online_raw(b: &TestServer) -> Client {
    let mut c = Client::connect(b.addr()).await;
    c.open_to("b.test").await.expect("features");
    c.upgrade_tls("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await;
    c.open_to("b.test").await.expect("features after TLS");
    assert!(c.auth_scram("bob", PW, "SCRAM-SHA-256").await);
    c.restart_to("b.test").await.expect("features after SASL");
    c.bind(Some("desk")).await;
    c
}

#[actix_rt::test]
async fn a_domain_without_a_server_is_answered_remote_server_not_found() {
    let a = server_for("a.test").await;
    add(&a, "alice@a.test").await;
    let mut alice = online(&a, "alice", "phone").await;
    alice
        .send("<message to='x@nowhere.test' type='chat' id='lost'><body>hello?</body></message>")
        .await;
    let e = alice.expect_where(|e| e.name() == "message").await;
    assert_eq!(e.attr("type"), Some("error"));
    assert_eq!(e.attr("id"), Some("lost"));
    assert_eq!(
        error_condition(&e).as_deref(),
        Some("remote-server-not-found")
    );

    // A route to a port where nothing listens: the same, once the connection is refused.
    let mut config = a.config.clone();
    config
        .s2s
        .routes
        .insert("down.test".into(), "127.0.0.1:1".into());
    a.handle().reload_with(config).unwrap();
    alice
        .send("<message to='x@down.test' type='chat' id='down'><body>hello?</body></message>")
        .await;
    let e = alice.expect_where(|e| e.name() == "message").await;
    assert_eq!(e.attr("id"), Some("down"));
    assert_eq!(
        error_condition(&e).as_deref(),
        Some("remote-server-not-found")
    );
}

/// Without a static route, the server is found through DNS: `_xmpp-server._tcp.b.test` names
/// xmpp.b.test on b's port, xmpp.b.test has an A record (RFC 6120 §3.2.1).
#[actix_rt::test]
async fn a_server_found_through_dns_srv() {
    let b = server_for("b.test").await;
    add(&b, "bob@b.test").await;
    let port = b.handle().s2s_addr().unwrap().port();
    let ns = dns::stub(vec![
        dns::Answer::Srv {
            name: "_xmpp-server._tcp.b.test.".into(),
            priority: 10,
            port,
            target: "xmpp.b.test.".into(),
        },
        dns::Answer::A {
            name: "xmpp.b.test.".into(),
            ip: std::net::Ipv4Addr::LOCALHOST,
        },
    ])
    .await;
    let a = TestServer::start_with(move |c| {
        c.domains = vec!["a.test".into()];
        c.s2s.nameservers = vec![ns];
    })
    .await;
    add(&a, "alice@a.test").await;
    // b verifies a's dialback key with a: through its route.
    route(&b, &a);
    let mut alice = online(&a, "alice", "phone").await;
    let mut bob = online(&b, "bob", "desk").await;
    alice
        .send("<message to='bob@b.test' type='chat' id='m1'><body>found you</body></message>")
        .await;
    let m = bob.expect_where(|e| e.name() == "message").await;
    assert_eq!(body(&m).as_deref(), Some("found you"));
}

/// A raw server-to-server connection to `addr`, as a server claiming `from` would open it:
/// header, STARTTLS, TLS, header again; the TLS stream and what has been read so far.
async fn rogue_stream(
    addr: std::net::SocketAddr,
    from: &str,
    to: &str,
) -> (tokio_openssl::SslStream<tokio::net::TcpStream>, String) {
    use tokio::io::AsyncWriteExt;
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='{from}' to='{to}' version='1.0'>"
    );
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(header.as_bytes()).await.unwrap();
    read_until(&mut tcp, "</stream:features>").await;
    tcp.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await
        .unwrap();
    read_until(&mut tcp, "<proceed").await;
    let mut tls = TlsOptions::default().connect(tcp).await.unwrap();
    tls.write_all(header.as_bytes()).await.unwrap();
    let seen = read_until(&mut tls, "</stream:features>").await;
    (tls, seen)
}

/// Reads until `what` has come (within the wait), and returns all that was read.
async fn read_until(io: &mut (impl tokio::io::AsyncRead + Unpin), what: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(WAIT, async {
        while !String::from_utf8_lossy(&got).contains(what) {
            let n = io.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| {
        panic!(
            "no {what:?} within {WAIT:?}: {}",
            String::from_utf8_lossy(&got)
        )
    });
    String::from_utf8_lossy(&got).into_owned()
}

/// A server that claims to be a.test without a.test's key: b.test asks a.test, which denies
/// it; b.test answers `invalid`, and a stanza sent from a.test anyway closes the stream with a
/// stream error and is never delivered.
#[actix_rt::test]
async fn a_spoofed_domain_is_refused_and_nothing_is_delivered() {
    use tokio::io::AsyncWriteExt;
    let (a, b) = pair().await;
    let _ = &a;
    let mut bob = online(&b, "bob", "desk").await;
    let (mut tls, features) =
        rogue_stream(b.handle().s2s_addr().unwrap(), "a.test", "b.test").await;
    assert!(
        features.contains("urn:xmpp:features:dialback"),
        "{features}"
    );
    tls.write_all(b"<db:result from='a.test' to='b.test'>00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:result>")
        .await
        .unwrap();
    let answer = read_until(&mut tls, "type=").await;
    assert!(answer.contains("invalid"), "{answer}");
    tls.write_all(b"<message from='alice@a.test/phone' to='bob@b.test' type='chat'><body>spoofed</body></message>")
        .await
        .unwrap();
    let closed = read_until(&mut tls, "</stream:stream>").await;
    assert!(closed.contains("not-authorized"), "{closed}");
    bob.expect_quiet().await;
}
