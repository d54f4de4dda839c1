//! cordial: an XMPP instant messaging and presence server (RFC 6120, RFC 6121) on actix actors.
//!
//! Run it with `cordial serve`, or embed it in any actix System:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = cordial::config::Config::default();
//! let server = cordial::Server::new(config).start().await?;
//! println!("clients connect to {:?}", server.c2s_addr());
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! The server opens its own storage (sled, in `DATA_DIR/db`) unless it is given an engine
//! ([`Server::storage`]), and binds the local admin socket that `cordial adduser` and the other
//! account commands use only when asked ([`Server::admin_socket`]):
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = cordial::config::Config::default();
//! let store = cordial::storage::Store::open(&config.data_dir.join("db"))?;
//! let server = cordial::Server::new(config)
//!     .storage(std::sync::Arc::new(store))
//!     .admin_socket(true)
//!     .start()
//!     .await?;
//! server.add_user(&jid::BareJid::new("alice@localhost")?, "secret").await?;
//! server.stop().await;
//! # Ok(()) }
//! ```

pub mod admin;
mod c2s;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
mod link;
mod reload;
pub mod s2s;
mod sessions;
mod tls;
pub mod web;
mod websocket;

/// The storage interface: [`storage::Storage`], which an engine given to [`Server::storage`]
/// implements, and the embedded engine, [`storage::Store`].
pub use cordial_storage as storage;
pub use reload::{CertificateStatus, ConfigSource, ReloadError, Reloaded};
pub use tls::TlsError;

use std::net::SocketAddr;
use std::sync::Arc;

use actix::{Arbiter, ArbiterHandle};
use cordial_actors::link::{StreamClose, StreamCondition};
use cordial_actors::Router;
use cordial_storage::{SharedStorage, StorageError, Store};

use config::Config;

/// Errors that keep a server from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration: {0}")]
    Config(#[from] config::ConfigError),
    #[error("cannot create the data dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the admin socket: {0}")]
    Admin(std::io::Error),
}

/// Builds and starts a server inside the current actix System: [`Server::new`], the options,
/// then [`Server::start`].
pub struct Server {
    config: Config,
    storage: Option<SharedStorage>,
    admin_socket: bool,
    source: Option<ConfigSource>,
}

/// A running server.
pub struct ServerHandle {
    router: Arc<Router>,
    xmpp: web::Xmpp,
    c2s_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    s2s_addr: Option<SocketAddr>,
    s2s: Arc<s2s::S2s>,
    web_addr: Option<SocketAddr>,
    http: Option<actix_web::dev::ServerHandle>,
    tasks: Vec<actix_rt::task::JoinHandle<()>>,
    arbiters: Vec<Arbiter>,
}

impl Server {
    /// A server for `config` (checked when it starts), with its own storage and no admin
    /// socket.
    pub fn new(config: Config) -> Self {
        Server {
            config,
            storage: None,
            admin_socket: false,
            source: None,
        }
    }

    /// Where [`ServerHandle::reload`] (and the admin API's `POST /admin/api/reload`) read the
    /// configuration again: `cordial serve` reads its file and flags. Without one, only
    /// [`ServerHandle::reload_with`] reloads.
    pub fn config_source(
        mut self,
        source: impl Fn() -> Result<Config, String> + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Whether to bind the local admin socket, `DATA_DIR/admin.sock` (mode 0600), through which
    /// `cordial adduser / deluser / passwd / users` reach the running server (see [`admin`]).
    /// Off unless asked for; `cordial serve` turns it on.
    pub fn admin_socket(mut self, on: bool) -> Self {
        self.admin_socket = on;
        self
    }

    /// Serves from this storage engine instead of opening the embedded one (sled, in
    /// `DATA_DIR/db`): a [`storage::Store`] the app opened itself, or another implementation of
    /// [`storage::Storage`]. The server flushes it before it acknowledges a write, and when it
    /// stops.
    pub fn storage(mut self, storage: SharedStorage) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Opens storage (unless one was given with [`Server::storage`]), loads or generates the TLS
    /// identity, binds the listeners (and the admin socket, when asked for), and starts one
    /// arbiter per core for links and user actors.
    pub async fn start(self) -> Result<ServerHandle, StartError> {
        let config = self.config;
        config.validate()?;
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store: SharedStorage = match self.storage {
            Some(storage) => storage,
            None => Arc::new(Store::open(&config.data_dir.join("db"))?),
        };
        let tls = tls::Tls::new(&config)?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arbiters: Vec<Arbiter> = (0..cores).map(|_| Arbiter::new()).collect();
        let handles: Arc<Vec<ArbiterHandle>> =
            Arc::new(arbiters.iter().map(|a| a.handle()).collect());
        let federation = s2s::S2sRoute::default();
        let s2s_slot = federation.0.clone();
        let router = cordial_actors::new_router_with(
            config.actors_config(),
            store.clone(),
            handles.to_vec(),
            Box::new(federation),
        );
        // Subscription stanzas whose local receiver had not applied them when the server
        // last stopped.
        match router.replay_outbox() {
            Ok(0) => {}
            Ok(n) => log::info!("routing {n} subscription stanzas left in the outbox"),
            Err(e) => log::error!("reading the outbox: {e}"),
        }
        let sasl = link::sasl::Sasl::new(store, &config.domains);
        let config = Arc::new(config);
        let ctx = Arc::new(link::LinkContext {
            config: arc_swap::ArcSwap::new(config.clone()),
            router: router.clone(),
            sasl,
            tls,
            throttle: link::throttle::Throttle::new(
                config.auth.ip_failures_before_backoff,
                config.auth.account_failures_before_backoff,
                std::time::Duration::from_secs(config.auth.backoff_max_secs),
            ),
            connections: link::connections::Connections::new(
                config.limits.max_connections_per_ip,
                config.limits.loopback_exempt,
            ),
            sessions: Default::default(),
            detach: Box::new(link::detach::EndWithConnection),
        });

        let mut tasks = Vec::new();
        let mut bound = [None, None];
        for (i, (listen, direct_tls)) in [(config.c2s.listen, false), (config.c2s.tls_listen, true)]
            .into_iter()
            .enumerate()
        {
            let Some(addr) = listen.0 else { continue };
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Listen { addr, source })?;
            let local = listener
                .local_addr()
                .map_err(|source| StartError::Listen { addr, source })?;
            log::info!(
                "listening for clients on {local}{}",
                if direct_tls {
                    " (direct TLS)"
                } else {
                    " (STARTTLS)"
                }
            );
            bound[i] = Some(local);
            tasks.push(actix_rt::spawn(c2s::accept_loop(
                listener,
                ctx.clone(),
                handles.clone(),
                direct_tls,
            )));
        }
        let s2s = s2s::S2s::new(ctx.clone());
        let _ = s2s_slot.set(Arc::downgrade(&s2s));
        let mut s2s_addr = None;
        if let Some(addr) = config.s2s.listen.0 {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Listen { addr, source })?;
            s2s_addr = listener.local_addr().ok();
            log::info!("listening for servers on {}", s2s_addr.unwrap_or(addr));
            tasks.push(actix_rt::spawn(s2s::accept_loop(listener, s2s.clone())));
        }
        let reloader = Arc::new(reload::Reloader {
            source: self.source,
            ctx: ctx.clone(),
            router: router.clone(),
        });
        tasks.push(actix_rt::spawn(expiry_checks(ctx.clone())));
        let xmpp = web::Xmpp {
            reloader: reloader.clone(),
            s2s: s2s.clone(),
            ctx: ctx.clone(),
            arbiters: handles.clone(),
            next: Default::default(),
        };
        let (mut web_addr, mut http) = (None, None);
        if let Some(addr) = config.web.listen.0 {
            let app = xmpp.clone();
            let listen = |source| StartError::Listen { addr, source };
            let server = actix_web::HttpServer::new(move || {
                actix_web::App::new().configure(web::configure(&app))
            })
            .workers(cores)
            // Stanzas are small and latency matters: no Nagle delay, as on the c2s sockets.
            .tcp_nodelay(true)
            .disable_signals();
            let server = if config.web.tls {
                server
                    .bind_openssl(addr, ctx.tls.https_acceptor()?)
                    .map_err(listen)?
            } else {
                server.bind(addr).map_err(listen)?
            };
            web_addr = server.addrs().first().copied();
            log::info!(
                "listening for WebSocket clients on {}://{}{}",
                if config.web.tls { "wss" } else { "ws" },
                web_addr.unwrap_or(addr),
                web::WEBSOCKET_PATH
            );
            let running = server.run();
            http = Some(running.handle());
            tasks.push(actix_rt::spawn(async move {
                if let Err(e) = running.await {
                    log::error!("HTTP server: {e}");
                }
            }));
        }
        if self.admin_socket {
            let admin = admin::bind(&config.data_dir).map_err(StartError::Admin)?;
            tasks.push(actix_rt::spawn(admin::serve(admin, router.clone())));
        }
        log::info!(
            "serving {} with data in {}",
            config.domains.join(", "),
            config.data_dir.display()
        );
        Ok(ServerHandle {
            router,
            xmpp,
            c2s_addr: bound[0],
            tls_addr: bound[1],
            s2s_addr,
            s2s,
            web_addr,
            http,
            tasks,
            arbiters,
        })
    }
}

/// Warns once a day about certificates close to expiry (the first check is at start).
async fn expiry_checks(ctx: Arc<link::LinkContext>) {
    let mut daily = tokio::time::interval(std::time::Duration::from_secs(86_400));
    daily.tick().await;
    loop {
        daily.tick().await;
        ctx.tls.check_expiry();
    }
}

impl ServerHandle {
    /// Reads the configuration again from the source given to [`Server::config_source`] and
    /// puts it in force: certificates, limits, the registration switch and the login
    /// throttle apply to what happens next, and every session stays connected. A
    /// configuration that does not load, or whose certificates do not, changes nothing.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        self.xmpp.reloader.reload()
    }

    /// [`ServerHandle::reload`] with this configuration.
    pub fn reload_with(&self, config: Config) -> Result<Reloaded, ReloadError> {
        self.xmpp.reloader.apply(config)
    }

    /// The certificate in use for each served domain.
    pub fn certificates(&self) -> Vec<CertificateStatus> {
        self.xmpp.reloader.certificates()
    }

    /// Where STARTTLS clients connect.
    pub fn c2s_addr(&self) -> Option<SocketAddr> {
        self.c2s_addr
    }

    /// Where direct-TLS clients connect.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Where other servers connect (`s2s.listen`).
    pub fn s2s_addr(&self) -> Option<SocketAddr> {
        self.s2s_addr
    }

    /// Outgoing server-to-server streams open now, as (local domain, remote domain).
    pub fn s2s_outgoing(&self) -> Vec<(String, String)> {
        self.s2s.outgoing()
    }

    /// Where the built-in HTTP server (WebSocket, discovery) listens, if `web.listen` is set.
    pub fn web_addr(&self) -> Option<SocketAddr> {
        self.web_addr
    }

    /// The XMPP endpoints, to mount in an actix-web app with [`web::configure`].
    pub fn web(&self) -> web::Xmpp {
        self.xmpp.clone()
    }

    /// Creates an account with this password (stored only as salted SCRAM keys); `Ok(false)` if
    /// it exists already. Durable when this returns.
    pub async fn add_user(&self, jid: &jid::BareJid, password: &str) -> Result<bool, StorageError> {
        cordial_actors::accounts::create_account(&self.router, jid, password).await
    }

    /// Replaces an account's password; `Ok(false)` if there is no such account. Durable when
    /// this returns.
    pub async fn set_password(
        &self,
        jid: &jid::BareJid,
        password: &str,
    ) -> Result<bool, StorageError> {
        cordial_actors::accounts::change_password(&self.router, jid, password).await
    }

    /// Deletes an account and everything stored for it, and closes its sessions with
    /// `<not-authorized/>`; `Ok(false)` if there was no such account.
    pub async fn delete_user(&self, jid: &jid::BareJid) -> Result<bool, StorageError> {
        cordial_actors::accounts::delete_account(&self.router, jid).await
    }

    /// For tests: how many accounts have an actor running (in use, or idle for less than
    /// `limits.user_idle_secs`).
    #[doc(hidden)]
    pub fn running_users(&self) -> usize {
        self.router.running_users()
    }

    /// The server's storage: the engine given to [`Server::storage`], or the embedded one it
    /// opened.
    pub fn storage(&self) -> &SharedStorage {
        &self.router.store
    }

    /// Stops accepting, closes every stream with `<system-shutdown/>` (each session's
    /// unavailable presence goes out as its link ends), flushes storage and stops the arbiters.
    pub async fn stop(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.s2s.stop();
        self.router.close_all(StreamClose::new(
            StreamCondition::SystemShutdown,
            "The server is shutting down".to_string(),
        ));
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if let Some(http) = &self.http {
            // WebSocket streams were closed above with the others; now the HTTP workers.
            http.stop(false).await;
        }
        if let Err(e) = self.router.store.flush().await {
            log::error!("final flush failed: {e}");
        }
        for a in self.arbiters {
            a.stop();
        }
        log::info!("stopped");
    }
}
