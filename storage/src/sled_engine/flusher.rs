//! Group commit: one thread per store makes writes durable for everyone waiting.
//!
//! A caller queues a ticket and awaits it. The thread takes every ticket queued so far, runs
//! one `Db::flush` and answers them all. Writes a caller made before queueing its ticket are
//! covered by that flush; tickets that arrive while a flush runs wait for the next one. Under
//! load, many acknowledgements share one fsync; alone, a caller waits one fsync.

use std::sync::mpsc;
use std::thread;

use futures_channel::oneshot;

use crate::{Result, StorageError};

type Ticket = oneshot::Sender<std::result::Result<(), String>>;

#[derive(Clone)]
pub(super) struct Flusher {
    tickets: mpsc::Sender<Ticket>,
}

impl Flusher {
    /// Starts the flusher thread. It ends when the last handle of the store is dropped.
    pub(super) fn start(db: sled::Db) -> Flusher {
        let (tx, rx) = mpsc::channel::<Ticket>();
        thread::Builder::new()
            .name("cordial-flush".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    if let Err(e) = &result {
                        log::error!("flushing the database failed: {e}");
                    }
                    for w in waiting {
                        let _ = w.send(result.clone());
                    }
                }
            })
            .expect("spawn the flusher thread");
        Flusher { tickets: tx }
    }

    pub(super) async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.tickets
            .send(tx)
            .map_err(|_| StorageError::Flush("the flusher thread has stopped".into()))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StorageError::Flush(e)),
            Err(_) => Err(StorageError::Flush("the flusher thread has stopped".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::temp_store;

    /// Many concurrent flushes all complete (sled's flush_async deadlocks here).
    #[test]
    fn many_concurrent_flushes_complete() {
        let (_dir, store) = temp_store();
        let rt = std::thread::spawn(move || {
            let mut handles = Vec::new();
            for i in 0..300u32 {
                let s = store.clone();
                handles.push(std::thread::spawn(move || {
                    use crate::VcardStore;
                    s.set_vcard(&format!("u{i}@x"), "<vCard xmlns='vcard-temp'/>")
                        .unwrap();
                    futures_executor_block_on(s.flush()).unwrap();
                }));
            }
            for h in handles {
                h.join().unwrap();
            }
        });
        rt.join().unwrap();
    }

    /// A tiny executor for one future, so the test needs no async runtime.
    fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::sync::Arc;
        use std::task::{Context, Poll, Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            match f.as_mut().poll(&mut cx) {
                Poll::Ready(v) => return v,
                Poll::Pending => std::thread::park(),
            }
        }
    }
}
