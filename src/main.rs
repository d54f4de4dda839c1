//! `cordial serve | adduser | deluser | passwd | users` — thin: parses arguments, calls the
//! library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use cordial::admin::{self, Request};
use cordial::config::{Config, ConfigError, Listen};

mod logging;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "cordial",
    version,
    about = "An XMPP instant messaging and presence server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// TOML configuration file; every key has a default.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Serve this domain (instead of the configured ones).
    #[arg(long, global = true)]
    domain: Option<String>,
    /// Data directory (sled database, development certificate, admin socket).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// STARTTLS client listener, IP:port or "off".
    #[arg(long, global = true)]
    c2s_listen: Option<String>,
    /// Direct TLS client listener, IP:port or "off".
    #[arg(long, global = true)]
    tls_listen: Option<String>,
    /// HTTP listener for WebSocket clients (RFC 7395) and discovery, IP:port or "off".
    #[arg(long, global = true)]
    web_listen: Option<String>,
    /// Server-to-server listener (federation), IP:port or "off".
    #[arg(long, global = true)]
    s2s_listen: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(Common),
    /// Create an account (asks for the password unless --password is given).
    Adduser(WithPassword),
    /// Delete an account and everything stored for it.
    Deluser {
        jid: String,
        #[command(flatten)]
        common: Common,
    },
    /// Change an account's password.
    Passwd(WithPassword),
    /// List accounts.
    Users(Common),
    /// Check the stored state's invariants (with the server stopped); exit status 1 if any
    /// problem is found.
    Check(Common),
}

/// The arguments of the account commands that set a password.
#[derive(Args)]
struct WithPassword {
    jid: String,
    #[arg(long)]
    password: Option<String>,
    #[command(flatten)]
    common: Common,
}

impl WithPassword {
    /// The options and the request `make` builds from the JID and the password (the one given,
    /// or one typed at the terminal).
    fn request(
        self,
        make: impl FnOnce(String, String) -> Request,
    ) -> Result<(Common, Request), ExitCode> {
        let password = password_or_prompt(self.password).map_err(fail)?;
        Ok((self.common, make(self.jid, password)))
    }
}

fn load_config(c: &Common) -> Result<Config, ConfigError> {
    let mut config = match &c.config {
        Some(p) => Config::from_file(p)?,
        None => Config::default(),
    };
    if let Some(d) = &c.domain {
        config.domains = vec![d.clone()];
    }
    if let Some(d) = &c.data_dir {
        config.data_dir = d.clone();
    }
    let listen = |flag: &'static str, v: &str| {
        Listen::parse(v).ok_or(ConfigError::Invalid {
            key: flag,
            value: v.to_string(),
            accepted: "an IP:port such as 127.0.0.1:5222, or \"off\"",
        })
    };
    if let Some(l) = &c.c2s_listen {
        config.c2s.listen = listen("--c2s-listen", l)?;
    }
    if let Some(l) = &c.tls_listen {
        config.c2s.tls_listen = listen("--tls-listen", l)?;
    }
    if let Some(l) = &c.s2s_listen {
        config.s2s.listen = listen("--s2s-listen", l)?;
    }
    if let Some(l) = &c.web_listen {
        config.web.listen = listen("--web-listen", l)?;
    }
    config.validate()?;
    Ok(config)
}

fn main() -> ExitCode {
    // sled's own log is off by default: every error it logs also comes back to the store,
    // which reports an outage once (its tree handles alone log one line each when they are
    // dropped on a full disk). RUST_LOG replaces the default; `cordial serve` then applies the
    // configuration's `log_level`.
    logging::init(None);
    match run(Cli::parse().command) {
        Ok(code) | Err(code) => code,
    }
}

/// Carries out a command; `Err` holds the exit code of a command that failed before it could
/// run.
fn run(command: Command) -> Result<ExitCode, ExitCode> {
    let config = |common: &Common| load_config(common).map_err(config_error);
    let (common, request) = match command {
        Command::Serve(common) => return Ok(serve(config(&common)?, common)),
        Command::Check(common) => return Ok(check(&config(&common)?)),
        Command::Adduser(a) => a.request(|jid, password| Request::Adduser { jid, password })?,
        Command::Passwd(a) => a.request(|jid, password| Request::Passwd { jid, password })?,
        Command::Deluser { jid, common } => (common, Request::Deluser { jid }),
        Command::Users(common) => (common, Request::Users),
    };
    Ok(account_command(config(&common)?, request))
}

/// `cordial check`: opens the database (which fails while a server holds it) and reports what
/// is inconsistent.
fn check(config: &Config) -> ExitCode {
    let store = match cordial_storage::Store::open(&config.data_dir.join("db")) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match store.check() {
        Ok(problems) if problems.is_empty() => {
            println!("the stored state is consistent");
            ExitCode::SUCCESS
        }
        Ok(problems) => {
            for p in &problems {
                println!("{p}");
            }
            eprintln!("cordial: {} problems in the stored state", problems.len());
            ExitCode::from(1)
        }
        Err(e) => fail(e),
    }
}

/// A configuration that cannot be used: exit status 2.
fn config_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordial: {e}");
    ExitCode::from(2)
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("cordial: {e}");
    ExitCode::from(1)
}

/// The `--password` value, or one typed twice at the terminal.
fn password_or_prompt(given: Option<String>) -> Result<String, String> {
    if let Some(p) = given {
        return Ok(p);
    }
    let read = |prompt| {
        rpassword::prompt_password(prompt).map_err(|e| format!("cannot read the password: {e}"))
    };
    let p = read("Password: ")?;
    if read("Password (again): ")? != p {
        return Err("the passwords differ".into());
    }
    Ok(p)
}

fn serve(config: Config, common: Common) -> ExitCode {
    logging::reload(config.log_level.as_deref());
    let system = actix_rt::System::new();
    let result = system.block_on(async move {
        let server = cordial::Server::new(config)
            .admin_socket(true)
            .config_source(move || read_for_reload(&common))
            .start()
            .await?;
        while let Signal::Reload = next_signal().await {
            match server.reload() {
                Ok(done) => {
                    for c in &done.certificates {
                        log::info!(
                            "{}: certificate {} ({} days to expiry)",
                            c.domain,
                            c.source,
                            c.days_to_expiry
                        );
                    }
                }
                Err(e) => log::error!("configuration not reloaded, the running one stays: {e}"),
            }
        }
        log::info!("shutting down");
        server.stop().await;
        Ok::<_, cordial::StartError>(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ cordial::StartError::Config(_)) => config_error(e),
        Err(e) => fail(e),
    }
}

enum Signal {
    /// SIGTERM or Ctrl-C.
    Stop,
    /// SIGHUP: read the configuration again.
    Reload,
}

async fn next_signal() -> Signal {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut hup = signal(SignalKind::hangup()).expect("SIGHUP handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => Signal::Stop,
        _ = term.recv() => Signal::Stop,
        _ = hup.recv() => Signal::Reload,
    }
}

/// A reload (SIGHUP, the admin API) reads the same file and flags as at start, and sets the
/// log filter from it once it validates. One that does not load is reported by the caller and
/// the running one kept; the server never stops on a reload.
fn read_for_reload(common: &Common) -> Result<Config, String> {
    let config = load_config(common).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    let filter = logging::reload(config.log_level.as_deref());
    log::info!("log filter {filter:?}");
    Ok(config)
}

/// Runs an account command through a running server's admin socket, or directly on the
/// database when no server runs (through the same actors, on this thread).
fn account_command(config: Config, request: Request) -> ExitCode {
    let system = actix_rt::System::new();
    let result = system.block_on(admin::request(&config, request));
    match result {
        Ok(resp) if resp.ok => {
            for u in &resp.users {
                println!("{u}");
            }
            if resp.users.is_empty() {
                println!("{}", resp.message);
            }
            ExitCode::SUCCESS
        }
        Ok(resp) => fail(resp.message),
        Err(e) => fail(e),
    }
}
