//! TLS as clients and operators meet it: TLS 1.3 and 1.2 on STARTTLS and direct TLS (older
//! versions refused), ALPN `xmpp-client` (XEP-0368), SCRAM-*-PLUS bound to the real
//! connection with `tls-exporter` (RFC 9266) and `tls-server-end-point` (RFC 5929), and
//! `tls-unique` over TLS 1.2, as advertised (XEP-0440), wrong binding data and the `y` downgrade refused (RFC 5802 §6), a
//! certificate per domain chosen by SNI, certificates as certbot and acme.sh write them, clear
//! startup errors, and a reload that swaps the certificate under a live session.

mod common;

use std::path::{Path, PathBuf};

use common::scram::ScramClient;
use common::*;
use cordial::config::TlsIdentity;
use openssl::ssl::SslVersion;

const PW: &str = "alice pw";
const XMPP_CLIENT: &[u8] = b"\x0bxmpp-client";

/// The channel binding types a stream's features advertise (XEP-0440).
fn advertised_binding_types(c: &Client) -> Vec<String> {
    c.features
        .as_ref()
        .and_then(|f| f.get_child("sasl-channel-binding", "urn:xmpp:sasl-cb:0"))
        .map(|cb| {
            cb.children()
                .filter_map(|t| t.attr("type").map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A STARTTLS client on `s` with its TLS set up as `options` say, stream features read.
async fn starttls(s: &TestServer, options: &TlsOptions) -> Result<Client, String> {
    let mut c = Client::connect(s.addr()).await;
    c.open().await;
    c.upgrade_tls_with(
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        options,
    )
    .await?;
    c.open().await;
    Ok(c)
}

/// A direct TLS client on `s`, stream features read.
async fn direct(s: &TestServer, options: &TlsOptions) -> Result<Client, String> {
    let mut c = Client::connect_direct_tls_with(s.tls_addr(), options).await?;
    c.open().await;
    Ok(c)
}

/// After SASL success: the stream restarts and a resource binds, so the login is real.
async fn bound(mut c: Client) -> Client {
    c.restart().await;
    c.bind(Some("tls")).await;
    c
}

async fn server_with_alice() -> TestServer {
    let s = TestServer::start().await;
    s.add_user("alice", PW).await;
    s
}

#[actix_rt::test]
async fn tls_1_3_and_1_2_on_starttls_and_direct_tls_and_nothing_older() {
    let s = server_with_alice().await;
    for version in [SslVersion::TLS1_3, SslVersion::TLS1_2] {
        let options = TlsOptions::only(version);
        let c = starttls(&s, &options).await.expect("STARTTLS handshake");
        assert_eq!(c.tls.as_ref().unwrap().version, version);
        let c = direct(&s, &options).await.expect("direct TLS handshake");
        assert_eq!(c.tls.as_ref().unwrap().version, version);
    }
    for old in [SslVersion::TLS1_1, SslVersion::TLS1] {
        let options = TlsOptions {
            // OpenSSL's default security level would keep our side of the test from offering
            // these at all.
            ciphers: Some("DEFAULT:@SECLEVEL=0".into()),
            ..TlsOptions::only(old)
        };
        assert!(
            direct(&s, &options).await.is_err(),
            "{old:?} accepted on direct TLS"
        );
        assert!(
            starttls(&s, &options).await.is_err(),
            "{old:?} accepted on STARTTLS"
        );
    }
}

#[actix_rt::test]
async fn alpn_xmpp_client_on_direct_tls() {
    let s = server_with_alice().await;
    let with = |alpn: &[u8]| TlsOptions {
        alpn: Some(alpn.to_vec()),
        ..Default::default()
    };
    let c = direct(&s, &with(XMPP_CLIENT)).await.unwrap();
    assert_eq!(
        c.tls.as_ref().unwrap().alpn.as_deref(),
        Some(&b"xmpp-client"[..])
    );
    // A client that also speaks HTTP/2 still gets xmpp-client.
    let c = direct(&s, &with(b"\x02h2\x0bxmpp-client")).await.unwrap();
    assert_eq!(
        c.tls.as_ref().unwrap().alpn.as_deref(),
        Some(&b"xmpp-client"[..])
    );
    // One that asks only for another protocol reached the wrong service: refused.
    assert!(direct(&s, &with(b"\x02h2")).await.is_err());
    // No ALPN at all: accepted, as most clients do.
    let c = direct(&s, &TlsOptions::default()).await.unwrap();
    assert_eq!(c.tls.as_ref().unwrap().alpn, None);
    // STARTTLS does not acknowledge ALPN: the stream is XMPP already.
    let c = starttls(&s, &with(XMPP_CLIENT)).await.unwrap();
    assert_eq!(c.tls.as_ref().unwrap().alpn, None);
}

#[actix_rt::test]
async fn each_plus_mechanism_logs_in_with_each_binding_type_over_tls_1_3() {
    let s = server_with_alice().await;
    let options = TlsOptions::only(SslVersion::TLS1_3);
    for mechanism in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] {
        for cb_type in ["tls-exporter", "tls-server-end-point"] {
            for on_direct in [false, true] {
                let mut c = if on_direct {
                    direct(&s, &options).await.unwrap()
                } else {
                    starttls(&s, &options).await.unwrap()
                };
                assert!(c.mechanisms().contains(&mechanism.to_string()));
                assert_eq!(
                    advertised_binding_types(&c),
                    ["tls-exporter", "tls-server-end-point"]
                );
                let seen = c.tls.clone().unwrap();
                let data = match cb_type {
                    "tls-exporter" => seen.tls_exporter.unwrap(),
                    _ => seen.tls_server_end_point,
                };
                let scram = ScramClient::plus(mechanism, cb_type, &data, PW);
                let result = c.auth_scram_bound("alice", &scram).await;
                assert_eq!(result, Ok(()), "{mechanism} {cb_type} direct={on_direct}");
                bound(c).await.close().await;
            }
        }
    }
}

/// Over TLS 1.2 there is no tls-exporter (RFC 9266 §2): tls-server-end-point is offered, and
/// tls-unique (with the extended master secret) for clients that have nothing else.
#[actix_rt::test]
async fn over_tls_1_2_tls_server_end_point_and_tls_unique_are_offered_and_work() {
    let s = server_with_alice().await;
    let options = TlsOptions::only(SslVersion::TLS1_2);
    for cb_type in ["tls-server-end-point", "tls-unique"] {
        let mut c = starttls(&s, &options).await.unwrap();
        assert_eq!(
            advertised_binding_types(&c),
            ["tls-server-end-point", "tls-unique"]
        );
        let seen = c.tls.clone().unwrap();
        assert_eq!(seen.tls_exporter, None);
        let data = match cb_type {
            "tls-unique" => seen.tls_unique.unwrap(),
            _ => seen.tls_server_end_point,
        };
        let scram = ScramClient::plus("SCRAM-SHA-256-PLUS", cb_type, &data, PW);
        assert_eq!(
            c.auth_scram_bound("alice", &scram).await,
            Ok(()),
            "{cb_type}"
        );
        bound(c).await.close().await;
    }

    // tls-exporter does not exist over TLS 1.2: refused at once.
    let mut c = starttls(&s, &options).await.unwrap();
    let scram = ScramClient::plus("SCRAM-SHA-256-PLUS", "tls-exporter", &[7; 32], PW);
    let (condition, at_first) = c.auth_scram_bound("alice", &scram).await.unwrap_err();
    assert!(at_first, "refused at the first message");
    assert!(!condition.is_empty());
}

/// tls-unique is not defined for TLS 1.3 (RFC 9266 §3): not offered there, and refused.
#[actix_rt::test]
async fn over_tls_1_3_tls_unique_is_refused() {
    let s = server_with_alice().await;
    let mut c = starttls(&s, &TlsOptions::only(SslVersion::TLS1_3))
        .await
        .unwrap();
    let scram = ScramClient::plus("SCRAM-SHA-256-PLUS", "tls-unique", &[7; 12], PW);
    let (_, at_first) = c.auth_scram_bound("alice", &scram).await.unwrap_err();
    assert!(at_first, "refused at the first message");
}

/// Binding data from another TLS connection (what a man in the middle holds) fails the
/// exchange, though the password is right.
#[actix_rt::test]
async fn binding_data_of_another_connection_is_refused() {
    let s = server_with_alice().await;
    let options = TlsOptions::only(SslVersion::TLS1_3);
    let other = starttls(&s, &options).await.unwrap();
    let other_exporter = other.tls.as_ref().unwrap().tls_exporter.clone().unwrap();
    let mut c = starttls(&s, &options).await.unwrap();
    assert_ne!(
        Some(&other_exporter),
        c.tls.as_ref().unwrap().tls_exporter.as_ref()
    );
    let scram = ScramClient::plus("SCRAM-SHA-256-PLUS", "tls-exporter", &other_exporter, PW);
    assert_eq!(
        c.auth_scram_bound("alice", &scram).await,
        Err(("not-authorized".to_string(), false))
    );
    // The same connection's own data then logs in: only the binding was wrong.
    let own = c.tls.as_ref().unwrap().tls_exporter.clone().unwrap();
    let scram = ScramClient::plus("SCRAM-SHA-256-PLUS", "tls-exporter", &own, PW);
    assert_eq!(c.auth_scram_bound("alice", &scram).await, Ok(()));
}

/// RFC 5802 §6: a client that can bind says `y` when it sees no -PLUS offered. We offered it,
/// so someone stripped it on the way: refused. `n` (a client that cannot bind) logs in.
#[actix_rt::test]
async fn the_y_downgrade_is_refused() {
    let s = server_with_alice().await;
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-1"] {
        let mut c = starttls(&s, &TlsOptions::default()).await.unwrap();
        let y = ScramClient::unbound(mechanism, "y", PW);
        let (_, at_first) = c.auth_scram_bound("alice", &y).await.unwrap_err();
        assert!(at_first, "{mechanism}: y refused at the first message");
        let n = ScramClient::unbound(mechanism, "n", PW);
        assert_eq!(c.auth_scram_bound("alice", &n).await, Ok(()), "{mechanism}");
    }
}

// ---- certificates ----

/// The kinds of private key PEM operators have.
#[derive(Clone, Copy, Debug)]
enum KeyKind {
    /// `BEGIN PRIVATE KEY`, EC P-256.
    Pkcs8,
    /// `BEGIN RSA PRIVATE KEY`.
    Pkcs1Rsa,
    /// `BEGIN EC PRIVATE KEY`.
    Sec1Ec,
}

/// A self-signed certificate for `names`, with its key in `kind`: written as `cert`, `key`.
fn make_identity(names: &[&str], kind: KeyKind, cert: &Path, key: &Path) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let (pkey, key_pem) = match kind {
        KeyKind::Pkcs1Rsa => {
            let rsa = Rsa::generate(2048).unwrap();
            let pem = rsa.private_key_to_pem().unwrap();
            (PKey::from_rsa(rsa).unwrap(), pem)
        }
        KeyKind::Sec1Ec | KeyKind::Pkcs8 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
            let ec = EcKey::generate(&group).unwrap();
            let sec1 = ec.private_key_to_pem().unwrap();
            let pkey = PKey::from_ec_key(ec).unwrap();
            let pem = match kind {
                KeyKind::Sec1Ec => sec1,
                _ => pkey.private_key_to_pem_pkcs8().unwrap(),
            };
            (pkey, pem)
        }
    };
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, names[0]).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&pkey).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(90).unwrap())
        .unwrap();
    let mut san = SubjectAlternativeName::new();
    for n in names {
        san.dns(n);
    }
    let san = san.build(&b.x509v3_context(None, None)).unwrap();
    b.append_extension(san).unwrap();
    b.sign(&pkey, MessageDigest::sha256()).unwrap();
    std::fs::create_dir_all(cert.parent().unwrap()).unwrap();
    std::fs::write(cert, b.build().to_pem().unwrap()).unwrap();
    std::fs::write(key, key_pem).unwrap();
}

/// The DNS names of the certificate a client was shown.
fn names_shown(c: &Client) -> Vec<String> {
    c.tls
        .as_ref()
        .unwrap()
        .certificate
        .subject_alt_names()
        .map(|n| {
            n.iter()
                .filter_map(|g| g.dnsname().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn sni(name: &str) -> TlsOptions {
    TlsOptions {
        sni: name.to_string(),
        ..Default::default()
    }
}

fn two_domains(config: &mut cordial::config::Config) {
    config.domains = vec!["a.test".into(), "b.test".into()];
}

#[actix_rt::test]
async fn sni_picks_each_domains_certificate() {
    let certs = tempfile::tempdir().unwrap();
    let at = |f: &str| certs.path().join(f);
    make_identity(&["a.test"], KeyKind::Pkcs8, &at("a.crt"), &at("a.key"));
    make_identity(&["b.test"], KeyKind::Pkcs1Rsa, &at("b.crt"), &at("b.key"));
    let s = TestServer::start_with(|c| {
        two_domains(c);
        for d in ["a", "b"] {
            c.tls.domains.insert(
                format!("{d}.test"),
                TlsIdentity {
                    cert: at(&format!("{d}.crt")),
                    key: at(&format!("{d}.key")),
                },
            );
        }
    })
    .await;
    for name in ["a.test", "b.test"] {
        let c = Client::connect_direct_tls_with(s.tls_addr(), &sni(name))
            .await
            .unwrap();
        assert_eq!(names_shown(&c), [name], "direct TLS, SNI {name}");
        let mut c = Client::connect(s.addr()).await;
        c.open_to(name).await.unwrap();
        c.upgrade_tls_with(
            "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
            &sni(name),
        )
        .await
        .unwrap();
        assert_eq!(names_shown(&c), [name], "STARTTLS, SNI {name}");
    }
    // A name we do not serve: the default (first) domain's certificate.
    let c = Client::connect_direct_tls_with(s.tls_addr(), &sni("elsewhere.test"))
        .await
        .unwrap();
    assert_eq!(names_shown(&c), ["a.test"]);
}

/// `tls.cert_dir` is scanned by domain name in the layouts operators have: `D.crt` + `D.key`
/// (a SEC1 EC key), certbot's `D/fullchain.pem` + `D/privkey.pem`, `live/D/…`, and a
/// wildcard certificate under the parent domain's name.
#[actix_rt::test]
async fn a_certificate_directory_is_scanned_by_domain() {
    let dir = tempfile::tempdir().unwrap();
    let at = |f: &str| dir.path().join(f);
    make_identity(
        &["a.test"],
        KeyKind::Sec1Ec,
        &at("a.test.crt"),
        &at("a.test.key"),
    );
    make_identity(
        &["b.test"],
        KeyKind::Pkcs8,
        &at("b.test/fullchain.pem"),
        &at("b.test/privkey.pem"),
    );
    make_identity(
        &["c.test"],
        KeyKind::Pkcs1Rsa,
        &at("live/c.test/fullchain.pem"),
        &at("live/c.test/privkey.pem"),
    );
    make_identity(
        &["*.example.test"],
        KeyKind::Pkcs8,
        &at("example.test.crt"),
        &at("example.test.key"),
    );
    let cert_dir = dir.path().to_path_buf();
    let s = TestServer::start_with(|c| {
        c.domains = vec![
            "a.test".into(),
            "b.test".into(),
            "c.test".into(),
            "chat.example.test".into(),
        ];
        c.tls.cert_dir = Some(cert_dir);
    })
    .await;
    for (name, shown) in [
        ("a.test", "a.test"),
        ("b.test", "b.test"),
        ("c.test", "c.test"),
        ("chat.example.test", "*.example.test"),
    ] {
        let c = Client::connect_direct_tls_with(s.tls_addr(), &sni(name))
            .await
            .unwrap();
        assert_eq!(names_shown(&c), [shown], "{name}");
    }
    let days: Vec<i64> = s
        .handle()
        .certificates()
        .iter()
        .map(|c| c.days_to_expiry)
        .collect();
    assert_eq!(days.len(), 4);
    assert!(days.iter().all(|d| (88..=90).contains(d)), "{days:?}");
}

async fn start_error(tweak: impl FnOnce(&mut cordial::config::Config)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cordial::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.c2s.listen = cordial::config::Listen(Some("127.0.0.1:0".parse().unwrap()));
    config.c2s.tls_listen = cordial::config::Listen(None);
    config.web.listen = cordial::config::Listen(None);
    config.s2s.listen = cordial::config::Listen(None);
    tweak(&mut config);
    match cordial::Server::new(config).start().await {
        Ok(h) => {
            h.stop().await;
            panic!("the server started");
        }
        Err(e) => e.to_string(),
    }
}

#[actix_rt::test]
async fn clear_startup_errors_for_unusable_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let at = |f: &str| dir.path().join(f);
    make_identity(
        &["localhost"],
        KeyKind::Pkcs8,
        &at("one.crt"),
        &at("one.key"),
    );
    make_identity(
        &["localhost"],
        KeyKind::Pkcs8,
        &at("two.crt"),
        &at("two.key"),
    );
    make_identity(
        &["other.test"],
        KeyKind::Pkcs8,
        &at("other.crt"),
        &at("other.key"),
    );

    let e = start_error(|c| {
        c.tls.cert = Some(at("one.crt"));
        c.tls.key = Some(at("two.key"));
    })
    .await;
    assert!(e.contains("does not match") && e.contains("one.crt"), "{e}");

    let e = start_error(|c| {
        c.tls.cert = Some(at("other.crt"));
        c.tls.key = Some(at("other.key"));
    })
    .await;
    assert!(
        e.contains("does not cover the served domain localhost") && e.contains("other.crt"),
        "{e}"
    );

    let e = start_error(|c| {
        c.tls.cert = Some(at("missing.crt"));
        c.tls.key = Some(at("one.key"));
    })
    .await;
    assert!(e.contains("missing.crt"), "{e}");

    // A directory without the domain's files, and no fallback.
    let e = start_error(|c| c.tls.cert_dir = Some(dir.path().join("empty"))).await;
    assert!(
        e.contains("no certificate for the served domain localhost"),
        "{e}"
    );
}

/// A renewed certificate is put in force by a reload: new connections see it, the session
/// that was up keeps working, and a reload that does not load changes nothing.
#[actix_rt::test]
async fn a_reload_swaps_the_certificate_under_a_live_session() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key): (PathBuf, PathBuf) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    make_identity(&["localhost"], KeyKind::Pkcs8, &cert, &key);
    let s = TestServer::start_with(|c| {
        c.tls.cert = Some(cert.clone());
        c.tls.key = Some(key.clone());
    })
    .await;
    s.add_user("alice", PW).await;
    let mut alice = s.login("alice", PW, "live").await;
    let before = alice.tls.as_ref().unwrap().certificate.to_der().unwrap();

    make_identity(&["localhost"], KeyKind::Pkcs1Rsa, &cert, &key);
    let done = s.handle().reload_with(s.config.clone()).expect("reloaded");
    assert!(done.restart_needed.is_empty(), "{:?}", done.restart_needed);
    let c = direct(&s, &TlsOptions::default()).await.unwrap();
    let after = c.tls.as_ref().unwrap().certificate.to_der().unwrap();
    assert_ne!(before, after, "new connections get the renewed certificate");

    // The session from before is still served.
    let pong = alice
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert_eq!(pong.attr("type"), Some("result"));

    // A broken renewal (a key of another certificate) is refused; the good one stays.
    make_identity(
        &["localhost"],
        KeyKind::Pkcs8,
        &cert,
        &dir.path().join("x.pem"),
    );
    std::fs::copy(dir.path().join("x.pem"), &key).unwrap();
    make_identity(
        &["localhost"],
        KeyKind::Pkcs8,
        &cert,
        &dir.path().join("y.pem"),
    );
    let e = s.handle().reload_with(s.config.clone()).unwrap_err();
    assert!(e.to_string().contains("does not match"), "{e}");
    let c = direct(&s, &TlsOptions::default()).await.unwrap();
    assert_eq!(c.tls.as_ref().unwrap().certificate.to_der().unwrap(), after);
    let pong = alice
        .iq("get", Some(DOMAIN), "<ping xmlns='urn:xmpp:ping'/>")
        .await;
    assert_eq!(pong.attr("type"), Some("result"));
}

// ---- WebSocket over TLS ----

/// `web.tls`: the HTTP listener serves HTTPS with the same certificates (SNI), TLS 1.3; a
/// WebSocket there counts as encrypted even where loopback is not trusted, and XEP-0156
/// discovery names `wss://`.
#[actix_rt::test]
async fn websocket_over_tls_with_the_domain_certificate() {
    use futures::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;

    let certs = tempfile::tempdir().unwrap();
    let at = |f: &str| certs.path().join(f);
    make_identity(&["a.test"], KeyKind::Pkcs8, &at("a.crt"), &at("a.key"));
    make_identity(&["b.test"], KeyKind::Sec1Ec, &at("b.crt"), &at("b.key"));
    let s = TestServer::start_with(|c| {
        two_domains(c);
        for d in ["a", "b"] {
            c.tls.domains.insert(
                format!("{d}.test"),
                TlsIdentity {
                    cert: at(&format!("{d}.crt")),
                    key: at(&format!("{d}.key")),
                },
            );
        }
        c.web.listen = cordial::config::Listen(Some("127.0.0.1:0".parse().unwrap()));
        c.web.tls = true;
        c.web.trust_loopback = false;
    })
    .await;
    let web = s.handle().web_addr().unwrap();
    let tls_to = |name: &str| {
        let options = TlsOptions {
            sni: name.to_string(),
            ..TlsOptions::only(SslVersion::TLS1_3)
        };
        async move {
            let tcp = tokio::net::TcpStream::connect(web).await.unwrap();
            options.connect(tcp).await.unwrap()
        }
    };
    let tls = tls_to("b.test").await;
    let shown: Vec<String> = tls
        .ssl()
        .peer_certificate()
        .unwrap()
        .subject_alt_names()
        .unwrap()
        .iter()
        .filter_map(|n| n.dnsname().map(str::to_string))
        .collect();
    assert_eq!(shown, ["b.test"]);
    let mut req = "wss://b.test/xmpp-websocket".into_client_request().unwrap();
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, tls).await.unwrap();
    ws.send(Message::text(
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='b.test' version='1.0'/>",
    ))
    .await
    .unwrap();
    let mut features = None;
    while features.is_none() {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg.unwrap() {
            let el: minidom::Element = t.parse().unwrap();
            if el.name() == "features" {
                features = Some(el);
            }
        }
    }
    let features = features.unwrap();
    let mechanisms = features
        .get_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
        .expect("SASL offered: HTTPS counts as encrypted");
    assert!(mechanisms.children().any(|m| m.text() == "SCRAM-SHA-256"));

    // XEP-0156 discovery over HTTPS names wss://.
    let mut tls = tls_to("a.test").await;
    tls.write_all(
        b"GET /.well-known/host-meta.json HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut body = String::new();
    let _ = tls.read_to_string(&mut body).await;
    assert!(body.contains("wss://a.test/xmpp-websocket"), "{body}");
}
