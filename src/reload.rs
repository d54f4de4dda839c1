//! Reloading the configuration of a running server (SIGHUP, `POST /admin/api/reload`,
//! [`ServerHandle::reload`](crate::ServerHandle::reload)): certificates, limits, the
//! registration switch, the login throttle and the connection limits take effect for what
//! happens next; sessions stay connected. What decides sockets, files or stored data (domains,
//! data dir, listeners, the admin token) changes only with a restart: a reload that changes it
//! says so and keeps the running value.

use std::sync::Arc;
use std::time::Duration;

use cordial_actors::Router;
use serde::Serialize;

use crate::config::Config;
use crate::link::LinkContext;
use crate::tls::TlsError;

/// Where a reload reads the configuration from: for `cordial serve`, the same file and flags
/// as at start.
pub type ConfigSource = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("the configuration does not load: {0}")]
    Config(String),
    #[error("the certificates do not load: {0}")]
    Tls(#[from] TlsError),
    #[error("this server was given no configuration source to reload from")]
    NoSource,
}

/// What a reload did.
#[derive(Clone, Debug, Serialize)]
pub struct Reloaded {
    /// Keys whose new value needs a restart; the running value stays until then.
    pub restart_needed: Vec<&'static str>,
    /// The certificate of each served domain now in use, with its days to expiry.
    pub certificates: Vec<CertificateStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CertificateStatus {
    pub domain: String,
    pub source: String,
    pub days_to_expiry: i64,
}

/// The reloading side of one running server.
pub(crate) struct Reloader {
    pub(crate) source: Option<ConfigSource>,
    pub(crate) ctx: Arc<LinkContext>,
    pub(crate) router: Arc<Router>,
}

impl Reloader {
    /// Reads the configuration from the source and applies it.
    pub(crate) fn reload(&self) -> Result<Reloaded, ReloadError> {
        let source = self.source.as_ref().ok_or(ReloadError::NoSource)?;
        let config = source().map_err(ReloadError::Config)?;
        self.apply(config)
    }

    /// Applies `config`: everything or, when it does not validate or its certificates do not
    /// load, nothing.
    pub(crate) fn apply(&self, mut config: Config) -> Result<Reloaded, ReloadError> {
        config
            .validate()
            .map_err(|e| ReloadError::Config(e.to_string()))?;
        let running = self.ctx.config();
        let restart_needed = restart_only_changes(&running, &config);
        // The values only a restart can change stay as they run, so what is in force is one
        // consistent configuration.
        config.domains = running.domains.clone();
        config.data_dir = running.data_dir.clone();
        config.c2s = running.c2s.clone();
        config.web.listen = running.web.listen;
        config.web.admin_token = running.web.admin_token.clone();
        self.ctx.tls.reload(&config)?;
        self.router.reconfigure(config.actors_config());
        self.ctx.throttle.set_limits(
            config.auth.ip_failures_before_backoff,
            config.auth.account_failures_before_backoff,
            Duration::from_secs(config.auth.backoff_max_secs),
        );
        self.ctx.connections.set_limits(
            config.limits.max_connections_per_ip,
            config.limits.loopback_exempt,
        );
        self.ctx.config.store(Arc::new(config));
        for key in &restart_needed {
            log::warn!("{key} changed in the configuration: it takes effect on restart");
        }
        log::info!("configuration reloaded");
        Ok(Reloaded {
            restart_needed,
            certificates: self.certificates(),
        })
    }

    pub(crate) fn certificates(&self) -> Vec<CertificateStatus> {
        self.ctx
            .tls
            .certificates()
            .into_iter()
            .map(|c| CertificateStatus {
                days_to_expiry: c.days_to_expiry(),
                domain: c.domain,
                source: c.source,
            })
            .collect()
    }
}

fn restart_only_changes(running: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if running.domains != new.domains {
        changed.push("domains");
    }
    if running.data_dir != new.data_dir {
        changed.push("data_dir");
    }
    if running.c2s.listen != new.c2s.listen {
        changed.push("c2s.listen");
    }
    if running.c2s.tls_listen != new.c2s.tls_listen {
        changed.push("c2s.tls_listen");
    }
    if running.web.listen != new.web.listen {
        changed.push("web.listen");
    }
    if running.web.admin_token != new.web.admin_token {
        changed.push("web.admin_token");
    }
    changed
}
