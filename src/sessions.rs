//! The bound sessions of this server, for the admin API: who is connected, from where, over
//! which transport, since when; and the handle to close one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use cordial_actors::link::{LinkHandle, StreamClose};
use cordial_actors::metrics::Transport;
use jid::{BareJid, FullJid, Jid};
use serde::Serialize;

struct Entry {
    full: FullJid,
    peer: SocketAddr,
    transport: Transport,
    since: SystemTime,
    link: LinkHandle,
}

/// One bound session as the admin API shows it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SessionInfo {
    pub jid: String,
    pub peer: String,
    pub transport: &'static str,
    /// Seconds since the Unix epoch at binding.
    pub since: u64,
}

/// Every bound session of one server. Entering and leaving take a short lock; nothing on the
/// stanza path touches it.
#[derive(Clone, Default)]
pub struct Sessions {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    next: AtomicU64,
    table: Mutex<HashMap<u64, Entry>>,
}

/// Keeps a session listed while it lives.
#[must_use = "the session is unlisted when the guard drops"]
pub struct Listed {
    inner: Arc<Inner>,
    id: u64,
}

impl Drop for Listed {
    fn drop(&mut self) {
        self.inner.lock().remove(&self.id);
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        // A panic while holding this lock leaves only plain data behind.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sessions {
    /// Lists a session bound to `full` until the returned guard is dropped.
    pub fn enter(
        &self,
        full: FullJid,
        peer: SocketAddr,
        transport: Transport,
        link: LinkHandle,
    ) -> Listed {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let entry = Entry {
            full,
            peer,
            transport,
            since: SystemTime::now(),
            link,
        };
        self.inner.lock().insert(id, entry);
        Listed {
            inner: self.inner.clone(),
            id,
        }
    }

    /// The sessions now bound, ordered by JID.
    pub fn list(&self) -> Vec<SessionInfo> {
        let mut all: Vec<SessionInfo> = self
            .inner
            .lock()
            .values()
            .map(|e| SessionInfo {
                jid: e.full.to_string(),
                peer: e.peer.to_string(),
                transport: e.transport.as_str(),
                since: e
                    .since
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            })
            .collect();
        all.sort_by(|a, b| a.jid.cmp(&b.jid).then(a.since.cmp(&b.since)));
        all
    }

    /// How many sessions are bound.
    pub fn count(&self) -> usize {
        self.inner.lock().len()
    }

    /// Bound sessions per account (bare JID), for the accounts that have any.
    pub fn per_account(&self) -> HashMap<BareJid, usize> {
        let mut n = HashMap::new();
        for e in self.inner.lock().values() {
            *n.entry(e.full.to_bare()).or_default() += 1;
        }
        n
    }

    /// Closes the sessions of `jid` (every resource of a bare JID, one resource of a full JID)
    /// with the stream error `why`. Returns how many were asked to close.
    pub fn kick(&self, jid: &Jid, why: &StreamClose) -> usize {
        let table = self.inner.lock();
        let mut n = 0;
        for e in table.values() {
            let hit = match jid.try_as_full() {
                Ok(full) => e.full == *full,
                Err(bare) => e.full.to_bare() == *bare,
            };
            if hit {
                e.link.close(why.clone());
                n += 1;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordial_actors::link::{link_pair, StreamCondition};

    #[tokio::test]
    async fn kick_closes_the_named_sessions_and_leaving_unlists() {
        let s = Sessions::default();
        let peer: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (a1, r1) = link_pair(4);
        let (a2, r2) = link_pair(4);
        let (b1, _rb) = link_pair(4);
        let full = |j: &str| FullJid::new(j).unwrap();
        let _l1 = s.enter(full("a@x/1"), peer, Transport::Tcp, a1);
        let l2 = s.enter(full("a@x/2"), peer, Transport::Websocket, a2);
        let _l3 = s.enter(full("b@x/1"), peer, Transport::Tls, b1);
        let jids: Vec<_> = s.list().into_iter().map(|i| i.jid).collect();
        assert_eq!(jids, ["a@x/1", "a@x/2", "b@x/1"]);
        assert_eq!(s.count(), 3);
        let per = s.per_account();
        assert_eq!(per[&BareJid::new("a@x").unwrap()], 2);
        assert_eq!(per[&BareJid::new("b@x").unwrap()], 1);

        let why = StreamClose::new(StreamCondition::PolicyViolation, None);
        assert_eq!(s.kick(&Jid::new("a@x/2").unwrap(), &why), 1);
        assert_eq!(r2.close.requested().await, why);
        assert_eq!(s.kick(&Jid::new("a@x").unwrap(), &why), 2);
        assert_eq!(r1.close.requested().await, why);
        assert_eq!(s.kick(&Jid::new("c@x").unwrap(), &why), 0);

        drop(l2);
        let jids: Vec<_> = s.list().into_iter().map(|i| i.jid).collect();
        assert_eq!(jids, ["a@x/1", "b@x/1"]);
    }
}
