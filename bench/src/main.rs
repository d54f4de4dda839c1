//! cordial-bench: drives any XMPP server as clients over TCP and prints one JSON line of results.
//!
//! Scenarios: `register` (in-band registration of the accounts), `rosters` (gives each account
//! K roster items), `idle` (N sessions log in and stay), `login` (connect, auth, bind, roster get,
//! presence, close, as fast as possible), `chat` (online users message random online users at a
//! target rate; latency from timestamps in the messages), `roster` (roster get of a K-item roster
//! and roster sets per second), `subscriptions` (mutual subscriptions in a ring of K contacts
//! plus a hub with F contacts), `presence` (hub fan-out, presence flood, login churn; see
//! presence.rs), `probe` (what the server offers on a secured stream: SASL mechanisms, channel
//! binding types, TLS version). Every run is bounded in count and time and stops by itself.

use cordial_bench::client;
mod presence;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use client::{Error, Target};
use rand::Rng;
use serde_json::json;
use tokio::sync::Semaphore;

#[derive(Parser)]
#[command(name = "cordial-bench", about = "XMPP load generator")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    #[arg(long, default_value_t = 5222)]
    port: u16,
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Use STARTTLS (otherwise the server must allow authentication without TLS).
    #[arg(long, conflicts_with = "direct_tls")]
    starttls: bool,
    /// TLS from the first byte (XEP-0368, ALPN `xmpp-client`) instead of STARTTLS: PORT is then
    /// the server's direct TLS port.
    #[arg(long)]
    direct_tls: bool,
    /// Offer TLS 1.3 only (a server without it fails the handshake). Without it or --tls12 the
    /// client offers 1.2 and 1.3 and the server picks.
    #[arg(long, conflicts_with = "tls12")]
    tls13: bool,
    /// Offer TLS 1.2 only.
    #[arg(long)]
    tls12: bool,
    /// Channel binding type for SCRAM-*-PLUS: auto (the server's XEP-0440 advertisement, else
    /// tls-exporter over TLS 1.3 and tls-unique over TLS 1.2), tls-exporter,
    /// tls-server-end-point or tls-unique.
    #[arg(long, default_value = "auto")]
    cb: client::CbType,
    /// Connect over XMPP-over-WebSocket (RFC 7395) to ws://HOST:PORT/PATH instead of TCP c2s
    /// (PORT is then the HTTP port; the path defaults to /xmpp-websocket).
    #[arg(long, num_args = 0..=1, default_missing_value = "/xmpp-websocket")]
    websocket: Option<String>,
    #[arg(long, default_value = "bench-pw")]
    password: String,
    /// SASL mechanism for logins: PLAIN, SCRAM-SHA-1, SCRAM-SHA-256, SCRAM-SHA-512, or a SCRAM
    /// one with -PLUS (channel binding; needs --starttls or --direct-tls).
    #[arg(long, global = true, default_value = "PLAIN")]
    mechanism: String,
    /// Accounts are PREFIX0 .. PREFIX{N-1}.
    #[arg(long, default_value = "user")]
    prefix: String,
    /// Local source addresses, comma separated (to pass ~28k ephemeral ports per address).
    #[arg(long, global = true, value_delimiter = ',')]
    sources: Vec<IpAddr>,
    /// Concurrent connection setups.
    #[arg(long, global = true, default_value_t = 64)]
    concurrency: usize,
    /// The server's PID, if it runs on this machine: phases then report the server's CPU time
    /// (from /proc) per unit of work.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// Keep SCRAM salted passwords in this file between runs, as a client that remembers
    /// them would (RFC 5802 §5.1), so that logins measure the server's SCRAM work rather than
    /// the load generator's PBKDF2. A salted password is as good as the password: for test
    /// accounts only.
    #[arg(long, global = true)]
    scram_cache: Option<std::path::PathBuf>,
    /// A label for the JSON output (server name).
    #[arg(long, global = true, default_value = "server")]
    label: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Register N accounts in band (XEP-0077).
    Register {
        #[arg(short)]
        n: usize,
    },
    /// Give each of N accounts K roster items (its next K accounts, wrapping).
    Rosters {
        #[arg(short)]
        n: usize,
        #[arg(short)]
        k: usize,
    },
    /// N sessions log in (roster get, presence) and stay connected for HOLD seconds.
    Idle {
        #[arg(short)]
        n: usize,
        #[arg(long, default_value_t = 10)]
        hold: u64,
    },
    /// Full logins (connect, auth, bind, roster get, presence, close) for DURATION seconds.
    Login {
        #[arg(short)]
        n: usize,
        #[arg(long, default_value_t = 10)]
        duration: u64,
    },
    /// N online users send chat messages to random online users at RATE msg/s in total.
    Chat {
        #[arg(short)]
        n: usize,
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Before chatting, every user activates a XEP-0016 privacy list of this many items
        /// (jid items for other entities, then a fall-through allow), so that every message is
        /// checked against a whole list.
        #[arg(long, default_value_t = 0)]
        privacy_items: usize,
    },
    /// One account with a K-item roster: ITERATIONS roster gets, and roster sets per second.
    Roster {
        #[arg(short)]
        k: usize,
        #[arg(long, default_value_t = 20)]
        iterations: usize,
        #[arg(long, default_value = "rosteruser")]
        user: String,
    },
    /// Opens a stream as a login would (with TLS if asked) and reports what the server offers:
    /// SASL mechanisms, channel binding types (XEP-0440), TLS version and cipher, and whether
    /// --mechanism is among them; with --login, then one login of PREFIX0 with it.
    Probe {
        #[arg(long)]
        login: bool,
    },
    /// Mutual subscriptions: each of N accounts with its K/2 ring neighbours on either side, and
    /// the account PREFIXhub with the first HUB accounts.
    Subscriptions(presence::Ring),
    /// N accounts (set up by `subscriptions`) online: hub fan-out to HUB contacts, a presence
    /// flood at RATE changes/s, and login/logout churn, each DURATION seconds.
    Presence(presence::Params),
}

struct Ctx {
    target: Target,
    prefix: String,
    sources: Vec<IpAddr>,
    concurrency: usize,
    server_pid: Option<u32>,
}

impl Ctx {
    fn user(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }
    fn source(&self, i: usize) -> Option<IpAddr> {
        (!self.sources.is_empty()).then(|| self.sources[i % self.sources.len()])
    }
    /// CPU seconds (user + system) the server has used so far, if its PID is known.
    fn server_cpu(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.server_pid?)).ok()?;
        // Fields after the command name, which is in parentheses and may contain spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Runs `f(i)` for i in 0..n with bounded concurrency; returns how many succeeded.
async fn for_each<F, Fut>(n: usize, concurrency: usize, f: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(concurrency));
    let ok = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let fut = f(i);
        let ok = ok.clone();
        tasks.push(tokio::spawn(async move {
            match fut.await {
                Ok(()) => {
                    ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => eprintln!("task {i}: {e}"),
            }
            drop(permit);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    ok.load(Ordering::Relaxed)
}

/// Runs `workers` tasks that each call `f(pick())` over and over until `deadline`; returns how
/// many calls failed (the first five failures are printed as `{what} {i}: {error}`).
async fn repeat_until<P, F, Fut>(
    workers: usize,
    deadline: Instant,
    what: &'static str,
    pick: P,
    f: F,
) -> usize
where
    P: Fn() -> usize + Clone + Send + 'static,
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), Error>> + Send + 'static,
{
    let failed = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (pick, f, failed) = (pick.clone(), f.clone(), failed.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let i = pick();
                    if let Err(e) = f(i).await {
                        if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("{what} {i}: {e}");
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    failed.load(Ordering::Relaxed)
}

async fn register(ctx: Arc<Ctx>, n: usize) -> serde_json::Value {
    let start = Instant::now();
    let ok = for_each(n, ctx.concurrency, |i| {
        let ctx = ctx.clone();
        async move { client::register(&ctx.target, &ctx.user(i), ctx.source(i)).await }
    })
    .await;
    json!({"registered": ok, "secs": start.elapsed().as_secs_f64()})
}

fn roster_item(jid: &str, name: &str) -> String {
    format!("<query xmlns='jabber:iq:roster'><item jid='{jid}' name='{name}'><group>bench</group></item></query>")
}

async fn rosters(ctx: Arc<Ctx>, n: usize, k: usize) -> serde_json::Value {
    let start = Instant::now();
    let ok = for_each(n, ctx.concurrency, |i| {
        let ctx = ctx.clone();
        async move {
            let mut s = client::login(&ctx.target, &ctx.user(i), "setup", ctx.source(i)).await?;
            for j in 1..=k {
                let contact = format!("{}@{}", ctx.user((i + j) % n), ctx.target.domain);
                s.iq(
                    &format!("r{j}"),
                    "set",
                    &roster_item(&contact, &ctx.user((i + j) % n)),
                )
                .await?;
            }
            s.close().await;
            Ok(())
        }
    })
    .await;
    json!({"accounts": ok, "k": k, "secs": start.elapsed().as_secs_f64()})
}

/// Logs in, fetches the roster, sends initial presence.
async fn come_online(ctx: &Ctx, i: usize, resource: &str) -> Result<client::Session, Error> {
    let mut s = client::login(&ctx.target, &ctx.user(i), resource, ctx.source(i)).await?;
    s.iq("roster", "get", "<query xmlns='jabber:iq:roster'/>")
        .await?;
    s.send("<presence/>").await?;
    Ok(s)
}

async fn idle(ctx: Arc<Ctx>, n: usize, hold: u64) -> serde_json::Value {
    let cpu0 = ctx.server_cpu();
    let start = Instant::now();
    let sessions = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let ok = for_each(n, ctx.concurrency, |i| {
        let ctx = ctx.clone();
        let sessions = sessions.clone();
        async move {
            let s = come_online(&ctx, i, "idle").await?;
            sessions.lock().unwrap().push(s);
            Ok(())
        }
    })
    .await;
    let login_secs = start.elapsed().as_secs_f64();
    let login_cpu = ctx.server_cpu().zip(cpu0).map(|(b, a)| b - a);
    // The driver script samples the server's memory while we hold.
    println!("READY {ok}");
    tokio::time::sleep(Duration::from_secs(hold)).await;
    let held: Vec<_> = std::mem::take(&mut *sessions.lock().unwrap());
    for s in held {
        s.close().await;
    }
    json!({
        "sessions": ok, "login_secs": login_secs,
        "login_server_cpu_secs": login_cpu,
        "server_cpu_ms_per_login": login_cpu.map(|c| c * 1000.0 / ok.max(1) as f64),
    })
}

async fn login(ctx: Arc<Ctx>, n: usize, duration: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(duration);
    let lat = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let pick = move || next.fetch_add(1, Ordering::Relaxed) % n;
    let workers = ctx.concurrency;
    let lat_all = lat.clone();
    let cpu0 = ctx.server_cpu();
    let ctx_cpu = ctx.clone();
    let log_in = move |i| {
        let (ctx, lat) = (ctx.clone(), lat_all.clone());
        async move {
            let t0 = Instant::now();
            let s = come_online(&ctx, i, &format!("l{}", rand::thread_rng().gen::<u32>())).await?;
            lat.lock()
                .unwrap()
                .push(t0.elapsed().as_secs_f64() * 1000.0);
            s.close().await;
            Ok(())
        }
    };
    let failed = repeat_until(workers, deadline, "login", pick, log_in).await;
    let secs = start.elapsed().as_secs_f64();
    let server_cpu = ctx_cpu.server_cpu().zip(cpu0).map(|(b, a)| b - a);
    let mut l = std::mem::take(&mut *lat.lock().unwrap());
    l.sort_by(f64::total_cmp);
    json!({
        "logins": l.len(), "failed": failed, "secs": secs,
        "logins_per_sec": l.len() as f64 / secs,
        "server_cpu_secs": server_cpu,
        "server_cpu_ms_per_login": server_cpu.map(|c| c * 1000.0 / l.len().max(1) as f64),
        "p50_ms": percentile(&l, 0.5), "p99_ms": percentile(&l, 0.99), "max_ms": l.last().copied().unwrap_or(0.0),
    })
}

/// A privacy list of `items` items: jid denials of entities that never write, then allow all.
fn privacy_list(items: usize, domain: &str) -> String {
    let mut xml = String::from("<query xmlns='jabber:iq:privacy'><list name='bench'>");
    for j in 0..items.saturating_sub(1) {
        xml += &format!(
            "<item type='jid' value='stranger{j}@{domain}' action='deny' order='{j}'><message/></item>"
        );
    }
    xml += &format!("<item action='allow' order='{items}'/></list></query>");
    xml
}

async fn chat(
    ctx: Arc<Ctx>,
    n: usize,
    rate: u64,
    duration: u64,
    privacy_items: usize,
) -> serde_json::Value {
    // Everyone online first.
    let sessions = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let ok = for_each(n, ctx.concurrency, |i| {
        let ctx = ctx.clone();
        let sessions = sessions.clone();
        async move {
            let mut s = come_online(&ctx, i, "chat").await?;
            if privacy_items > 0 {
                let list = privacy_list(privacy_items, &ctx.target.domain);
                for (id, payload) in [
                    ("plist", list.as_str()),
                    (
                        "pact",
                        "<query xmlns='jabber:iq:privacy'><active name='bench'/></query>",
                    ),
                ] {
                    let r = s.iq(id, "set", payload).await?;
                    if r.attr("type") != Some("result") {
                        return Err(format!("privacy list refused: {}", String::from(&r)).into());
                    }
                }
            }
            sessions.lock().unwrap().push((i, s));
            Ok(())
        }
    })
    .await;
    let online: Vec<_> = std::mem::take(&mut *sessions.lock().unwrap());
    let users: Arc<Vec<usize>> = Arc::new(online.iter().map(|(i, _)| *i).collect());
    let cpu0 = ctx.server_cpu();
    let epoch = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let delivered = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::new()));
    let send_until = epoch + Duration::from_secs(duration);
    let per_conn = rate as f64 / ok.max(1) as f64;
    let mut tasks = Vec::new();
    for (_, s) in online {
        let client::Session {
            reader, mut writer, ..
        } = s;
        let (delivered, lat) = (delivered.clone(), lat.clone());
        // Receiver: latency from the send time carried in the body, read from the raw bytes
        // (nothing but messages arrives once everyone is online).
        tasks.push(tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut mine = Vec::new();
            let stop = send_until + Duration::from_secs(3);
            let mut raw = reader.into_raw();
            let mut buf: Vec<u8> = Vec::with_capacity(8192);
            let mut chunk = [0u8; 8192];
            while let Ok(Ok(n)) = tokio::time::timeout_at(stop.into(), raw.read(&mut chunk)).await {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let now = epoch.elapsed().as_nanos() as u64;
                let used = cordial_bench::raw::scan(&buf, "message", |_, inner| {
                    let sent_at = cordial_bench::raw::child_text(inner, "body")
                        .and_then(|b| b.strip_prefix("t="))
                        .and_then(|t| t.parse::<u64>().ok());
                    if let Some(t) = sent_at {
                        mine.push(now.saturating_sub(t) as f64 / 1e6);
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                });
                buf.drain(..used);
            }
            lat.lock().unwrap().extend(mine);
        }));
        let (users, sent, domain, prefix) = (
            users.clone(),
            sent.clone(),
            ctx.target.domain.clone(),
            ctx.prefix.clone(),
        );
        // Sender: a steady per-connection rate with a random phase.
        tasks.push(tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            if per_conn <= 0.0 {
                return;
            }
            let period = Duration::from_secs_f64(1.0 / per_conn);
            let phase = period.mul_f64(rand::thread_rng().gen::<f64>());
            let mut tick = tokio::time::interval_at((epoch + phase).into(), period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                if Instant::now() >= send_until {
                    break;
                }
                let to = users[rand::thread_rng().gen_range(0..users.len())];
                let t = epoch.elapsed().as_nanos() as u64;
                let m = format!(
                    "<message type='chat' to='{prefix}{to}@{domain}'><body>t={t}</body></message>"
                );
                if writer.write_all(m.as_bytes()).await.is_err() {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep_until((send_until + Duration::from_secs(3)).into()).await;
            let _ = writer.write_all(b"</stream:stream>").await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let server_cpu = ctx.server_cpu().zip(cpu0).map(|(b, a)| b - a);
    let mut l = std::mem::take(&mut *lat.lock().unwrap());
    l.sort_by(f64::total_cmp);
    let d = delivered.load(Ordering::Relaxed);
    json!({
        "online": ok, "target_rate": rate, "secs": duration, "privacy_items": privacy_items,
        "server_cpu_secs": server_cpu,
        "sent": sent.load(Ordering::Relaxed), "delivered": d,
        "delivered_per_sec": d as f64 / duration as f64,
        "p50_ms": percentile(&l, 0.5), "p99_ms": percentile(&l, 0.99), "max_ms": l.last().copied().unwrap_or(0.0),
    })
}

async fn roster(ctx: Arc<Ctx>, k: usize, iterations: usize, user: String) -> serde_json::Value {
    let target = &ctx.target;
    client::register(target, &user, ctx.source(0)).await.ok();
    let mut s = match client::login(target, &user, "roster", ctx.source(0)).await {
        Ok(s) => s,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let have = s
        .iq("count", "get", "<query xmlns='jabber:iq:roster'/>")
        .await
        .map(|r| {
            r.get_child("query", "jabber:iq:roster")
                .map(|q| q.children().count())
                .unwrap_or(0)
        });
    let have = have.unwrap_or(0);
    // Roster sets per second while filling the roster up to K items.
    let t0 = Instant::now();
    let mut sets = 0usize;
    for j in have..k {
        let jid = format!("contact{j}@{}", target.domain);
        if s.iq(
            &format!("s{j}"),
            "set",
            &roster_item(&jid, &format!("Contact {j}")),
        )
        .await
        .is_err()
        {
            break;
        }
        sets += 1;
    }
    let set_secs = t0.elapsed().as_secs_f64();
    // Whatever the server still sends after the sets (late pushes) is read here, so that the
    // timed gets below start on a quiet stream.
    if let Err(e) = s.iq("sync", "get", "<ping xmlns='urn:xmpp:ping'/>").await {
        return json!({"error": e.to_string()});
    }
    let mut times = Vec::new();
    let mut items = 0;
    for it in 0..iterations {
        match s
            .iq_timed(
                &format!("g{it}"),
                "get",
                "<query xmlns='jabber:iq:roster'/>",
            )
            .await
        {
            Ok((took, r)) => {
                times.push(took.as_secs_f64() * 1000.0);
                items = r
                    .get_child("query", "jabber:iq:roster")
                    .map(|q| q.children().count())
                    .unwrap_or(0);
            }
            Err(e) => return json!({"error": e.to_string()}),
        }
    }
    s.close().await;
    times.sort_by(f64::total_cmp);
    json!({
        "k": k, "items": items, "sets": sets,
        "sets_per_sec": if set_secs > 0.0 && sets > 0 { sets as f64 / set_secs } else { 0.0 },
        "get_p50_ms": percentile(&times, 0.5), "get_p99_ms": percentile(&times, 0.99),
    })
}

async fn probe(ctx: Arc<Ctx>, login: bool) -> serde_json::Value {
    let offer = match client::probe(&ctx.target, ctx.source(0)).await {
        Ok(offer) => offer,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let offered = offer.mechanisms.contains(&ctx.target.mechanism);
    let mut v = json!(offer);
    v["mechanism"] = json!(ctx.target.mechanism);
    v["mechanism_offered"] = json!(offered);
    if login && offered {
        match come_online(&ctx, 0, "probe").await {
            Ok(s) => {
                s.close().await;
                v["login_ok"] = json!(true);
            }
            Err(e) => {
                v["login_ok"] = json!(false);
                v["login_error"] = json!(e.to_string());
            }
        }
    }
    v
}

fn main() {
    let cli = Cli::parse();
    let scram_keys = match &cli.scram_cache {
        Some(path) => client::ScramKeys::load(path),
        None => client::ScramKeys::default(),
    };
    let mode = match (cli.starttls, cli.direct_tls) {
        (_, true) => client::TlsMode::Direct,
        (true, _) => client::TlsMode::StartTls,
        _ => client::TlsMode::Off,
    };
    let versions = match (cli.tls13, cli.tls12) {
        (true, _) => client::TlsVersions::Only13,
        (_, true) => client::TlsVersions::Only12,
        _ => client::TlsVersions::Any,
    };
    let tls = match client::Tls::new(mode, versions, cli.cb) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cordial-bench: TLS: {e}");
            std::process::exit(2);
        }
    };
    let ctx = Arc::new(Ctx {
        target: Target {
            addr: SocketAddr::new(cli.host, cli.port),
            domain: cli.domain.clone(),
            tls: tls.clone(),
            password: cli.password.clone(),
            mechanism: cli.mechanism.clone(),
            websocket: cli.websocket.clone(),
            scram_keys: scram_keys.clone(),
        },
        prefix: cli.prefix.clone(),
        sources: cli.sources.clone(),
        concurrency: cli.concurrency.max(1),
        server_pid: cli.server_pid,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (name, result) = rt.block_on(async move {
        match cli.scenario {
            Scenario::Register { n } => ("register", register(ctx, n).await),
            Scenario::Rosters { n, k } => ("rosters", rosters(ctx, n, k).await),
            Scenario::Idle { n, hold } => ("idle", idle(ctx, n, hold).await),
            Scenario::Login { n, duration } => ("login", login(ctx, n, duration).await),
            Scenario::Chat {
                n,
                rate,
                duration,
                privacy_items,
            } => ("chat", chat(ctx, n, rate, duration, privacy_items).await),
            Scenario::Roster {
                k,
                iterations,
                user,
            } => ("roster", roster(ctx, k, iterations, user).await),
            Scenario::Subscriptions(ring) => {
                ("subscriptions", presence::subscriptions(ctx, ring).await)
            }
            Scenario::Presence(p) => ("presence", presence::presence(ctx, p).await),
            Scenario::Probe { login } => ("probe", probe(ctx, login).await),
        }
    });
    if let Some(path) = &cli.scram_cache {
        if let Err(e) = scram_keys.save(path) {
            eprintln!(
                "cordial-bench: could not save the SCRAM keys to {}: {e}",
                path.display()
            );
        }
    }
    let mut out = json!({"scenario": name, "server": cli.label, "mechanism": cli.mechanism, "result": result});
    if mode != client::TlsMode::Off {
        let n = tls.negotiated();
        out["tls"] = json!({
            "mode": if mode == client::TlsMode::Direct { "direct" } else { "starttls" },
            "version": n.as_ref().map(|n| n.version),
            "cipher": n.map(|n| n.cipher),
            "channel_binding": tls.cb_used(),
        });
    }
    println!("{out}");
}
