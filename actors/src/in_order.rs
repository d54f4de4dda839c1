//! In-order processing across actors (RFC 6120 §10.1).
//!
//! A client's stanza is often finished by other actors than its session: its own UserActor
//! (presence, roster, privacy), a contact's UserActor (a subscription request it applies, a
//! message it stores offline), and from there perhaps a third (the contact's automatic answer).
//! RFC 6120 §10.1 asks the server to process a client's stanzas in the order sent, so the
//! session does not hand a stanza on before everything its earlier stanzas started is done:
//! what a later stanza's answer reports then includes their effects, an offline message is on
//! disk before the iq sent after it is answered, and whatever a local contact sends back in
//! consequence is queued for the client before the effects of its next stanza (Prosody and
//! ejabberd give the same guarantee by finishing local work synchronously).
//!
//! Each session owns an [`Outstanding`] count. A [`Ticket`] travels with every piece of work a
//! stanza starts in another actor and is dropped when that work is done, or when it is dropped
//! unprocessed (an actor that stopped, a stanza that was refused): a ticket cannot leak past
//! the work it stands for. Work that starts further work hands on a clone.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use futures::task::AtomicWaker;

#[derive(Default)]
struct Count {
    n: AtomicUsize,
    /// The session waiting for the count to reach zero.
    waker: AtomicWaker,
}

/// The work a session's stanzas have started in other actors and that is not done yet.
#[derive(Clone, Default)]
pub struct Outstanding(Arc<Count>);

/// One piece of outstanding work; done when dropped.
pub struct Ticket(Arc<Count>);

impl Outstanding {
    /// A ticket for work about to be handed to another actor.
    pub fn ticket(&self) -> Ticket {
        self.0.n.fetch_add(1, Ordering::AcqRel);
        Ticket(self.0.clone())
    }

    /// Whether every ticket has been dropped.
    pub fn is_settled(&self) -> bool {
        self.0.n.load(Ordering::Acquire) == 0
    }

    /// Resolves once every ticket has been dropped.
    pub fn settled(&self) -> impl Future<Output = ()> + 'static {
        let count = self.0.clone();
        std::future::poll_fn(move |cx| {
            if count.n.load(Ordering::Acquire) == 0 {
                return Poll::Ready(());
            }
            count.waker.register(cx.waker());
            if count.n.load(Ordering::Acquire) == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }
}

impl Clone for Ticket {
    fn clone(&self) -> Self {
        self.0.n.fetch_add(1, Ordering::AcqRel);
        Ticket(self.0.clone())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.0.n.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.waker.wake();
        }
    }
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ticket")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn settled_waits_for_every_ticket_and_its_clones() {
        let o = Outstanding::default();
        assert!(o.is_settled());
        assert!(o.settled().now_or_never().is_some());
        let first = o.ticket();
        let handed_on = first.clone();
        let mut waiting = Box::pin(o.settled());
        assert!(waiting.as_mut().now_or_never().is_none());
        drop(first);
        assert!(!o.is_settled());
        assert!(waiting.as_mut().now_or_never().is_none());
        drop(handed_on);
        assert!(o.is_settled());
        assert!(waiting.now_or_never().is_some());
    }

    #[tokio::test]
    async fn the_waiting_session_is_woken_by_the_last_drop_on_another_thread() {
        let o = Outstanding::default();
        let t = o.ticket();
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            drop(t);
        });
        o.settled().await;
        assert!(o.is_settled());
        dropper.join().unwrap();
    }
}
