//! Presence workloads: mutual subscriptions as setup, then presence fan-out measured three ways.
//!
//! Accounts PREFIX0 .. PREFIX{N-1} form a ring: each is subscribed both ways with its K/2
//! neighbours on either side, so each has K contacts with subscription `both`. A hub account,
//! PREFIXhub, is subscribed both ways with the first F of them.
//!
//! The `presence` scenario brings everyone online and measures
//! - **hub fan-out**: the hub changes its presence; the time until all F online contacts have
//!   it (ITERATIONS times);
//! - **flood**: every user changes its presence at RATE changes/s in total for DURATION seconds;
//!   presence stanzas delivered per second and the latency of each delivery (stamped in
//!   `<status/>`);
//! - **churn**: for DURATION seconds, workers log users in with a second resource, send initial
//!   presence, and log out again; presence stanzas the online users receive per second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::json;
use tokio::io::{AsyncWriteExt, WriteHalf};
use tokio::sync::watch;

use crate::client::{self, Error, Io};
use crate::{come_online, for_each, percentile, repeat_until, Ctx};
use cordial_bench::raw;

type Writer = Arc<tokio::sync::Mutex<WriteHalf<Io>>>;

/// What every reader of an online session records.
struct Shared {
    epoch: Instant,
    /// Available/unavailable presence received from other accounts.
    presences: AtomicU64,
    /// When the last of them arrived (ns since `epoch`).
    last_presence: AtomicU64,
    /// `subscribed` received (setup progress).
    subscribed: AtomicU64,
    /// Latencies (ms) of flood updates, stamped `s:NANOS`.
    flood: Mutex<Vec<f64>>,
    /// Hub updates, stamped `hITER:NANOS`: per iteration, how many arrived and the last arrival.
    hub: Mutex<HashMap<usize, (usize, u64)>>,
}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Shared {
            epoch: Instant::now(),
            presences: AtomicU64::new(0),
            last_presence: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
            flood: Mutex::new(Vec::new()),
            hub: Mutex::new(HashMap::new()),
        })
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// One available or unavailable presence from another account, with its `<status/>`.
    fn record(&self, status: Option<&str>) {
        let now = self.now();
        self.presences.fetch_add(1, Ordering::Relaxed);
        self.last_presence.fetch_max(now, Ordering::Relaxed);
        let Some(status) = status else {
            return;
        };
        if let Some(t) = status
            .strip_prefix("s:")
            .and_then(|t| t.parse::<u64>().ok())
        {
            let ms = now.saturating_sub(t) as f64 / 1e6;
            self.flood.lock().unwrap().push(ms);
        } else if let Some(iter) = status
            .strip_prefix('h')
            .and_then(|s| s.split_once(':'))
            .and_then(|(i, _)| i.parse::<usize>().ok())
        {
            let mut hub = self.hub.lock().unwrap();
            let slot = hub.entry(iter).or_insert((0, 0));
            slot.0 += 1;
            slot.1 = slot.1.max(now);
        }
    }

    /// Waits until no presence has arrived for half a second (or a minute has passed): the
    /// previous phase's deliveries are all in. Returns the count of presences so far.
    async fn settle(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut last = u64::MAX;
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.presences.load(Ordering::Relaxed);
            if now == last || Instant::now() > deadline {
                return now;
            }
            last = now;
        }
    }
}

fn bare(jid: &str) -> &str {
    jid.split('/').next().unwrap_or(jid)
}

/// A `<presence>` found in the raw byte stream: its attributes and `<status/>` text.
#[derive(Debug, PartialEq)]
struct RawPresence<'a> {
    from: &'a str,
    type_: Option<&'a str>,
    status: Option<&'a str>,
}

/// Scans `buf` for complete `<presence>` elements, calls `f` for each, and returns how many
/// bytes were used up (the rest may be the start of an element still arriving).
fn scan_presences(buf: &[u8], mut f: impl FnMut(RawPresence<'_>)) -> usize {
    raw::scan(buf, "presence", |tag, body| {
        let status = raw::child_text(body, "status");
        f(RawPresence {
            from: raw::attr(tag, "from").unwrap_or(""),
            type_: raw::attr(tag, "type"),
            status,
        });
    })
}

/// Reads one session until told to stop: answers subscription requests with `subscribed`,
/// counts presence from others, and records stamped updates.
async fn read_loop(
    reader: client::Reader,
    writer: Writer,
    me: String,
    sh: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    use tokio::io::AsyncReadExt;
    let mut raw = reader.into_raw();
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let n = tokio::select! {
            r = raw.read(&mut chunk) => match r { Ok(n) if n > 0 => n, _ => break },
            _ = stop.changed() => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut answers = String::new();
        let used = scan_presences(&buf, |p| {
            if bare(p.from) == me {
                return;
            }
            match p.type_ {
                Some("subscribe") => {
                    answers += &format!("<presence type='subscribed' to='{}'/>", bare(p.from));
                }
                Some("subscribed") => {
                    sh.subscribed.fetch_add(1, Ordering::Relaxed);
                }
                None | Some("unavailable") => sh.record(p.status),
                _ => {}
            }
        });
        buf.drain(..used);
        if !answers.is_empty() {
            let _ = writer.lock().await.write_all(answers.as_bytes()).await;
        }
    }
    let _ = writer.lock().await.write_all(b"</stream:stream>").await;
}

/// The online sessions of a run, each read by its own task.
struct Online {
    writers: HashMap<usize, Writer>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Online {
    /// Logs in every account in `who` (index `n` is the hub), sends initial presence, and
    /// starts reading.
    async fn start(ctx: &Arc<Ctx>, who: Vec<usize>, n: usize, sh: &Arc<Shared>) -> Online {
        let (stop, stop_rx) = watch::channel(false);
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let who = Arc::new(who);
        for_each(who.len(), ctx.concurrency, |k| {
            let (ctx, sessions, who) = (ctx.clone(), sessions.clone(), who.clone());
            async move {
                let i = who[k];
                let s = come_online_as(&ctx, i, n, "main").await?;
                sessions.lock().unwrap().push((i, s));
                Ok(())
            }
        })
        .await;
        let mut online = Online {
            writers: HashMap::new(),
            tasks: Vec::new(),
            stop,
        };
        for (i, s) in std::mem::take(&mut *sessions.lock().unwrap()) {
            let client::Session { reader, writer } = s;
            let writer = Arc::new(tokio::sync::Mutex::new(writer));
            let me = format!("{}@{}", account(ctx, i, n), ctx.target.domain);
            online.tasks.push(tokio::spawn(read_loop(
                reader,
                writer.clone(),
                me,
                sh.clone(),
                stop_rx.clone(),
            )));
            online.writers.insert(i, writer);
        }
        online
    }

    async fn send(&self, i: usize, xml: &str) -> bool {
        match self.writers.get(&i) {
            Some(w) => w.lock().await.write_all(xml.as_bytes()).await.is_ok(),
            None => false,
        }
    }

    async fn finish(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// The account name of index `i`; index `n` is the hub.
fn account(ctx: &Ctx, i: usize, n: usize) -> String {
    if i == n {
        format!("{}hub", ctx.prefix)
    } else {
        ctx.user(i)
    }
}

async fn come_online_as(
    ctx: &Ctx,
    i: usize,
    n: usize,
    resource: &str,
) -> Result<client::Session, Error> {
    if i == n {
        let mut s =
            client::login(&ctx.target, &account(ctx, i, n), resource, ctx.source(i)).await?;
        s.iq("roster", "get", "<query xmlns='jabber:iq:roster'/>")
            .await?;
        s.send("<presence/>").await?;
        Ok(s)
    } else {
        come_online(ctx, i, resource).await
    }
}

/// Whom account `i` subscribes to: its ring neighbours, and the hub for the first `hub` accounts
/// (the hub, index `n`, subscribes to those).
fn contacts(i: usize, n: usize, k: usize, hub: usize) -> Vec<usize> {
    if i == n {
        return (0..hub.min(n)).collect();
    }
    let mut c = Vec::new();
    for j in 1..=(k / 2).min((n.saturating_sub(1)) / 2) {
        c.push((i + j) % n);
        c.push((i + n - j) % n);
    }
    if i < hub {
        c.push(n);
    }
    c
}

/// Setup: mutual subscriptions along the ring and with the hub (see the module comment).
pub async fn subscriptions(ctx: Arc<Ctx>, ring: Ring) -> serde_json::Value {
    let Ring { n, k, hub } = ring;
    let start = Instant::now();
    if hub > 0 {
        if let Err(e) = client::register(&ctx.target, &account(&ctx, n, n), ctx.source(n)).await {
            return json!({"error": e.to_string()});
        }
    }
    let sh = Shared::new();
    let mut who: Vec<usize> = (0..n).collect();
    if hub > 0 {
        who.push(n);
    }
    let online = Online::start(&ctx, who.clone(), n, &sh).await;
    let expected: usize = who.iter().map(|&i| contacts(i, n, k, hub).len()).sum();
    for &i in &who {
        let mut xml = String::new();
        for c in contacts(i, n, k, hub) {
            xml += &format!(
                "<presence type='subscribe' to='{}@{}'/>",
                account(&ctx, c, n),
                ctx.target.domain
            );
        }
        online.send(i, &xml).await;
    }
    // Some servers take minutes for tens of thousands of subscriptions: wait while answers keep
    // coming (up to 30 s without one), at most 15 minutes.
    let deadline = Instant::now() + Duration::from_secs(900);
    let (mut seen, mut progress) = (0, Instant::now());
    loop {
        let got = sh.subscribed.load(Ordering::Relaxed) as usize;
        if got >= expected || Instant::now() > deadline {
            break;
        }
        if got != seen {
            (seen, progress) = (got, Instant::now());
        } else if progress.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The last answers may still be on their way to the server.
    tokio::time::sleep(Duration::from_millis(500)).await;
    online.finish().await;
    json!({
        "accounts": who.len(), "k": k, "hub": hub,
        "subscriptions_expected": expected,
        "subscribed": sh.subscribed.load(Ordering::Relaxed),
        "secs": start.elapsed().as_secs_f64(),
    })
}

/// Server CPU seconds between two readings, per unit of work, in `scale` (1e3: ms, 1e6: µs).
/// `None` without a server PID or without work.
fn per(before: Option<f64>, after: Option<f64>, units: f64, scale: f64) -> Option<f64> {
    let (b, a) = (before?, after?);
    (units > 0.0).then(|| (a - b) / units * scale)
}

/// The accounts of both scenarios (see the module comment).
#[derive(clap::Args, Clone, Copy)]
pub struct Ring {
    #[arg(short)]
    pub n: usize,
    #[arg(short)]
    pub k: usize,
    #[arg(long, default_value_t = 1000)]
    pub hub: usize,
}

#[derive(clap::Args)]
pub struct Params {
    #[command(flatten)]
    pub ring: Ring,
    #[arg(long, default_value_t = 1000)]
    pub rate: u64,
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    #[arg(long, default_value_t = 20)]
    pub iterations: usize,
}

/// Waits, when the server's pid is known, until it uses under 5 % of a core over a second (at
/// most five minutes).
async fn server_quiet(ctx: &Ctx) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while let Some(c0) = ctx.server_cpu() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        match ctx.server_cpu() {
            Some(c1) if c1 - c0 > 0.05 && Instant::now() < deadline => continue,
            _ => return,
        }
    }
}

pub async fn presence(ctx: Arc<Ctx>, p: Params) -> serde_json::Value {
    let Params {
        ring: Ring { n, k, hub },
        rate,
        duration,
        iterations,
    } = p;
    let sh = Shared::new();
    let mut who: Vec<usize> = (0..n).collect();
    if hub > 0 {
        who.push(n);
    }
    let t0 = Instant::now();
    let online = Arc::new(Online::start(&ctx, who.clone(), n, &sh).await);
    let online_count = online.writers.len();
    let login_secs = t0.elapsed().as_secs_f64();
    // Initial presence and probe answers settle first, then whatever else the logins left the
    // server to do, so that the fan-out measures the fan-out.
    let initial_presences = sh.settle().await;
    server_quiet(&ctx).await;

    // 1. Hub fan-out.
    let mut fanout_ms = Vec::new();
    let hub_contacts = hub.min(n);
    let cpu0 = ctx.server_cpu();
    if hub > 0 {
        for it in 0..iterations {
            let t = sh.now();
            let xml = format!("<presence><status>h{it}:{t}</status></presence>");
            if !online.send(n, &xml).await {
                break;
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let got = sh.hub.lock().unwrap().get(&it).copied();
                if let Some((count, at)) = got {
                    if count >= hub_contacts {
                        fanout_ms.push(at.saturating_sub(t) as f64 / 1e6);
                        break;
                    }
                }
                if Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    fanout_ms.sort_by(f64::total_cmp);
    let fanout_cpu_ms = per(cpu0, ctx.server_cpu(), fanout_ms.len() as f64, 1e3);

    // 2. Flood of presence changes.
    let users: Vec<usize> = online.writers.keys().copied().filter(|&i| i != n).collect();
    let per_user = rate as f64 / users.len().max(1) as f64;
    let before = sh.settle().await;
    let cpu0 = ctx.server_cpu();
    let changes = Arc::new(AtomicU64::new(0));
    let epoch = Instant::now();
    let flood_start = sh.now();
    let until = epoch + Duration::from_secs(duration);
    let mut senders = Vec::new();
    for &i in &users {
        if per_user <= 0.0 {
            break;
        }
        let (online, sh, changes) = (online.clone(), sh.clone(), changes.clone());
        senders.push(tokio::spawn(async move {
            let period = Duration::from_secs_f64(1.0 / per_user);
            let phase = period.mul_f64(rand::thread_rng().gen::<f64>());
            let mut tick = tokio::time::interval_at((epoch + phase).into(), period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut away = false;
            loop {
                tick.tick().await;
                if Instant::now() >= until {
                    break;
                }
                away = !away;
                let show = if away { "<show>away</show>" } else { "" };
                let xml = format!("<presence>{show}<status>s:{}</status></presence>", sh.now());
                if !online.send(i, &xml).await {
                    break;
                }
                changes.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for s in senders {
        let _ = s.await;
    }
    // Deliveries still in flight are counted: the rate is over the time until the last one
    // arrived, and latency tells how late they were.
    let flood_presences = sh.settle().await - before;
    let flood_cpu_us = per(cpu0, ctx.server_cpu(), flood_presences as f64, 1e6);
    let flood_secs = (sh
        .last_presence
        .load(Ordering::Relaxed)
        .saturating_sub(flood_start) as f64
        / 1e9)
        .max(duration as f64);
    let mut flood = std::mem::take(&mut *sh.flood.lock().unwrap());
    flood.sort_by(f64::total_cmp);

    // 3. Login/logout churn with a second resource.
    let before = sh.settle().await;
    let cpu0 = ctx.server_cpu();
    let cycles = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let until = start + Duration::from_secs(duration);
    let workers = ctx.concurrency.min(users.len().max(1));
    let pick = move || rand::thread_rng().gen_range(0..n);
    let (ctx_all, cycles_all) = (ctx.clone(), cycles.clone());
    let cycle = move |i| {
        let (ctx, cycles) = (ctx_all.clone(), cycles_all.clone());
        async move {
            let resource = format!("churn{}", rand::thread_rng().gen::<u32>());
            let mut s = come_online(&ctx, i, &resource).await?;
            // Once this answers, the server has handled the initial presence.
            s.iq("sync", "get", "<ping xmlns='urn:xmpp:ping'/>").await?;
            s.close().await;
            cycles.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    };
    let failed = repeat_until(workers, until, "churn", pick, cycle).await;
    let churn_secs = start.elapsed().as_secs_f64();
    let churn_presences = sh.settle().await - before;
    let churn_cpu_ms = per(
        cpu0,
        ctx.server_cpu(),
        cycles.load(Ordering::Relaxed) as f64,
        1e3,
    );

    let online = Arc::try_unwrap(online).ok().expect("senders finished");
    online.finish().await;
    json!({
        "online": online_count, "k": k, "login_secs": login_secs,
        "initial_presences": initial_presences,
        "hub_contacts": hub_contacts, "fanout_iterations": fanout_ms.len(),
        "fanout_p50_ms": percentile(&fanout_ms, 0.5),
        "fanout_max_ms": fanout_ms.last().copied().unwrap_or(0.0),
        "fanout_server_cpu_ms": fanout_cpu_ms,
        "fanout_per_sec": if fanout_ms.is_empty() { 0.0 } else { hub_contacts as f64 / (percentile(&fanout_ms, 0.5) / 1000.0).max(1e-9) },
        "flood_target_rate": rate, "flood_changes": changes.load(Ordering::Relaxed),
        "flood_delivered": flood_presences,
        "flood_secs": flood_secs,
        "flood_delivered_per_sec": flood_presences as f64 / flood_secs,
        "flood_server_cpu_us_per_delivery": flood_cpu_us,
        "flood_p50_ms": percentile(&flood, 0.5), "flood_p99_ms": percentile(&flood, 0.99),
        "flood_max_ms": flood.last().copied().unwrap_or(0.0),
        "churn_cycles": cycles.load(Ordering::Relaxed), "churn_failed": failed,
        "churn_cycles_per_sec": cycles.load(Ordering::Relaxed) as f64 / churn_secs,
        "churn_server_cpu_ms_per_cycle": churn_cpu_ms,
        "churn_presences_per_sec": churn_presences as f64 / churn_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (from, type, status) of each presence found.
    type Found = Vec<(String, Option<String>, Option<String>)>;

    fn scan(s: &str) -> (Found, usize) {
        let mut out = Vec::new();
        let used = scan_presences(s.as_bytes(), |p| {
            out.push((
                p.from.to_string(),
                p.type_.map(str::to_string),
                p.status.map(str::to_string),
            ))
        });
        (out, used)
    }

    #[test]
    fn finds_presences_in_both_quote_styles_and_keeps_partial_ones() {
        let xml = "<iq type='result' id='x'/><presence from='a@l/r' to='b@l'><show>away</show><status>s:42</status></presence><presence type=\"unavailable\" from=\"c@l/x\"/><presence from='d@l/";
        let (found, used) = scan(xml);
        assert_eq!(
            found,
            vec![
                ("a@l/r".into(), None, Some("s:42".into())),
                ("c@l/x".into(), Some("unavailable".into()), None),
            ]
        );
        assert_eq!(&xml[used..], "<presence from='d@l/");
    }

    #[test]
    fn ignores_lookalike_names_and_keeps_a_possible_start() {
        let (found, used) = scan("<presences/><message/><prese");
        assert!(found.is_empty());
        assert_eq!(&"<presences/><message/><prese"[used..], "<prese");
        // "xmlns:from" is not "from".
        assert_eq!(
            raw::attr("<presence xfrom='no' from='yes'", "from"),
            Some("yes")
        );
    }
}
