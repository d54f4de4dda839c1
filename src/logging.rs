//! The binary's logger: env_logger, with a filter that can be replaced while the server runs
//! (`SIGHUP` re-reads `log_level` from the configuration). `RUST_LOG`, when set, wins over the
//! configuration, at start and on every reload.

use std::sync::RwLock;

use log::{Log, Metadata, Record};

/// The filter when neither `RUST_LOG` nor the configuration names one. sled's own log is off:
/// every error it logs also comes back to the store, which reports an outage once.
pub const DEFAULT_FILTER: &str = "info,sled=off";

struct Reloadable(RwLock<env_logger::Logger>);

static LOGGER: std::sync::OnceLock<Reloadable> = std::sync::OnceLock::new();

/// The filter in force: `RUST_LOG`, else the configuration's, else [`DEFAULT_FILTER`].
fn chosen(config_filter: Option<&str>) -> String {
    std::env::var("RUST_LOG")
        .ok()
        .or(config_filter.map(str::to_string))
        .unwrap_or_else(|| DEFAULT_FILTER.to_string())
}

/// A logger for `filter`, with the rest of env_logger's settings (`RUST_LOG_STYLE`) from the
/// environment as before.
fn build(filter: &str) -> env_logger::Logger {
    env_logger::Builder::from_env(env_logger::Env::default())
        .parse_filters(filter)
        .build()
}

/// Installs the logger with the configuration's filter (`None`: the default).
pub fn init(config_filter: Option<&str>) {
    let installed = LOGGER.get_or_init(|| Reloadable(RwLock::new(build(DEFAULT_FILTER))));
    // A second init (there is none in the binary) keeps the first logger.
    let _ = log::set_logger(installed);
    reload(config_filter);
}

/// Replaces the filter; returns the one now in force.
pub fn reload(config_filter: Option<&str>) -> String {
    let filter = chosen(config_filter);
    let logger = build(&filter);
    let level = logger.filter();
    if let Some(l) = LOGGER.get() {
        *l.0.write().expect("logger lock") = logger;
    }
    log::set_max_level(level);
    filter
}

impl Log for Reloadable {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.0.read().expect("logger lock").enabled(metadata)
    }

    fn log(&self, record: &Record) {
        self.0.read().expect("logger lock").log(record)
    }

    fn flush(&self) {
        self.0.read().expect("logger lock").flush()
    }
}
