//! A server under test run as a child process on a loopback port, as the crash and fault drivers
//! run it: a free port, cordial's config for them, and a start that waits until it listens.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A cordial config with its data in `data` and clients on 127.0.0.1:`port`, without TLS
/// (neither required nor on a port of its own) and without the web listener, in-band
/// registration on, no stanza rate limit, and an offline quota above what a run sends.
pub fn cordial_config(data: &Path, port: u16) -> String {
    format!(
        "data_dir = {data:?}\n[c2s]\nlisten = \"127.0.0.1:{port}\"\ntls_listen = \"off\"\n\
         [web]\nlisten = \"off\"\n[s2s]\nlisten = \"off\"\n[auth]\nrequire_tls = false\nregistration = true\n\
         [limits]\noffline_quota = 1000000\nstanzas_per_sec = 0\n"
    )
}

/// `BIN serve --config CONFIG`, logging at RUST_LOG's level (warn if unset).
pub fn cordial_serve(bin: &Path, config: &Path) -> Command {
    let mut c = Command::new(bin);
    c.arg("serve").arg("--config").arg(config).env(
        "RUST_LOG",
        std::env::var("RUST_LOG").unwrap_or("warn".into()),
    );
    c
}

/// Spawns `cmd` (the program `bin`) into `child`, stdin closed and its output to the file `log`,
/// killed when dropped; then waits up to 60 s for `addr` to accept a connection. If the process
/// exits first, `child` is emptied again.
pub async fn start(
    cmd: &mut Command,
    bin: &Path,
    log: &Path,
    addr: SocketAddr,
    child: &mut Option<Child>,
) -> Result<(), String> {
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let spawned = cmd
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let running = child.insert(spawned);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = running.try_wait() {
            *child = None;
            return Err(format!("the server exited at startup: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err("the server did not listen within 60 s".into())
}
