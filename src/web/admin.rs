//! The admin scope: Prometheus metrics and a small JSON admin API, each request carrying
//! `Authorization: Bearer <web.admin_token>`. Mounted only when the token is set.
//!
//! - `GET /admin/metrics`: OpenMetrics text (connections, sessions, stanzas in and out by kind,
//!   routing latency, running accounts, offline queues);
//! - `GET /admin/api/users`: accounts with their bound resources and offline messages;
//! - `POST /admin/api/users` `{"jid": …, "password": …}`: creates an account (201; 409 if it
//!   exists);
//! - `DELETE /admin/api/users/{jid}`: deletes an account as `cordial deluser` does;
//! - `GET /admin/api/sessions`: bound sessions (full JID, peer, transport, since);
//! - `DELETE /admin/api/sessions/{jid}`: kicks every session of a bare JID, or the one of a
//!   full JID, with the stream error `<policy-violation/>`;
//! - `GET /admin/api/s2s`: server-to-server streams, outgoing (local and remote domain) and
//!   incoming (peer address, authenticated domains, how);
//! - `POST /admin/api/reload`: reads the configuration and certificates again, as SIGHUP does
//!   (200 with what changed and each certificate's days to expiry; 422 with the reason when
//!   it does not load, the running one staying).

use std::collections::HashMap;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::{from_fn, Next};
use actix_web::{web, HttpResponse};
use cordial_actors::accounts;
use cordial_actors::link::{StreamClose, StreamCondition};
use cordial_actors::metrics::gauge;
use jid::Jid;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Xmpp;
use crate::admin::account_jid;

/// The path the admin scope is mounted under.
pub const ADMIN_PATH: &str = "/admin";

/// What a kicked client reads in its stream error.
pub const KICK_TEXT: &str = "Disconnected by an administrator";

pub(super) fn scope(
    token: String,
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope(ADMIN_PATH)
        .wrap(from_fn(move |req, next| {
            let allowed = bearer_matches(&req, &token);
            authorize(allowed, req, next)
        }))
        .route("/metrics", web::get().to(metrics))
        .route("/api/users", web::get().to(users))
        .route("/api/users", web::post().to(add_user))
        .route("/api/users/{jid}", web::delete().to(delete_user))
        .route("/api/sessions", web::get().to(sessions))
        .route("/api/storage", web::get().to(storage))
        .route("/api/sessions/{jid:.+}", web::delete().to(kick))
        .route("/api/reload", web::post().to(reload))
        .route("/api/s2s", web::get().to(s2s_streams))
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
fn bearer_matches(req: &ServiceRequest, token: &str) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| bool::from(given.trim().as_bytes().ct_eq(token.as_bytes())))
}

async fn authorize(
    allowed: bool,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if !allowed {
        log::info!(
            "{}: admin request without the right token",
            req.peer_addr().map_or_else(String::new, |a| a.to_string())
        );
        let refused = HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"cordial admin\""))
            .json(json!({"error": "a valid bearer token is required"}));
        return Ok(req.into_response(refused).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

fn error(status: actix_web::http::StatusCode, message: impl std::fmt::Display) -> HttpResponse {
    HttpResponse::build(status).json(json!({"error": message.to_string()}))
}

fn internal(e: impl std::fmt::Display) -> HttpResponse {
    log::error!("admin API: {e}");
    error(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, e)
}

/// Renders the metrics, reading the values kept in storage (a key-only scan of the offline
/// queues) on a blocking thread.
async fn metrics(xmpp: web::Data<Xmpp>) -> HttpResponse {
    let ctx = xmpp.ctx.clone();
    let xmpp_s2s = xmpp.s2s.clone();
    let rendered = web::block(move || -> Result<String, String> {
        let router = &ctx.router;
        // During a storage outage the offline queues may not be readable: the metrics still
        // answer, with the storage gauges saying why those are missing.
        let offline = router.store.offline_totals();
        let mut registry = Registry::with_prefix("cordial");
        router.metrics.register(&mut registry);
        let count = |n: usize| gauge(i64::try_from(n).unwrap_or(i64::MAX));
        let count64 = |n: u64| gauge(i64::try_from(n).unwrap_or(i64::MAX));
        let expiry = prometheus_client::metrics::family::Family::<
            Vec<(String, String)>,
            prometheus_client::metrics::gauge::Gauge,
        >::default();
        for c in ctx.tls.certificates() {
            expiry
                .get_or_create(&vec![("domain".to_string(), c.domain.clone())])
                .set(c.days_to_expiry());
        }
        registry.register(
            "tls_certificate_expiry_days",
            "Whole days until the certificate of each served domain expires (negative once it has)",
            expiry,
        );
        let s2s = &xmpp_s2s.counters;
        let load = |c: &std::sync::atomic::AtomicU64| {
            let total = prometheus_client::metrics::counter::Counter::<u64>::default();
            total.inc_by(c.load(std::sync::atomic::Ordering::Relaxed));
            total
        };
        registry.register(
            "s2s_streams_out",
            "Outgoing server-to-server streams",
            count(xmpp_s2s.outgoing().len()),
        );
        registry.register(
            "s2s_streams_in",
            "Incoming server-to-server streams that authenticated a domain",
            count(xmpp_s2s.incoming().len()),
        );
        registry.register(
            "s2s_stanzas_in",
            "Stanzas received from other servers",
            load(&s2s.stanzas_in),
        );
        registry.register(
            "s2s_stanzas_out",
            "Stanzas sent to other servers",
            load(&s2s.stanzas_out),
        );
        registry.register(
            "s2s_bounced",
            "Stanzas to other domains answered with an error because no stream took them",
            load(&s2s.bounced),
        );
        registry.register(
            "s2s_dialback_verified",
            "Peers' dialback keys verified",
            load(&s2s.dialback_verified),
        );
        registry.register(
            "s2s_dialback_refused",
            "Peers' dialback keys refused",
            load(&s2s.dialback_refused),
        );
        registry.register(
            "sessions",
            "Bound client sessions (resources)",
            count(ctx.sessions.count()),
        );
        registry.register(
            "accounts_active",
            "Accounts with a running actor (online, or in use within the idle timeout)",
            count(router.running_users()),
        );
        let health = router.store.health();
        registry.register(
            "storage_up",
            "1 while the store takes writes, 0 while it refuses them (full or failing disk)",
            gauge(i64::from(health.up)),
        );
        registry.register(
            "storage_refusing_since_seconds",
            "Unix time the current storage outage started; 0 while the store is up",
            count64(health.refusing_since.map_or(0, unix_seconds)),
        );
        let counter = |n: u64| {
            let c = prometheus_client::metrics::counter::Counter::<u64>::default();
            c.inc_by(n);
            c
        };
        registry.register(
            "storage_refused_writes",
            "Writes refused during storage outages since the server started",
            counter(health.refused_writes),
        );
        registry.register(
            "storage_outages",
            "Storage outages since the server started",
            counter(health.outages),
        );
        let offline = match offline {
            Ok(o) => o,
            Err(e) => {
                log::debug!("metrics: offline queues not readable: {e}");
                let mut text = String::new();
                prometheus_client::encoding::text::encode(&mut text, &registry)
                    .map_err(|e| e.to_string())?;
                return Ok(text);
            }
        };
        registry.register(
            "offline_messages",
            "Messages stored for accounts with no available resource",
            count(offline.messages),
        );
        registry.register(
            "offline_queues",
            "Accounts with at least one offline message",
            count(offline.queues),
        );
        registry.register(
            "offline_queue_longest",
            "Messages in the longest offline queue",
            count(offline.longest),
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)
            .map_err(|e| e.to_string())?;
        Ok(text)
    })
    .await;
    match rendered {
        Ok(Ok(text)) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

/// Reloads the configuration and certificates, as SIGHUP does.
async fn reload(xmpp: web::Data<Xmpp>) -> HttpResponse {
    let reloader = xmpp.reloader.clone();
    match web::block(move || reloader.reload()).await {
        Ok(Ok(done)) => HttpResponse::Ok().json(done),
        Ok(Err(e)) => {
            log::error!("configuration not reloaded, the running one stays: {e}");
            error(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, e)
        }
        Err(e) => internal(e),
    }
}

fn unix_seconds(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The store's health: up, or refusing writes since when and why (see
/// `cordial_storage::Store`).
async fn storage(xmpp: web::Data<Xmpp>) -> HttpResponse {
    let h = xmpp.ctx.router.store.health();
    HttpResponse::Ok().json(json!({
        "state": if h.up { "up" } else { "refusing" },
        "refusing_since": h.refusing_since.map(unix_seconds),
        "last_error": h.last_error,
        "refused_writes": h.refused_writes,
        "outages": h.outages,
        "reopened": h.reopened,
    }))
}

async fn users(xmpp: web::Data<Xmpp>) -> HttpResponse {
    let ctx = xmpp.ctx.clone();
    let listed = web::block(move || -> cordial_storage::Result<serde_json::Value> {
        let resources: HashMap<String, usize> = ctx
            .sessions
            .per_account()
            .into_iter()
            .map(|(bare, n)| (bare.to_string(), n))
            .collect();
        let store = &ctx.router.store;
        let users = store
            .accounts()?
            .into_iter()
            .map(|jid| {
                let offline = store.offline_count(&jid)?;
                let online = resources.get(&jid).copied().unwrap_or(0);
                Ok(json!({"jid": jid, "resources": online, "offline_messages": offline}))
            })
            .collect::<cordial_storage::Result<Vec<_>>>()?;
        Ok(json!({ "users": users }))
    })
    .await;
    match listed {
        Ok(Ok(v)) => HttpResponse::Ok().json(v),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

#[derive(Deserialize)]
struct NewUser {
    jid: String,
    password: String,
}

async fn add_user(xmpp: web::Data<Xmpp>, body: web::Json<NewUser>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let router = &xmpp.ctx.router;
    let bare = match account_jid(router, &body.jid) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if body.password.is_empty() {
        return error(StatusCode::BAD_REQUEST, "the password must not be empty");
    }
    match accounts::create_account(router, &bare, &body.password).await {
        Ok(true) => HttpResponse::Created().json(json!({"jid": bare.to_string()})),
        Ok(false) => error(StatusCode::CONFLICT, format!("{bare} already exists")),
        Err(e) => internal(e),
    }
}

async fn delete_user(xmpp: web::Data<Xmpp>, jid: web::Path<String>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let router = &xmpp.ctx.router;
    let bare = match account_jid(router, &jid) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match accounts::delete_account(router, &bare).await {
        Ok(true) => HttpResponse::Ok().json(json!({"deleted": bare.to_string()})),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("{bare} does not exist")),
        Err(e) => internal(e),
    }
}

async fn s2s_streams(xmpp: web::Data<Xmpp>) -> HttpResponse {
    let outgoing: Vec<_> = xmpp
        .s2s
        .outgoing()
        .into_iter()
        .map(|(local, remote)| json!({"local": local, "remote": remote}))
        .collect();
    HttpResponse::Ok().json(json!({"outgoing": outgoing, "incoming": xmpp.s2s.incoming()}))
}

async fn sessions(xmpp: web::Data<Xmpp>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "sessions": xmpp.ctx.sessions.list() }))
}

async fn kick(xmpp: web::Data<Xmpp>, jid: web::Path<String>) -> HttpResponse {
    use actix_web::http::StatusCode;
    let jid = match Jid::new(&jid) {
        Ok(j) => j,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("{jid:?} is not a JID: {e}"),
            )
        }
    };
    let why = StreamClose::new(StreamCondition::PolicyViolation, KICK_TEXT.to_string());
    match xmpp.ctx.sessions.kick(&jid, &why) {
        0 => error(StatusCode::NOT_FOUND, format!("no session of {jid}")),
        n => {
            log::info!("admin API: kicked {n} session(s) of {jid}");
            HttpResponse::Ok().json(json!({"kicked": n}))
        }
    }
}
