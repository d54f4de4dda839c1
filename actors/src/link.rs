//! The boundary between a connection's link task and the actors.
//!
//! The actors hold a [`LinkHandle`]: a bounded queue of outbound stanzas plus a close signal that
//! bypasses the queue, so a client that stops reading can still be disconnected after its queue
//! is full (RFC 6120 §4.9; the rumqttd link/router split). The link task holds the matching
//! [`LinkReceiver`] and writes what arrives to the socket.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures::task::AtomicWaker;
use minidom::Element;
use tokio::sync::mpsc;
pub use xmpp_parsers::stream_error::DefinedCondition as StreamCondition;

/// Why the server closes a stream: the stream error condition and an optional text.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamClose {
    pub condition: StreamCondition,
    pub text: Option<String>,
}

impl StreamClose {
    pub fn new(condition: StreamCondition, text: impl Into<Option<String>>) -> Self {
        StreamClose {
            condition,
            text: text.into(),
        }
    }
}

/// Polled by the link task on every turn, so the common case (no close asked) is one atomic
/// load; the reason is only locked once a close was asked.
#[derive(Default)]
struct CloseSignal {
    reason: Mutex<Option<StreamClose>>,
    asked: AtomicBool,
    waker: AtomicWaker,
}

/// What the actors queue for a client: one complete top-level stanza, serialised (by
/// [`LinkHandle::send`], or built as text by the actors: a whole roster result from cached item
/// XML, a presence broadcast formatted once for every contact). It carries its own
/// `xmlns='jabber:client'`, so it stands on its own in any framing. Queued as text rather than
/// as a tree: a few hundred bytes for a chat message instead of a dozen allocations, which is
/// what a client that reads slowly holds in its queue, and the link writes it without another
/// pass.
#[derive(Debug)]
pub struct Outbound(pub String);

/// The actors' end of a connection. Cloning is cheap.
#[derive(Clone)]
pub struct LinkHandle {
    tx: mpsc::Sender<Outbound>,
    close: Arc<CloseSignal>,
}

/// The link task's end of a connection.
pub struct LinkReceiver {
    pub stanzas: mpsc::Receiver<Outbound>,
    pub close: CloseWatch,
}

/// Resolves when the actors ask the link to close its stream.
pub struct CloseWatch(Arc<CloseSignal>);

/// Creates a connected pair with room for `capacity` queued stanzas.
pub fn link_pair(capacity: usize) -> (LinkHandle, LinkReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let close = Arc::new(CloseSignal::default());
    (
        LinkHandle {
            tx,
            close: close.clone(),
        },
        LinkReceiver {
            stanzas: rx,
            close: CloseWatch(close),
        },
    )
}

impl LinkHandle {
    /// Queues a stanza for the client. A full queue means the client is not reading: the
    /// stream is closed with `<policy-violation/>` instead of letting memory grow.
    /// Returns `false` when the stanza was not queued.
    pub fn send(&self, stanza: Element) -> bool {
        self.send_xml(crate::xml::serialize(&stanza))
    }

    /// Queues a stanza the actors serialised themselves (see [`Outbound`]), like
    /// [`Self::send`].
    pub fn send_xml(&self, xml: String) -> bool {
        self.queue(Outbound(xml))
    }

    fn queue(&self, out: Outbound) -> bool {
        match self.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let first = self.close(StreamClose::new(
                    StreamCondition::PolicyViolation,
                    "outbound queue full: the client does not read".to_string(),
                ));
                if first {
                    log::warn!("outbound queue full; disconnecting a client that does not read");
                }
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// How many stanzas wait in the queue (for tests).
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Asks the link to send a stream error and close. The first reason given wins; returns
    /// whether this was it.
    pub fn close(&self, reason: StreamClose) -> bool {
        let mut r = self.close.reason.lock().expect("close reason lock");
        let first = r.is_none();
        if first {
            *r = Some(reason);
        }
        drop(r);
        self.close.asked.store(true, Ordering::Release);
        self.close.waker.wake();
        first
    }
}

impl CloseWatch {
    /// Resolves when the actors asked to close the stream.
    pub fn requested(&self) -> impl Future<Output = StreamClose> + '_ {
        let signal = &self.0;
        std::future::poll_fn(move |cx| {
            if !signal.asked.load(Ordering::Acquire) {
                signal.waker.register(cx.waker());
                if !signal.asked.load(Ordering::Acquire) {
                    return Poll::Pending;
                }
            }
            let reason = signal.reason.lock().expect("close reason lock").clone();
            Poll::Ready(reason.expect("the reason is set before the close is asked"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_slot_is_small() {
        // Each session's queue allocates a block of 32 slots up front.
        assert!(std::mem::size_of::<Outbound>() <= 24);
    }

    #[tokio::test]
    async fn a_full_queue_closes_with_policy_violation() {
        let (h, mut r) = link_pair(2);
        assert!(h.send(Element::bare("a", "jabber:client")));
        assert!(h.send(Element::bare("b", "jabber:client")));
        assert!(!h.send(Element::bare("c", "jabber:client")));
        let why = r.close.requested().await;
        assert_eq!(why.condition, StreamCondition::PolicyViolation);
        let Some(Outbound(first)) = r.stanzas.recv().await else {
            panic!("the first stanza queued comes out first");
        };
        assert_eq!(first, "<a xmlns='jabber:client'/>");
    }
}
