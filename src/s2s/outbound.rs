//! Outgoing streams (we are the originating server): connect, STARTTLS, authenticate with
//! Server Dialback, then send what the queue holds until the stream has been idle for
//! `s2s.idle_secs`. Also the short-lived streams on which we, as a receiving server, ask a
//! peer's authoritative server to verify a dialback key (XEP-0220 §2.2).

use std::sync::Arc;
use std::time::Duration;

use cordial_actors::stanza::{self, DefinedCondition, ErrorType};
use futures::SinkExt;
use minidom::Element;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_xmpp::xmlstream::{initiate_stream, StreamHeader};
use xmpp_parsers::ns::TLS;

use super::stream::{declare_dialback, dialback, next, timeouts, Xs};
use super::{renamespace, S2s, DIALBACK, JABBER_SERVER};
use crate::link::framing::{Framing, Transport};

/// Why an outgoing stream could not be set up, as the bounce of what was queued says it
/// (RFC 6120 §8.3.3.16, §8.3.3.17).
#[derive(Debug)]
pub(super) enum Failure {
    NotFound(String),
    Timeout,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NotFound(why) => f.write_str(why),
            Failure::Timeout => f.write_str("timed out"),
        }
    }
}

impl Failure {
    fn condition(&self) -> DefinedCondition {
        match self {
            Failure::NotFound(_) => DefinedCondition::RemoteServerNotFound,
            Failure::Timeout => DefinedCondition::RemoteServerTimeout,
        }
    }
}

fn not_found(why: impl std::fmt::Display) -> Failure {
    Failure::NotFound(why.to_string())
}

/// One outgoing stream from `local` to `remote`, for as long as it is used.
pub(super) async fn run(
    s2s: &Arc<S2s>,
    local: &str,
    remote: &str,
    mut queue: mpsc::Receiver<Element>,
) {
    let config = s2s.ctx.config();
    let setup = Duration::from_secs(config.s2s.connect_timeout_secs);
    let idle = Duration::from_secs(config.s2s.idle_secs);
    let tcp = match tokio::time::timeout(setup, connect(s2s, remote)).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(f)) => return bounce_all(s2s, &mut queue, remote, f),
        Err(_) => return bounce_all(s2s, &mut queue, remote, Failure::Timeout),
    };
    let mut io = Framing::new(Transport::Plain(tcp));
    let deadline = tokio::time::Instant::now() + setup;
    let mut xs =
        match tokio::time::timeout_at(deadline, establish(s2s, &mut io, local, remote)).await {
            Ok(Ok(xs)) => xs,
            Ok(Err(f)) => return bounce_all(s2s, &mut queue, remote, f),
            Err(_) => return bounce_all(s2s, &mut queue, remote, Failure::Timeout),
        };
    log::info!("s2s: stream {local} -> {remote} established (dialback)");
    loop {
        tokio::select! {
            queued = queue.recv() => {
                let Some(stanza) = queued else { break };
                let out = renamespace(&stanza, cordial_actors::ns::JABBER_CLIENT, JABBER_SERVER);
                s2s.counters.stanzas_out.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if xs.send(&out).await.is_err() {
                    log::info!("s2s: stream {local} -> {remote} broke while sending");
                    s2s.router().bounce(&stanza, kind_of(&stanza), ErrorType::Cancel, DefinedCondition::RemoteServerNotFound);
                    break;
                }
            }
            incoming = next(&mut xs) => {
                match incoming {
                    Some(el) if el.is("error", "http://etherx.jabber.org/streams") => {
                        let condition = el.children().next().map(|c| c.name().to_string());
                        log::info!("s2s: {remote} ended our stream with the error {}", condition.unwrap_or_default());
                        break;
                    }
                    // Nothing else is expected on an outgoing stream.
                    Some(el) => log::debug!("s2s: {remote} sent <{}/> on our outgoing stream; ignored", el.name()),
                    None => {
                        log::info!("s2s: stream {local} -> {remote} closed by the peer");
                        break;
                    }
                }
            }
            _ = tokio::time::sleep(idle) => {
                log::debug!("s2s: closing the idle stream {local} -> {remote}");
                let _ = xs.shutdown().await;
                break;
            }
        }
    }
    // Stanzas queued after the stream ended go back to their senders; a new stream opens for
    // the next one.
    bounce_all(
        s2s,
        &mut queue,
        remote,
        not_found("the stream to the peer ended"),
    );
}

fn kind_of(stanza: &Element) -> stanza::Kind {
    stanza::kind(stanza).unwrap_or(stanza::Kind::Message)
}

/// Closes the queue and bounces what it holds (presence is dropped, RFC 6120 §8.3.1).
fn bounce_all(s2s: &Arc<S2s>, queue: &mut mpsc::Receiver<Element>, remote: &str, failure: Failure) {
    log::info!("s2s: no stream to {remote}: {failure}");
    queue.close();
    while let Ok(stanza) = queue.try_recv() {
        s2s.counters
            .bounced
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        s2s.router().bounce(
            &stanza,
            kind_of(&stanza),
            ErrorType::Cancel,
            failure.condition(),
        );
    }
}

/// A TCP connection to `remote`'s server: its static route (`s2s.routes`), else the targets
/// DNS gives, each address in turn.
async fn connect(s2s: &Arc<S2s>, remote: &str) -> Result<TcpStream, Failure> {
    let config = s2s.ctx.config();
    let targets = match config
        .s2s
        .routes
        .get(remote)
        .and_then(|r| super::parse_route(r))
    {
        Some((host, port)) => vec![super::resolve::Target {
            host,
            port,
            direct_tls: false,
        }],
        None => s2s.resolver.targets(remote).await.map_err(not_found)?,
    };
    let mut last = format!("no server found for {remote}");
    for t in targets.iter().filter(|t| !t.direct_tls) {
        let addresses = match s2s.resolver.addresses(&t.host).await {
            Ok(a) => a,
            Err(e) => {
                last = e;
                continue;
            }
        };
        for ip in addresses {
            match TcpStream::connect((ip, t.port)).await {
                Ok(tcp) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok(tcp);
                }
                Err(e) => last = format!("{}:{} ({ip}): {e}", t.host, t.port),
            }
        }
    }
    if targets.iter().all(|t| t.direct_tls) && !targets.is_empty() {
        last = format!("{remote} offers only direct TLS, which outgoing streams do not do yet");
    }
    Err(not_found(last))
}

/// The first stream (plain) to STARTTLS, the second (TLS) to an authenticated stream.
async fn establish<'a>(
    s2s: &Arc<S2s>,
    io: &'a mut Framing,
    local: &str,
    remote: &str,
) -> Result<Xs<'a>, Failure> {
    starttls(s2s, io, local, remote).await?;
    let (id, mut xs) = open(s2s, io, local, remote).await?;
    let key = s2s.secret.key(remote, local, &id);
    xs.send(&dialback("result", local, remote, None, None, Some(&key)))
        .await
        .map_err(not_found)?;
    loop {
        let Some(el) = next(&mut xs).await else {
            return Err(not_found("the peer closed the stream during dialback"));
        };
        if el.is("result", DIALBACK) {
            return match el.attr("type") {
                Some("valid") => Ok(xs),
                other => Err(not_found(format!("dialback refused ({other:?})"))),
            };
        }
        log::debug!(
            "s2s: {remote} sent <{}/> during dialback; ignored",
            el.name()
        );
    }
}

/// A stream header from `local` to `remote` and the peer's features; the peer's stream id.
async fn open<'a>(
    s2s: &Arc<S2s>,
    io: &'a mut Framing,
    local: &str,
    remote: &str,
) -> Result<(String, Xs<'a>), Failure> {
    declare_dialback(io);
    let header = StreamHeader {
        from: Some(local.to_string().into()),
        to: Some(remote.to_string().into()),
        id: None,
    };
    let t = timeouts(s2s.ctx.config().s2s.connect_timeout_secs);
    let pending = initiate_stream(&mut *io, JABBER_SERVER, header, t)
        .await
        .map_err(not_found)?;
    let id = pending
        .header()
        .id
        .map(|i| i.to_string())
        .unwrap_or_default();
    let (features, xs) = pending
        .recv_features::<crate::link::parser::Stanza>()
        .await
        .map_err(not_found)?;
    if io_is_plain(&xs) && features.starttls.is_none() {
        return Err(not_found(
            "the peer does not offer STARTTLS, which we require",
        ));
    }
    Ok((id, xs))
}

fn io_is_plain(xs: &Xs<'_>) -> bool {
    !xs.get_stream().is_tls()
}

/// STARTTLS on a first stream (RFC 6120 §5.4), the handshake, the transport swapped.
async fn starttls(
    s2s: &Arc<S2s>,
    io: &mut Framing,
    local: &str,
    remote: &str,
) -> Result<(), Failure> {
    {
        let (_, mut xs) = open(s2s, io, local, remote).await?;
        xs.send(&Element::builder("starttls", TLS).build())
            .await
            .map_err(not_found)?;
        match next(&mut xs).await {
            Some(el) if el.is("proceed", TLS) => {}
            other => {
                return Err(not_found(format!(
                    "STARTTLS refused ({:?})",
                    other.map(|e| e.name().to_string())
                )))
            }
        }
    }
    let Transport::Plain(tcp) = io.take_transport() else {
        return Err(not_found("not a plain connection"));
    };
    let tls = s2s
        .ctx
        .tls
        .connect(tcp, remote, s2s.ctx.config().s2s.ca_file.as_deref())
        .await;
    let tls = tls.map_err(|e| not_found(format!("TLS with {remote}: {e}")))?;
    io.set_transport(Transport::Tls(Box::new(tls)));
    Ok(())
}

/// As a receiving server: asks `remote`'s authoritative server whether `key` is the one it
/// gave for our stream `id` (XEP-0220 §2.2), over a stream of our own, within the setup time.
pub(super) async fn verify(s2s: &Arc<S2s>, local: &str, remote: &str, id: &str, key: &str) -> bool {
    let setup = Duration::from_secs(s2s.ctx.config().s2s.connect_timeout_secs);
    let check = async {
        let tcp = connect(s2s, remote).await?;
        let mut io = Framing::new(Transport::Plain(tcp));
        starttls(s2s, &mut io, local, remote).await?;
        let (_, mut xs) = open(s2s, &mut io, local, remote).await?;
        xs.send(&dialback(
            "verify",
            local,
            remote,
            Some(id),
            None,
            Some(key),
        ))
        .await
        .map_err(not_found)?;
        let answer = loop {
            let Some(el) = next(&mut xs).await else {
                return Err(not_found("closed before answering"));
            };
            if el.is("verify", DIALBACK) && el.attr("id") == Some(id) {
                break el.attr("type") == Some("valid");
            }
        };
        let _ = xs.shutdown().await;
        Ok::<bool, Failure>(answer)
    };
    match tokio::time::timeout(setup, check).await {
        Ok(Ok(valid)) => valid,
        Ok(Err(f)) => {
            log::info!("s2s: could not verify {remote}'s dialback key: {f}");
            false
        }
        Err(_) => {
            log::info!("s2s: verifying {remote}'s dialback key timed out");
            false
        }
    }
}
