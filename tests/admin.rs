//! The admin scope mounted by `cordial::web::configure` when `web.admin_token` is set: bearer
//! token, Prometheus metrics, the JSON admin API (users, sessions, kick, reload).

mod common;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::{Method, StatusCode};
use actix_web::{test, App};
use common::*;
use std::time::Duration;

const TOKEN: &str = "s3cret-admin-token";

async fn server() -> TestServer {
    TestServer::start_with(|c| c.web.admin_token = TOKEN.to_string()).await
}

/// One request to the admin endpoints of `s`, mounted in an actix-web app as an embedder would.
async fn call(
    s: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    json: Option<serde_json::Value>,
) -> (StatusCode, String) {
    let app =
        test::init_service(App::new().configure(cordial::web::configure(&s.handle().web()))).await;
    let mut req = test::TestRequest::default().method(method).uri(path);
    if let Some(t) = token {
        req = req.insert_header(("Authorization", format!("Bearer {t}")));
    }
    if let Some(j) = json {
        req = req.set_json(j);
    }
    let resp: ServiceResponse<_> = app.call(req.to_request()).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().try_into_bytes().unwrap_or_default();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(s: &TestServer, path: &str) -> serde_json::Value {
    let (status, body) = call(s, Method::GET, path, Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// DELETE with the right token; the status.
async fn delete(s: &TestServer, path: &str) -> StatusCode {
    call(s, Method::DELETE, path, Some(TOKEN), None).await.0
}

async fn metrics(s: &TestServer) -> String {
    let (status, body) = call(s, Method::GET, "/admin/metrics", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The value of one sample line (`name{labels}`) in the text format.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Waits until a metric shows `want` (values stored by actors land a moment after the sender
/// moves on).
async fn metric_reaches(s: &TestServer, series: &str, want: f64) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = metrics(s).await;
        if sample(&text, series) == Some(want) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never reached {want}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn every_admin_endpoint_wants_the_bearer_token() {
    let s = server().await;
    for (method, path) in [
        (Method::GET, "/admin/metrics"),
        (Method::GET, "/admin/api/users"),
        (Method::GET, "/admin/api/sessions"),
        (Method::DELETE, "/admin/api/sessions/alice@localhost"),
        (Method::DELETE, "/admin/api/users/alice@localhost"),
        (Method::POST, "/admin/api/reload"),
    ] {
        for token in [None, Some("wrong"), Some("s3cret-admin-token-and-more")] {
            let (status, body) = call(&s, method.clone(), path, token, None).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}: {body}"
            );
        }
    }
    let (status, _) = call(&s, Method::GET, "/admin/metrics", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[actix_rt::test]
async fn without_a_token_there_are_no_admin_endpoints() {
    let s = TestServer::start().await;
    let (status, _) = call(&s, Method::GET, "/admin/metrics", Some(""), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[actix_rt::test]
async fn metrics_count_sessions_stanzas_routing_and_offline_queues() {
    let s = server().await;
    for u in ["alice", "bob", "carol"] {
        s.add_user(u, "pw").await;
    }
    let mut alice = s.online("alice", "pw", "phone", 0).await;
    let mut bob = s.online("bob", "pw", "desk", 0).await;
    let before = metrics(&s).await;
    assert_eq!(sample(&before, "cordial_sessions"), Some(2.0), "{before}");
    assert_eq!(
        sample(&before, "cordial_connections{transport=\"tcp\"}"),
        Some(2.0)
    );
    assert_eq!(
        sample(&before, "cordial_stanzas_in_total{kind=\"message\"}"),
        Some(0.0)
    );

    for i in 0..3 {
        alice
            .send(&format!(
                "<message to='bob@localhost/desk' type='chat'><body>{i}</body></message>"
            ))
            .await;
    }
    for i in 0..2 {
        alice
            .send(&format!(
                "<message to='carol@localhost' type='chat'><body>{i}</body></message>"
            ))
            .await;
    }
    for _ in 0..3 {
        bob.expect_where(|e| e.name() == "message").await;
    }
    let text = metric_reaches(&s, "cordial_offline_messages", 2.0).await;
    assert_eq!(
        sample(&text, "cordial_stanzas_in_total{kind=\"message\"}"),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "cordial_stanzas_out_total{kind=\"message\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(sample(&text, "cordial_offline_queues"), Some(1.0));
    assert_eq!(sample(&text, "cordial_offline_queue_longest"), Some(2.0));
    let routed = sample(&text, "cordial_routing_latency_seconds_count").unwrap();
    assert!(
        routed >= 5.0,
        "every message went through the router: {text}"
    );

    // Carol logs in: her queue is delivered and emptied; Bob leaves.
    let mut carol = s.online("carol", "pw", "tab", 0).await;
    for _ in 0..2 {
        carol.expect_where(|e| e.name() == "message").await;
    }
    bob.close().await;
    metric_reaches(&s, "cordial_offline_messages", 0.0).await;
    let text = metric_reaches(&s, "cordial_sessions", 2.0).await;
    assert_eq!(sample(&text, "cordial_offline_queues"), Some(0.0));
    drop(alice);
}

#[actix_rt::test]
async fn admin_api_lists_users_and_sessions_and_kicks() {
    let s = server().await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut alice = s.online("alice", "pw", "phone", 0).await;
    let mut bob = s.online("bob", "pw", "desk", 0).await;
    for c in [&mut alice, &mut bob] {
        c.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await;
    }
    subscribe(&mut bob, "bob@localhost", &mut alice, "alice@localhost").await;

    let users = get(&s, "/admin/api/users").await;
    assert_eq!(
        users["users"],
        serde_json::json!([
            {"jid": "alice@localhost", "resources": 1, "offline_messages": 0},
            {"jid": "bob@localhost", "resources": 1, "offline_messages": 0},
        ])
    );
    let sessions = get(&s, "/admin/api/sessions").await;
    let listed: Vec<_> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["jid"].as_str().unwrap(), s["transport"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            ("alice@localhost/phone", "tcp"),
            ("bob@localhost/desk", "tcp")
        ]
    );

    // Kick: Alice reads <policy-violation/>, Bob (subscribed to her) sees her go offline.
    let (status, body) = call(
        &s,
        Method::DELETE,
        "/admin/api/sessions/alice@localhost",
        Some(TOKEN),
        None,
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "{\"kicked\":1}"));
    assert_eq!(alice.expect_stream_error().await, "policy-violation");
    gather_exactly(&mut bob, &[&presence("unavailable", "alice@localhost")]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let sessions = get(&s, "/admin/api/sessions").await;
        if sessions["sessions"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{sessions}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        delete(&s, "/admin/api/sessions/alice@localhost").await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        delete(&s, "/admin/api/sessions/@@").await,
        StatusCode::BAD_REQUEST
    );
}

#[actix_rt::test]
async fn admin_api_creates_and_deletes_accounts() {
    let s = server().await;
    let new = |jid: &str, pw: &str| serde_json::json!({"jid": jid, "password": pw});
    let post = |body| {
        call(
            &s,
            Method::POST,
            "/admin/api/users",
            Some(TOKEN),
            Some(body),
        )
    };
    assert_eq!(
        post(new("dave@localhost", "pw")).await.0,
        StatusCode::CREATED
    );
    assert_eq!(
        post(new("dave@localhost", "pw")).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        post(new("dave@elsewhere.example", "pw")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post(new("erin@localhost", "")).await.0,
        StatusCode::BAD_REQUEST
    );

    // The account works: Dave logs in with the password given.
    let dave = s.login("dave", "pw", "laptop").await;
    dave.close().await;

    assert_eq!(
        delete(&s, "/admin/api/users/dave@localhost").await,
        StatusCode::OK
    );
    assert_eq!(
        delete(&s, "/admin/api/users/dave@localhost").await,
        StatusCode::NOT_FOUND
    );
    let users = get(&s, "/admin/api/users").await;
    assert_eq!(users["users"], serde_json::json!([]));
}

/// An operator sees a storage outage: `/admin/api/storage` says refusing, since when and why,
/// and the metrics say the store is down and count what it refused; both show it up again
/// once the disk takes writes, without a restart.
#[actix_rt::test]
async fn a_storage_outage_shows_in_the_admin_api_and_the_metrics() {
    use cordial_storage::faults::Fault;
    let s = TestServer::start_with_store(|c| c.web.admin_token = TOKEN.to_string()).await;
    s.add_user("alice", "pw").await;
    let up = get(&s, "/admin/api/storage").await;
    assert_eq!(up["state"], "up");
    assert_eq!(sample(&metrics(&s).await, "cordial_storage_up"), Some(1.0));

    let store = s.store().clone();
    store.faults().fail_flushes(Fault::NoSpace);
    let mut alice = s.online("alice", "pw", "r", 0).await;
    let r = alice
        .iq(
            "set",
            None,
            "<vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>",
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("resource-constraint"));
    let down = get(&s, "/admin/api/storage").await;
    assert_eq!(down["state"], "refusing", "{down}");
    assert!(down["refusing_since"].as_u64().unwrap() > 0);
    assert!(down["last_error"]
        .as_str()
        .unwrap()
        .contains("No space left"));
    let text = metrics(&s).await;
    assert_eq!(sample(&text, "cordial_storage_up"), Some(0.0), "{text}");
    assert!(sample(&text, "cordial_storage_refused_writes_total").unwrap() >= 1.0);
    assert!(sample(&text, "cordial_storage_refusing_since_seconds").unwrap() > 0.0);

    store.faults().clear();
    metric_reaches(&s, "cordial_storage_up", 1.0).await;
    let back = get(&s, "/admin/api/storage").await;
    assert_eq!(back["state"], "up");
    assert_eq!(back["outages"], 1);
    assert_eq!(back["refusing_since"], serde_json::Value::Null);
}

/// Whether a new stream's features offer in-band registration (XEP-0077).
async fn offers_registration(s: &TestServer) -> bool {
    let mut c = Client::connect(s.addr()).await;
    c.negotiate_tls().await;
    c.features
        .as_ref()
        .unwrap()
        .get_child("register", "http://jabber.org/features/iq-register")
        .is_some()
}

#[actix_rt::test]
async fn admin_api_reloads_the_configuration_and_metrics_show_certificate_expiry() {
    let s = server().await;
    let text = metrics(&s).await;
    let days = sample(
        &text,
        "cordial_tls_certificate_expiry_days{domain=\"localhost\"}",
    )
    .unwrap_or_else(|| panic!("no expiry metric:\n{text}"));
    assert!(days > 14.0, "{days}");

    assert!(!offers_registration(&s).await);
    let mut next = s.config.clone();
    next.auth.registration = true;
    next.domains = vec!["localhost".into(), "elsewhere.test".into()];
    *s.reload_source.lock().unwrap() = Ok(next);
    let (status, body) = call(&s, Method::POST, "/admin/api/reload", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done: serde_json::Value = serde_json::from_str(&body).unwrap();
    // Served domains change only with a restart: named, and the running ones kept.
    assert_eq!(done["restart_needed"], serde_json::json!(["domains"]));
    assert_eq!(done["certificates"][0]["domain"], "localhost");
    assert_eq!(done["certificates"].as_array().unwrap().len(), 1);
    assert!(
        offers_registration(&s).await,
        "registration switched on live"
    );

    // A configuration that does not load: 422 with the reason, the running one stays.
    *s.reload_source.lock().unwrap() = Err("line 3: expected a value".into());
    let (status, body) = call(&s, Method::POST, "/admin/api/reload", Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("line 3: expected a value"), "{body}");
    assert!(offers_registration(&s).await);
}
