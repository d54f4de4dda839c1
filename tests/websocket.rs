//! XMPP over WebSocket (RFC 7395) and XEP-0156 discovery, against the built-in HTTP listener.

mod common;

use base64::Engine as _;
use common::*;
use cordial::config::Listen;
use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

async fn server_with_web(tweak: impl FnOnce(&mut cordial::config::Config)) -> TestServer {
    TestServer::start_with(|c| {
        c.web.listen = Listen(Some("127.0.0.1:0".parse().unwrap()));
        tweak(c);
    })
    .await
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct WsClient {
    ws: Ws,
}

impl WsClient {
    async fn connect(s: &TestServer) -> WsClient {
        let url = format!("ws://{}/xmpp-websocket", s.handle().web_addr().unwrap());
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "xmpp".parse().unwrap());
        let (ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        assert_eq!(
            resp.headers()
                .get("Sec-WebSocket-Protocol")
                .map(|v| v.to_str().unwrap()),
            Some("xmpp"),
            "RFC 7395 §3.1: the server confirms the xmpp sub-protocol"
        );
        WsClient { ws }
    }

    async fn send(&mut self, xml: &str) {
        self.ws.send(Message::text(xml)).await.expect("send");
    }

    /// The next text message, parsed: each must be a complete XML document on its own.
    async fn next(&mut self) -> Option<Element> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the server answers in time")?;
            match msg.ok()? {
                Message::Text(t) => {
                    return Some(
                        t.parse::<Element>()
                            .unwrap_or_else(|e| panic!("not a self-contained document: {t}: {e}")),
                    )
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    async fn expect(&mut self) -> Element {
        self.next().await.expect("a message")
    }

    /// The next message, which must match `pred`: anything else arriving first fails the test.
    async fn expect_where(&mut self, pred: impl Fn(&Element) -> bool) -> Element {
        let e = self.expect().await;
        assert!(pred(&e), "unexpected message: {}", String::from(&e));
        e
    }

    /// `<open/>` and the server's `<open/>` plus features.
    async fn open(&mut self) -> (Element, Element) {
        self.send(&format!(
            "<open xmlns='{NS_FRAMING}' to='{DOMAIN}' version='1.0'/>"
        ))
        .await;
        let open = self.expect().await;
        assert_eq!((open.name(), open.ns().as_str()), ("open", NS_FRAMING));
        let features = self.expect().await;
        assert_eq!(
            (features.name(), features.ns().as_str()),
            ("features", "http://etherx.jabber.org/streams")
        );
        (open, features)
    }

    async fn login(&mut self, user: &str, password: &str, resource: &str) -> String {
        self.open().await;
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        self.send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        ))
        .await;
        assert_eq!(self.expect().await.name(), "success");
        let (_, features) = self.open().await;
        assert!(features.has_child("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
        assert!(!features.has_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl"));
        self.send(&format!(
            "<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind></iq>"
        ))
        .await;
        let bound = self.expect().await;
        assert_eq!(
            bound.attr("type"),
            Some("result"),
            "{}",
            String::from(&bound)
        );
        bound
            .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.get_child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
            .map(|j| j.text())
            .unwrap()
    }
}

fn mechanisms(features: &Element) -> Vec<String> {
    features
        .get_child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
        .map(|m| m.children().map(|c| c.text()).collect())
        .unwrap_or_default()
}

/// RFC 7395 end to end: open, SASL, restart, bind, then messages both ways with a TCP client
/// through the same server, and the closing handshake.
#[actix_rt::test]
async fn rfc7395_websocket_client_chats_with_a_tcp_client() {
    let s = server_with_web(|_| {}).await;
    s.add_user("alice", "pw").await;
    s.add_user("bob", "pw").await;
    let mut bob = s.online("bob", "pw", "tcp", 0).await;
    let mut alice = WsClient::connect(&s).await;
    let (open, features) = alice.open().await;
    assert_eq!(open.attr("from"), Some(DOMAIN));
    assert_eq!(open.attr("version"), Some("1.0"));
    assert!(open.attr("id").is_some());
    // The HTTP layer owns TLS: STARTTLS is never offered on a WebSocket.
    assert!(!features.has_child("starttls", "urn:ietf:params:xml:ns:xmpp-tls"));
    assert!(mechanisms(&features).contains(&"SCRAM-SHA-256".to_string()));
    drop(alice);

    let mut alice = WsClient::connect(&s).await;
    let jid = alice.login("alice", "pw", "web").await;
    assert_eq!(jid, "alice@localhost/web");
    alice
        .send("<message xmlns='jabber:client' to='bob@localhost' type='chat'><body>hello from the browser</body></message>")
        .await;
    let m = bob.expect_where(|e| e.name() == "message").await;
    assert_eq!(m.attr("from"), Some("alice@localhost/web"));
    assert_eq!(body(&m).as_deref(), Some("hello from the browser"));

    bob.send("<message to='alice@localhost/web' type='chat'><body>hello from TCP</body></message>")
        .await;
    let m = alice.expect_where(|e| e.name() == "message").await;
    assert_eq!(m.ns(), "jabber:client");
    assert_eq!(m.attr("from"), Some("bob@localhost/tcp"));
    assert_eq!(body(&m).as_deref(), Some("hello from TCP"));

    // RFC 7395 §3.6: <close/> is answered with <close/>, then the connection ends.
    alice.send(&format!("<close xmlns='{NS_FRAMING}'/>")).await;
    let close = alice.expect().await;
    assert_eq!((close.name(), close.ns().as_str()), ("close", NS_FRAMING));
    assert!(alice.next().await.is_none(), "the WebSocket is closed");
}

/// RFC 7395 §3.3.3 with RFC 6120 §11.7: whitespace around `<open/>` and after `</auth>` (a
/// message's trailing newline, as go-sendxmpp writes over TCP) does not break the restart.
#[actix_rt::test]
async fn rfc7395_whitespace_around_open_and_after_auth_is_accepted() {
    let s = server_with_web(|_| {}).await;
    s.add_user("alice", "pw").await;
    let mut alice = WsClient::connect(&s).await;
    let open = format!("\n <open xmlns='{NS_FRAMING}' to='{DOMAIN}' version='1.0'/>\n");
    alice.send(&open).await;
    assert_eq!(alice.expect().await.name(), "open");
    assert_eq!(alice.expect().await.name(), "features");
    let token = base64::engine::general_purpose::STANDARD.encode("\0alice\0pw");
    alice
        .send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>\n"
        ))
        .await;
    assert_eq!(alice.expect().await.name(), "success");
    alice.send(&open).await;
    assert_eq!(alice.expect().await.name(), "open");
    let features = alice.expect().await;
    assert!(features.has_child("bind", "urn:ietf:params:xml:ns:xmpp-bind"));
    alice
        .send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>\n")
        .await;
    let bound = alice.expect().await;
    assert_eq!(
        bound.attr("type"),
        Some("result"),
        "{}",
        String::from(&bound)
    );
}

/// The roster works over WebSocket like over TCP (same actors).
#[actix_rt::test]
async fn roster_get_over_websocket() {
    let s = server_with_web(|_| {}).await;
    s.add_user("alice", "pw").await;
    let mut alice = WsClient::connect(&s).await;
    alice.login("alice", "pw", "web").await;
    alice
        .send("<iq xmlns='jabber:client' type='set' id='s'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'/></query></iq>")
        .await;
    alice
        .send("<iq xmlns='jabber:client' type='get' id='g'><query xmlns='jabber:iq:roster'/></iq>")
        .await;
    // In order (RFC 6120 §10.1): the set's result, then the roster.
    alice
        .expect_where(|e| e.attr("id") == Some("s") && e.attr("type") == Some("result"))
        .await;
    let roster = alice.expect_where(|e| e.attr("id") == Some("g")).await;
    let items: Vec<_> = roster
        .get_child("query", "jabber:iq:roster")
        .unwrap()
        .children()
        .map(|i| i.attr("jid").unwrap().to_string())
        .collect();
    assert_eq!(items, ["carol@localhost"]);
}

/// The admin scope on the built-in listener sees WebSocket sessions and can close them: the
/// client reads `<policy-violation/>` and `<close/>` (RFC 7395 §3.6.1).
#[actix_rt::test]
async fn admin_kick_closes_a_websocket_session() {
    let s = server_with_web(|c| c.web.admin_token = "tok-0123456789abcdef".into()).await;
    s.add_user("alice", "pw").await;
    let mut alice = WsClient::connect(&s).await;
    alice.login("alice", "pw", "web").await;
    let auth = "Authorization: Bearer tok-0123456789abcdef\r\n";
    let (head, body) = http(&s, "GET", "/admin/api/sessions", auth).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["sessions"][0]["jid"], "alice@localhost/web");
    assert_eq!(json["sessions"][0]["transport"], "websocket");
    let (head, metrics) = http(&s, "GET", "/admin/metrics", auth).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        metrics.contains("cordial_connections{transport=\"websocket\"} 1"),
        "{metrics}"
    );

    let (head, _) = http(
        &s,
        "DELETE",
        "/admin/api/sessions/alice@localhost/web",
        auth,
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let error = alice.expect().await;
    assert_eq!(error.name(), "error");
    assert!(error.has_child("policy-violation", "urn:ietf:params:xml:ns:xmpp-streams"));
    let close = alice.expect().await;
    assert_eq!((close.name(), close.ns().as_str()), ("close", NS_FRAMING));
}

/// RFC 7395 §3.1: without the `xmpp` sub-protocol there is no XMPP WebSocket.
#[actix_rt::test]
async fn rfc7395_3_1_the_xmpp_subprotocol_is_required() {
    let s = server_with_web(|_| {}).await;
    let url = format!("ws://{}/xmpp-websocket", s.handle().web_addr().unwrap());
    let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
}

/// Over plain ws:// from a loopback address that is not trusted, no mechanism is offered, and
/// an `<auth/>` is refused, as on TCP without TLS.
#[actix_rt::test]
async fn plain_websocket_without_trust_offers_no_authentication() {
    let s = server_with_web(|c| c.web.trust_loopback = false).await;
    s.add_user("alice", "pw").await;
    let mut alice = WsClient::connect(&s).await;
    let (_, features) = alice.open().await;
    assert!(
        mechanisms(&features).is_empty(),
        "{}",
        String::from(&features)
    );
    let token = base64::engine::general_purpose::STANDARD.encode("\0alice\0pw");
    alice
        .send(&format!(
            "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
        ))
        .await;
    let answer = alice.expect().await;
    assert_eq!(answer.name(), "failure", "{}", String::from(&answer));
    assert!(answer.has_child("encryption-required", "urn:ietf:params:xml:ns:xmpp-sasl"));
}

/// The limits are the link's: an oversized stanza over WebSocket is `<policy-violation/>`,
/// followed by `<close/>`, whether the link's stanza limit or the WebSocket message limit
/// (stanza limit plus 4 KiB of framing) catches it.
#[actix_rt::test]
async fn oversized_stanza_over_websocket_is_policy_violation() {
    let s = server_with_web(|c| c.limits.max_stanza_bytes = 8192).await;
    s.add_user("alice", "pw").await;
    for size in [10_000, 50_000] {
        let mut alice = WsClient::connect(&s).await;
        alice.login("alice", "pw", "web").await;
        alice
            .send(&format!(
                "<message xmlns='jabber:client' to='alice@localhost'><body>{}</body></message>",
                "x".repeat(size)
            ))
            .await;
        let err = alice.expect_where(|e| e.name() == "error").await;
        assert_eq!(err.ns(), "http://etherx.jabber.org/streams");
        assert!(
            err.has_child("policy-violation", "urn:ietf:params:xml:ns:xmpp-streams"),
            "{size}: {}",
            String::from(&err)
        );
        let close = alice.expect().await;
        assert_eq!(close.name(), "close");
    }
}

async fn http_get(s: &TestServer, path: &str) -> (String, String) {
    http(s, "GET", path, "").await
}

/// One HTTP/1.1 request to the built-in listener; `headers` are extra lines ending in CRLF.
async fn http(s: &TestServer, method: &str, path: &str, headers: &str) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(s.handle().web_addr().unwrap())
        .await
        .unwrap();
    tcp.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: chat.example\r\n{headers}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).await.unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// XEP-0156: host-meta in XRD and JSON names the WebSocket endpoint at the host asked for.
#[actix_rt::test]
async fn xep0156_host_meta_points_at_the_websocket() {
    let s = server_with_web(|_| {}).await;
    let (head, body) = http_get(&s, "/.well-known/host-meta").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let xrd: Element = body.trim().parse().unwrap();
    let link = xrd.children().next().unwrap();
    assert_eq!(link.attr("rel"), Some("urn:xmpp:alt-connections:websocket"));
    assert_eq!(link.attr("href"), Some("ws://chat.example/xmpp-websocket"));

    let (head, body) = http_get(&s, "/.well-known/host-meta.json").await;
    assert!(
        head.to_lowercase()
            .contains("access-control-allow-origin: *"),
        "{head}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["links"][0]["href"],
        serde_json::json!("ws://chat.example/xmpp-websocket")
    );
}
