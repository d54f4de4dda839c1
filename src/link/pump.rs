//! A bound stream's session: the resource is bound with its account's actor, the bind result
//! is sent (RFC 6120 §7.6.1), and from then on this task moves stanzas between the socket and
//! the [`ResourceActor`] until either side ends it: inbound stanzas under the rate limit
//! ([`StanzaRate`]) into the actor's bounded mailbox, outbound ones flushed in batches, and a
//! silent connection checked with a ping (RFC 6120 §4.6.1, XEP-0199).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix::Actor;
use cordial_actors::link::{link_pair, LinkReceiver, Outbound, StreamClose, StreamCondition};
use cordial_actors::metrics::{Metrics, Transport as Via};
use cordial_actors::protocol::{Bind, FromClient, Handled, ToAccount};
use cordial_actors::session::ResourceActor;
use cordial_actors::stanza;
use cordial_actors::xml::BuildAttr;
use futures::{FutureExt, SinkExt, StreamExt};
use jid::FullJid;
use minidom::Element;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_xmpp::xmlstream::ReadError;

use super::close::{close, finish, inbound, Inbound, Stop};
use super::framing::RawOut;
use super::parser::Stanza;
use super::rate::StanzaRate;
use super::{ns, LinkContext, Xs};

/// A bound stream: the ResourceActor owns the session; this task moves stanzas between the
/// socket and the actors until either side ends it.
pub(super) async fn session(
    mut xs: Xs<'_>,
    full: FullJid,
    bind_iq: Element,
    ctx: &LinkContext,
    (peer, via): (SocketAddr, Via),
) {
    let (handle, mut rx) = link_pair(ctx.config().limits.outbound_queue);
    let metrics = &ctx.router.metrics;
    let raw = xs.get_stream().raw_out();
    let bare = full.to_bare();
    let resource = loop {
        let account = ctx.router.account(&bare);
        let addr = ResourceActor::new(
            full.clone(),
            account.clone(),
            ctx.router.clone(),
            handle.clone(),
        )
        .start();
        let bind = Bind {
            full: full.clone(),
            session: addr.clone().recipient(),
            link: handle.clone(),
        };
        match account.send(ToAccount::Bind(bind)).await {
            Ok(Ok(())) => break addr,
            // The account's actor was retiring; the router hands out a fresh one.
            _ => continue,
        }
    };
    log::debug!("bound {full}");
    let _listed = ctx.sessions.enter(full.clone(), peer, via, handle.clone());
    let result = Element::builder("bind", ns::BIND)
        .append(Element::builder("jid", ns::BIND).append(full.to_string()))
        .build();
    let reply = stanza::iq_result(&bind_iq, Some(result));
    // Neither is needed again; the session should not hold them for its lifetime.
    drop(bind_iq);
    let sent = xs.send(&reply).await;
    drop(reply);
    let stop = if sent.is_err() {
        Stop::Gone
    } else {
        let limits = &ctx.config().limits;
        let mut rate = StanzaRate::new(limits.stanzas_per_sec, limits.stanza_burst, Instant::now());
        let mut io = Io {
            xs: &mut xs,
            raw: &raw,
            metrics,
        };
        pump(&mut io, &mut rx, &resource, &full, &mut rate).await
    };
    ctx.detach.link_lost(&full, resource, rx);
    finish(&mut xs, stop).await;
}

/// The XEP-0199 ping that checks a silent bound stream (built when needed, not kept).
pub(super) fn keepalive_ping(full: &FullJid) -> Element {
    Element::builder("iq", ns::JABBER_CLIENT)
        .a("type", "get")
        .a("id", "c2s-keepalive")
        .a("from", full.domain().as_str())
        .a("to", full.to_string())
        .append(Element::bare("ping", ns::PING))
        .build()
}

/// A bound stream's writing side, with the counters its stanzas go into.
struct Io<'a, 'x> {
    xs: &'a mut Xs<'x>,
    raw: &'a RawOut,
    metrics: &'a Metrics,
}

impl Io<'_, '_> {
    /// Hands one outbound stanza to the socket. It goes around the XML stream's serialiser,
    /// which only writes the stream's own elements (each flushed as it is sent).
    fn write_out(&mut self, Outbound(xml): Outbound) {
        self.metrics.stanza_out_xml(&xml);
        self.raw.append(xml);
    }

    /// Writes out everything handed over so far (the stream's own buffer, then raw XML).
    async fn flush(&mut self) -> Result<(), ()> {
        SinkExt::<&Element>::flush(self.xs).await.map_err(|_| ())
    }

    /// Writes what else the queue holds, then flushes it all in one go.
    async fn write_queued(&mut self, queue: &mut mpsc::Receiver<Outbound>) -> Result<(), ()> {
        while let Ok(more) = queue.try_recv() {
            self.write_out(more);
        }
        self.flush().await
    }
}

/// The waker the link task reads the socket with: it marks that the read side has something
/// before it wakes the task, so that the turn after an outbound batch does not poll the reader
/// (and its timers) again. The socket and timers keep the last waker they were given until
/// they fire, so a reader left pending stays armed.
struct ReadWake {
    woken: AtomicBool,
    task: std::task::Waker,
}

impl std::task::Wake for ReadWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake_by_ref();
    }
}

/// What woke the link task.
enum Turn {
    Close(StreamClose),
    Out(Outbound),
    In(Option<Result<Stanza, ReadError>>),
}

async fn pump(
    io: &mut Io<'_, '_>,
    rx: &mut LinkReceiver,
    resource: &actix::Addr<ResourceActor>,
    full: &FullJid,
    rate: &mut StanzaRate,
) -> Stop {
    let close = rx.close.requested();
    tokio::pin!(close);
    let task = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
    let read_wake = Arc::new(ReadWake {
        woken: AtomicBool::new(true),
        task,
    });
    let read_waker = std::task::Waker::from(read_wake.clone());
    // Set while reading is paused by the stanza rate limit.
    let mut paused: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        let mut polled = false;
        let turn = std::future::poll_fn(|cx| {
            // Polled again: the task was woken. If nothing below accounts for it (a TLS write
            // that left the plain task waker with the socket, say), the reader is polled too.
            let woken = std::mem::replace(&mut polled, true);
            if let Poll::Ready(why) = close.poll_unpin(cx) {
                return Poll::Ready(Turn::Close(why));
            }
            if let Poll::Ready(Some(out)) = rx.stanzas.poll_recv(cx) {
                return Poll::Ready(Turn::Out(out));
            }
            if let Some(p) = paused.as_mut() {
                if p.poll_unpin(cx).is_pending() {
                    return Poll::Pending;
                }
                paused = None;
                read_wake.woken.store(true, Ordering::Release);
            }
            if read_wake.woken.swap(false, Ordering::AcqRel) || woken {
                let mut rcx = Context::from_waker(&read_waker);
                if let Poll::Ready(item) = io.xs.poll_next_unpin(&mut rcx) {
                    // More may be buffered already: read again on the next turn.
                    read_wake.woken.store(true, Ordering::Release);
                    return Poll::Ready(Turn::In(item));
                }
            }
            Poll::Pending
        })
        .await;
        match turn {
            Turn::Close(why) => {
                // What was queued before the close was accepted for this client (an iq result,
                // a message): write it first, but never wait long on a client that does not read.
                let drain = io.write_queued(&mut rx.stanzas);
                let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
                return Stop::Error(why);
            }
            Turn::Out(out) => {
                // Whatever else is queued goes out in the same flush.
                io.write_out(out);
                if io.write_queued(&mut rx.stanzas).await.is_err() {
                    return Stop::Gone;
                }
            }
            Turn::In(item) => match inbound(item) {
                Inbound::Stanza(el) => {
                    let Some(kind) = stanza::kind(&el) else {
                        return not_a_stanza(&el);
                    };
                    io.metrics.stanza_in(kind);
                    rate.spend();
                    if let Some(until) = rate.wait_until(Instant::now()) {
                        if rate.first_pause() {
                            log::info!(
                                "{full}: over the stanza rate limit; reading paused until it slows down"
                            );
                        }
                        paused = Some(Box::pin(tokio::time::sleep_until(until)));
                    }
                    // Into the resource actor's bounded mailbox; only when it is full does the
                    // link wait (backpressure), so the usual stanza costs no reply channel.
                    match resource.try_send(FromClient(el)) {
                        Ok(()) => {}
                        Err(actix::prelude::SendError::Full(msg)) => {
                            if resource.send(msg).await.is_err() {
                                return Stop::Gone;
                            }
                        }
                        Err(actix::prelude::SendError::Closed(_)) => return Stop::Gone,
                    }
                }
                Inbound::Ping => {
                    // `send` flushes: nothing is left buffered after it.
                    if io.xs.send(&keepalive_ping(full)).await.is_err() {
                        return Stop::Gone;
                    }
                }
                Inbound::Stop(Stop::Footer) => {
                    // RFC 6120 §4.4: what the client sent before its closing tag is answered
                    // before ours.
                    let _ = resource.send(Handled).await;
                    if io.write_queued(&mut rx.stanzas).await.is_err() {
                        return Stop::Gone;
                    }
                    return Stop::Footer;
                }
                Inbound::Stop(stop) => return stop,
            },
        }
    }
}

/// The stream error for a top-level element on a bound stream that is not a stanza.
fn not_a_stanza(el: &Element) -> Stop {
    if el.ns() != ns::JABBER_CLIENT && ["message", "presence", "iq"].contains(&el.name()) {
        close(
            StreamCondition::InvalidNamespace,
            "Stanzas must be in the jabber:client namespace",
        )
    } else {
        close(
            StreamCondition::UnsupportedStanzaType,
            "Only message, presence and iq are allowed after binding",
        )
    }
}
