//! cordial-faults: the full-disk run. The server's data directory is a small tmpfs; one client
//! sends messages to an account that stays offline until the disk is full, the tmpfs is grown
//! while the server runs, more messages and a roster set follow, and after a restart the
//! recipient collects what was stored.
//!
//! Per message: bounced if a `type='error'` message with its id came back (any condition);
//! acknowledged if the answer to a later iq on the same stream came (RFC 6120 §10.1: the answer
//! to a later stanza means the earlier ones were processed) and no bounce. Lost: acknowledged
//! and not delivered after the restart. The run fails if anything acknowledged was lost or if,
//! once the disk has room again, writes do not resume without a restart (every message after
//! the growth acknowledged and the roster set answered with a result).
//!
//! Runs as root (it mounts). Prints one JSON line per run and a summary line; exit status 1 if
//! any run failed, 2 if a run could not be carried out.

mod load;
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use cordial_bench::client::{self, Session, Target};
use serde_json::{json, Value};

use load::{Ledger, NS_ROSTER, TIMEOUT};
use server::{Kind, Server, Tmpfs};

#[derive(Parser)]
#[command(
    name = "cordial-faults",
    about = "full disk under load: nothing acknowledged may be lost, writes must resume"
)]
struct Cli {
    /// Which server `--server` is.
    #[arg(long, value_enum, default_value = "cordial")]
    kind: Kind,
    /// The server binary: cordial's (run as `cordial serve`) or prosody's.
    #[arg(long)]
    server: PathBuf,
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Messages sent to fill the disk.
    #[arg(long, default_value_t = 2000)]
    messages: usize,
    /// Messages sent after the disk was grown.
    #[arg(long, default_value_t = 200)]
    after: usize,
    /// Bytes of each message body.
    #[arg(long, default_value_t = 4096)]
    body_bytes: usize,
    /// The tmpfs the data directory starts on (mount's size= syntax).
    #[arg(long, default_value = "4M")]
    size: String,
    /// What it is grown to while the server runs.
    #[arg(long, default_value = "64M")]
    grown: String,
    /// Seconds between growing the disk and the next messages.
    #[arg(long, default_value_t = 5)]
    wait: u64,
    /// Where the runs' directories (and mount points) go; a new one under the system's
    /// temporary directory by default.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    #[arg(long)]
    seed: Option<u64>,
}

const PASSWORD: &str = "faults-pw";

fn mkdir(p: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    // Prosody runs as its own user and must reach its files.
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", p.display()))
}

async fn login(t: &Target, user: &str, resource: &str) -> Result<Session, String> {
    match tokio::time::timeout(TIMEOUT, client::login(t, user, resource, None)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("login of {user}: {e}")),
        Err(_) => Err(format!("login of {user} timed out")),
    }
}

/// Statistics of a run (the JSON line) and whether it passed.
struct Outcome {
    json: Value,
    ok: bool,
}

async fn one_run(cli: &Cli, work: &Path, run: usize, seed: u64) -> Result<Outcome, String> {
    let started = Instant::now();
    let dir = work.join(format!("{}-run{run}", cli.kind.name()));
    mkdir(&dir)?;
    let data = dir.join("data");
    let mut fs = Tmpfs::mount(&data, &cli.size)?;
    let mut server = Server::new(cli.kind, &cli.server, &dir, fs.path())?;
    server.start().await?;
    let target = Target {
        addr: server.addr,
        domain: "localhost".into(),
        tls: client::Tls::off(),
        password: PASSWORD.into(),
        mechanism: "PLAIN".into(),
        websocket: None,
        scram_keys: Default::default(),
    };
    for user in ["sender", "rcpt"] {
        client::register(&target, user, None)
            .await
            .map_err(|e| format!("registering {user}: {e}"))?;
    }
    let (n, m) = (cli.messages, cli.after);
    let mut l = Ledger::new(
        seed,
        &format!("r{run}"),
        n + m,
        cli.body_bytes,
        "rcpt@localhost",
    );
    let stanza_bytes = l.stanza(0).len();
    let used_before = fs.used()?;
    let mut errors: Vec<String> = Vec::new();
    let mut used_at_first_bounce = None;
    let mut sender = Some(login(&target, "sender", "load").await?);

    // Fill the disk.
    let t_fill = Instant::now();
    if let Some(s) = sender.as_mut() {
        let mut on_first = || used_at_first_bounce = fs.used().ok();
        if let Err(e) = load::send_range(s, &mut l, 0, n, &mut on_first).await {
            errors.push(format!("filling: {e}"));
            sender = None;
        }
    }
    let fill_secs = t_fill.elapsed().as_secs_f64();
    let used_after_fill = fs.used().ok();
    eprintln!(
        "cordial-faults: {} run {run}: {} sent, first bounce at {:?}, {:.1} s",
        cli.kind.name(),
        l.sent,
        l.first_bounce,
        fill_secs
    );
    if let Some(status) = server.exited() {
        errors.push(format!("the server exited while the disk filled: {status}"));
    }

    // Grow it while the server runs, wait, and write again.
    let mut roster_set = Value::Null;
    match fs.resize(&cli.grown) {
        Err(e) => errors.push(format!("growing the tmpfs: {e}")),
        Ok(()) => {
            tokio::time::sleep(Duration::from_secs(cli.wait)).await;
            if sender.is_none() {
                match login(&target, "sender", "load2").await {
                    Ok(s) => sender = Some(s),
                    Err(e) => errors.push(format!("after growing: {e}")),
                }
            }
            if let Some(s) = sender.as_mut() {
                let mut nothing = || {};
                let r = match load::send_range(s, &mut l, n, n + m, &mut nothing).await {
                    Ok(()) => {
                        let item = format!(
                            "<query xmlns='{NS_ROSTER}'><item jid='friend@localhost' name='after growing'/></query>"
                        );
                        load::iq(s, &mut l, "set", "set", &item, &mut nothing).await
                    }
                    Err(e) => Err(e),
                };
                match r {
                    Ok(reply) if reply.attr("type") == Some("result") => {
                        roster_set = json!("result");
                    }
                    Ok(reply) => roster_set = json!(String::from(&reply)),
                    Err(e) => {
                        errors.push(format!("after growing: {e}"));
                        sender = None;
                    }
                }
            }
        }
    }
    if let Some(s) = sender.take() {
        load::close(s, &mut l).await;
    }

    // Restart on the same (grown) disk and collect.
    let mut stop_clean = match server.stop().await {
        Ok(clean) => clean,
        Err(e) => {
            errors.push(format!("stopping: {e}"));
            false
        }
    };
    let mut received = None;
    match server.start().await {
        Err(e) => errors.push(format!("restarting: {e}")),
        Ok(()) => match login(&target, "rcpt", "collect").await {
            Err(e) => errors.push(format!("after the restart: {e}")),
            Ok(mut s) => {
                match load::collect(&mut s, &l).await {
                    Ok(r) => received = Some(r),
                    Err(e) => errors.push(format!("collecting: {e}")),
                }
                s.close().await;
            }
        },
    }
    match server.stop().await {
        Ok(clean) => stop_clean &= clean,
        Err(e) => {
            errors.push(format!("stopping after collecting: {e}"));
            stop_clean = false;
        }
    }
    if !errors.is_empty() {
        errors.push(format!("server logs: {}", server.log_tail(3)));
    }
    if let Err(e) = fs.unmount() {
        errors.push(format!("unmounting: {e}"));
    }

    // Count.
    let collected = received.is_some();
    let r = received.unwrap_or_default();
    let got = |i: usize| r.count.get(i).copied().unwrap_or(0);
    let sent = l.sent;
    let count =
        |range: std::ops::Range<usize>, f: &dyn Fn(usize) -> bool| range.filter(|&i| f(i)).count();
    let acknowledged = count(0..sent, &|i| l.acknowledged(i));
    let bounced = count(0..sent, &|i| l.bounced[i].is_some());
    let lost_ids: Vec<String> = (0..sent)
        .filter(|&i| l.acknowledged(i) && got(i) == 0)
        .map(|i| l.id(i))
        .collect();
    let lost_fill = count(0..n.min(sent), &|i| l.acknowledged(i) && got(i) == 0);
    let lost = lost_ids.len();
    let resumed_acked = count(n..sent, &|i| l.acknowledged(i));
    let writes_resumed = resumed_acked == m && roster_set == json!("result");
    let fit_end = l.first_bounce.unwrap_or(n.min(sent));
    let fit = count(0..fit_end, &|i| l.acknowledged(i));
    let per_message = |bytes: Option<u64>| match (bytes, l.first_bounce) {
        (Some(b), Some(_)) if fit > 0 => json!(b / fit as u64),
        _ => Value::Null,
    };
    let ok = collected && lost == 0 && writes_resumed;
    let json = json!({
        "server": cli.kind.name(),
        "run": run,
        "seed": seed,
        "size": cli.size,
        "grown": cli.grown,
        "body_bytes": cli.body_bytes,
        "stanza_bytes": stanza_bytes,
        "sent": sent,
        "acknowledged": acknowledged,
        "bounced": bounced,
        "bounce_conditions": l.conditions(),
        "late_bounces": l.late_bounces,
        "unanswered": count(0..sent, &|i| !l.acked[i] && l.bounced[i].is_none()),
        "received": count(0..sent, &|i| got(i) > 0),
        "lost": lost,
        "lost_while_filling": lost_fill,
        "lost_ids": &lost_ids[..lost.min(10)],
        "duplicates": r.count.iter().map(|c| c.saturating_sub(1)).sum::<usize>(),
        "bounced_but_received": count(0..sent, &|i| l.bounced[i].is_some() && got(i) > 0),
        "altered": r.altered,
        "unknown": r.unknown,
        "after_ping": r.after_ping,
        "first_bounce": l.first_bounce,
        "fit": fit,
        "fit_received": count(0..fit_end, &|i| got(i) > 0),
        "used_before_load": used_before,
        "used_at_first_bounce": used_at_first_bounce,
        "used_after_fill": used_after_fill,
        "bytes_per_message": per_message(used_at_first_bounce),
        "bytes_per_message_marginal":
            per_message(used_at_first_bounce.map(|u| u.saturating_sub(used_before))),
        "resumed": { "acknowledged": resumed_acked, "of": m, "roster_set": roster_set },
        "writes_resumed": writes_resumed,
        "stopped_cleanly": stop_clean,
        "errors": errors,
        "fill_seconds": fill_secs,
        "seconds": started.elapsed().as_secs_f64(),
        "ok": ok,
    });
    Ok(Outcome { json, ok })
}

fn median(mut v: Vec<u64>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_unstable();
    json!(v[v.len() / 2])
}

fn summary(cli: &Cli, runs: &[Value]) -> Value {
    let nums = |key: &str| -> Vec<u64> { runs.iter().filter_map(|r| r[key].as_u64()).collect() };
    let fit = nums("fit");
    json!({
        "summary": true,
        "server": cli.kind.name(),
        "runs": runs.len(),
        "runs_ok": runs.iter().filter(|r| r["ok"] == json!(true)).count(),
        "lost_per_run": nums("lost"),
        "runs_with_loss": runs.iter().filter(|r| r["lost"].as_u64() != Some(0)).count(),
        "runs_resumed": runs.iter().filter(|r| r["writes_resumed"] == json!(true)).count(),
        "resumed_acknowledged_per_run":
            runs.iter().map(|r| r["resumed"]["acknowledged"].clone()).collect::<Vec<_>>(),
        "fit_min": fit.iter().min(),
        "fit_median": median(fit.clone()),
        "fit_max": fit.iter().max(),
        "bytes_per_message_median": median(nums("bytes_per_message")),
        "bytes_per_message_marginal_median": median(nums("bytes_per_message_marginal")),
        "duplicates": nums("duplicates").iter().sum::<u64>(),
        "bounced_but_received": nums("bounced_but_received").iter().sum::<u64>(),
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(rand::random);
    let work = cli.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("cordial-faults-{}", std::process::id()))
    });
    if let Err(e) = mkdir(&work) {
        eprintln!("cordial-faults: {e}");
        std::process::exit(2);
    }
    eprintln!(
        "cordial-faults: {} ({}), seed {seed}, work dir {}",
        cli.kind.name(),
        cli.server.display(),
        work.display()
    );
    // On SIGINT or SIGTERM the runs are dropped: the server is killed and the tmpfs unmounted.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        code = all_runs(&cli, &work, seed) => std::process::exit(code),
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("cordial-faults: interrupted");
    std::process::exit(130);
}

/// Every run, then the summary; the exit status.
async fn all_runs(cli: &Cli, work: &Path, seed: u64) -> i32 {
    let mut results = Vec::new();
    let mut all_ok = true;
    for run in 1..=cli.runs {
        match one_run(cli, work, run, seed.wrapping_add(run as u64)).await {
            Ok(o) => {
                println!("{}", o.json);
                all_ok &= o.ok;
                results.push(o.json);
            }
            Err(e) => {
                eprintln!("cordial-faults: run {run} could not be carried out: {e}");
                return 2;
            }
        }
    }
    println!("{}", summary(cli, &results));
    if all_ok {
        0
    } else {
        1
    }
}
