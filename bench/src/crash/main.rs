//! cordial-crash: runs `cordial serve` as a child process under a mixed load, kills it with
//! SIGKILL at random moments, restarts it and proves over the protocol that every operation the
//! server acknowledged is still there and that both sides of every subscription agree.
//!
//! What counts as acknowledged (the server said it succeeded):
//! - a roster set or remove, a XEP-0191 block or unblock, a XEP-0016 list edit: the iq result;
//! - a subscription step: the roster pushes that announce the new state to both accounts;
//! - a message to an offline account: the result of a later iq sent on the same stream to that
//!   account's bare JID, which the server answers on the account's behalf from the same actor,
//!   after the message is stored.
//!
//! Every kill is followed by a check of the stored state (`cordial check`, the server being
//! down) and a restart; then every account is read back over the protocol. An operation in
//! flight at the kill may or may not have been applied; an acknowledged one must be there.
//! Exit status 1 if anything acknowledged was lost or anything is inconsistent.

mod ledger;
mod verify;
mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use cordial_bench::client::{self, Target};
use cordial_bench::process;
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::process::{Child, Command};

use ledger::Ledger;

#[derive(Parser, Clone)]
#[command(
    name = "cordial-crash",
    about = "kill -9 under load; nothing acknowledged may be lost"
)]
pub struct Cli {
    /// The cordial binary to run (`cordial serve`).
    #[arg(long)]
    server: PathBuf,
    /// How many times the server is killed.
    #[arg(long, default_value_t = 50)]
    kills: usize,
    /// Accounts that edit their rosters.
    #[arg(long, default_value_t = 6)]
    roster_users: usize,
    /// Accounts that edit their blocklist and a privacy list.
    #[arg(long, default_value_t = 4)]
    privacy_users: usize,
    /// Pairs of accounts that subscribe, approve and unsubscribe in a loop.
    #[arg(long, default_value_t = 4)]
    pairs: usize,
    /// Senders that message an account that stays offline.
    #[arg(long, default_value_t = 4)]
    offline: usize,
    /// The load runs for a random time in [MIN_MS, MAX_MS] between a restart and the next kill.
    #[arg(long, default_value_t = 300)]
    min_ms: u64,
    #[arg(long, default_value_t = 1500)]
    max_ms: u64,
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the data directory (and the server's logs) instead of deleting it.
    #[arg(long)]
    keep: bool,
}

/// The server under test: a child process on a loopback port with its own data directory.
struct Server {
    bin: PathBuf,
    config: PathBuf,
    dir: PathBuf,
    addr: SocketAddr,
    child: Option<Child>,
    starts: usize,
}

impl Server {
    async fn start(&mut self) -> Result<(), String> {
        self.starts += 1;
        let log = self.dir.join(format!("server-{}.log", self.starts));
        let mut cmd = process::cordial_serve(&self.bin, &self.config);
        process::start(&mut cmd, &self.bin, &log, self.addr, &mut self.child).await
    }

    async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill(); // SIGKILL
            let _ = c.wait().await;
        }
    }

    /// `cordial check`: the stored state's own invariants, read while the server is down.
    async fn check(&self) -> Result<(), String> {
        let out = Command::new(&self.bin)
            .arg("check")
            .arg("--config")
            .arg(&self.config)
            .output()
            .await
            .map_err(|e| format!("running cordial check: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "cordial check failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let dir = std::env::temp_dir().join(format!("cordial-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the work directory");
    let port = process::free_port();
    let config = dir.join("cordial.toml");
    std::fs::write(&config, process::cordial_config(&dir.join("data"), port))
        .expect("write the config");
    let mut server = Server {
        bin: cli.server.clone(),
        config,
        dir: dir.clone(),
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child: None,
        starts: 0,
    };
    let target = Target {
        addr: server.addr,
        domain: "localhost".into(),
        tls: client::Tls::off(),
        password: "crash-pw".into(),
        mechanism: "PLAIN".into(),
        websocket: None,
        scram_keys: Default::default(),
    };
    eprintln!("cordial-crash: seed {seed}, work dir {}", dir.display());
    if let Err(e) = server.start().await {
        eprintln!("cordial-crash: {e}");
        std::process::exit(2);
    }
    let ledger = Arc::new(Mutex::new(Ledger::new(&cli)));
    let accounts = ledger.lock().unwrap().accounts();
    for user in accounts {
        if let Err(e) = client::register(&target, &user, None).await {
            eprintln!("cordial-crash: registering {user}: {e}");
            std::process::exit(2);
        }
    }
    let started = Instant::now();
    let mut kills = 0;
    let mut check_failures = Vec::new();
    while kills < cli.kills {
        let run_for = Duration::from_millis(rng.gen_range(cli.min_ms..=cli.max_ms.max(cli.min_ms)));
        let tasks = workers::spawn_all(&target, &ledger, rng.gen());
        tokio::time::sleep(run_for).await;
        server.kill().await;
        kills += 1;
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
        if let Err(e) = server.check().await {
            eprintln!("cordial-crash: after kill {kills}: {e}");
            check_failures.push(format!("after kill {kills}: {e}"));
        }
        if let Err(e) = server.start().await {
            eprintln!("cordial-crash: restarting after kill {kills}: {e}");
            std::process::exit(2);
        }
        // Read everything back: offline messages only at the end and every tenth round, since
        // reading them delivers them.
        let with_offline = kills == cli.kills || kills % 10 == 0;
        verify::all(&target, &ledger, kills, with_offline).await;
        let l = ledger.lock().unwrap();
        eprintln!(
            "cordial-crash: kill {kills}/{}: {} acknowledged so far, {} lost, {} inconsistent",
            cli.kills,
            l.acked_total(),
            l.lost.len(),
            l.inconsistent.len()
        );
    }
    server.kill().await;
    let l = ledger.lock().unwrap();
    let ok = l.lost.is_empty() && l.inconsistent.is_empty() && check_failures.is_empty();
    for what in l.lost.iter().chain(&l.inconsistent).chain(&check_failures) {
        eprintln!("cordial-crash: {what}");
    }
    println!(
        "{}",
        json!({
            "seed": seed,
            "kills": kills,
            "acknowledged": l.acked_total(),
            "acknowledged_by_kind": l.acked_by_kind(),
            "lost": l.lost.len(),
            "inconsistent": l.inconsistent.len(),
            "storage_check_failures": check_failures.len(),
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    drop(l);
    if !cli.keep && ok {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        eprintln!("cordial-crash: data and logs kept in {}", dir.display());
    }
    std::process::exit(if ok { 0 } else { 1 });
}
