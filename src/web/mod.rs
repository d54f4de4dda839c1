//! cordial inside an actix-web app: the XMPP endpoints as an actix-web service configuration.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = cordial::Server::new(cordial::config::Config::default())
//!         .start()
//!         .await
//!         .expect("cordial starts");
//!     let xmpp = server.web();
//!     HttpServer::new(move || {
//!         App::new()
//!             .configure(cordial::web::configure(&xmpp))
//!             .route("/", web::get().to(|| async { "my app" }))
//!     })
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! }
//! ```
//!
//! Mounted:
//! - `GET /xmpp-websocket`: XMPP over WebSocket (RFC 7395, sub-protocol `xmpp`), with the same
//!   negotiation, limits and actors as TCP clients;
//! - `GET /.well-known/host-meta` and `/.well-known/host-meta.json`: XEP-0156 discovery of that
//!   endpoint;
//! - with `web.admin_token` set, `/admin/metrics` (Prometheus/OpenMetrics text) and the JSON
//!   admin API under `/admin/api` (users, sessions, kick), each request requiring
//!   `Authorization: Bearer <token>`; see [`ADMIN_PATH`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix::ArbiterHandle;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::link::LinkContext;
use crate::websocket;

mod admin;
pub use admin::{ADMIN_PATH, KICK_TEXT};

/// The path of the WebSocket endpoint.
pub const WEBSOCKET_PATH: &str = "/xmpp-websocket";

/// What the endpoints need of a running server; cheap to clone, one per actix-web worker.
#[derive(Clone)]
pub struct Xmpp {
    pub(crate) reloader: Arc<crate::reload::Reloader>,
    pub(crate) s2s: Arc<crate::s2s::S2s>,
    pub(crate) ctx: Arc<LinkContext>,
    pub(crate) arbiters: Arc<Vec<ArbiterHandle>>,
    pub(crate) next: Arc<AtomicUsize>,
}

impl Xmpp {
    /// The arbiter for the next connection's link task, round robin over the server's cores.
    fn arbiter(&self) -> Option<ArbiterHandle> {
        let n = self.arbiters.len();
        (n > 0).then(|| self.arbiters[self.next.fetch_add(1, Ordering::Relaxed) % n].clone())
    }
}

/// Mounts cordial's HTTP endpoints; use with `App::configure`.
pub fn configure(xmpp: &Xmpp) -> impl FnOnce(&mut web::ServiceConfig) {
    let xmpp = xmpp.clone();
    move |cfg| {
        let token = xmpp.ctx.config().web.admin_token.clone();
        cfg.app_data(web::Data::new(xmpp))
            .route(WEBSOCKET_PATH, web::get().to(websocket_endpoint))
            .route("/.well-known/host-meta", web::get().to(host_meta))
            .route("/.well-known/host-meta.json", web::get().to(host_meta_json));
        if !token.is_empty() {
            cfg.service(admin::scope(token));
        }
    }
}

/// Whether the client offered the `xmpp` WebSocket sub-protocol (RFC 7395 §3.1).
fn offers_xmpp(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == "xmpp")
}

async fn websocket_endpoint(
    req: HttpRequest,
    body: web::Payload,
    xmpp: web::Data<Xmpp>,
) -> actix_web::Result<HttpResponse> {
    if !offers_xmpp(&req) {
        return Ok(HttpResponse::BadRequest()
            .body("RFC 7395: offer the WebSocket sub-protocol \"xmpp\"\n"));
    }
    let peer = req
        .peer_addr()
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let ctx = xmpp.ctx.clone();
    let Some(slot) = ctx.connections.enter(peer.ip()) else {
        return Ok(HttpResponse::TooManyRequests().body("Too many connections from your address\n"));
    };
    let secured =
        req.app_config().secure() || (peer.ip().is_loopback() && ctx.config().web.trust_loopback);
    let (response, session, messages) = actix_ws::handle_with_protocols(&req, body, &["xmpp"])?;
    // A stanza may be as large as the link allows; the link enforces the limit itself.
    let max = ctx.config().limits.max_stanza_bytes + 4096;
    let messages = messages
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    log::debug!("{peer}: WebSocket connected (secured: {secured})");
    actix_web::rt::spawn(websocket::bridge(
        ctx,
        xmpp.arbiter(),
        peer,
        secured,
        session,
        messages,
        slot,
    ));
    Ok(response)
}

/// The WebSocket URL for a client that reached us with `req`.
fn websocket_url(req: &HttpRequest) -> String {
    let info = req.connection_info();
    let scheme = if info.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    format!("{scheme}://{}{WEBSOCKET_PATH}", info.host())
}

/// XEP-0156 §3: host-meta (XRD).
async fn host_meta(req: HttpRequest) -> HttpResponse {
    let mut url = String::new();
    cordial_actors::xml::push_escaped(&mut url, &websocket_url(&req));
    HttpResponse::Ok()
        .content_type("application/xrd+xml")
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .body(format!(
            "<?xml version='1.0' encoding='utf-8'?>\n\
             <XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  \
             <Link rel='urn:xmpp:alt-connections:websocket' href='{url}'/>\n\
             </XRD>\n"
        ))
}

/// XEP-0156 §3: host-meta in JSON (JRD).
async fn host_meta_json(req: HttpRequest) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .json(serde_json::json!({
            "links": [{
                "rel": "urn:xmpp:alt-connections:websocket",
                "href": websocket_url(&req),
            }]
        }))
}
