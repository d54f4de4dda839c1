//! What the server acknowledged, and what was in flight when it was killed.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::Cli;

/// Contacts each roster account edits, and entities each privacy account blocks.
pub const KEYS: usize = 8;

/// One value the server keeps: the last acknowledged one, and the one in flight (sent, not yet
/// acknowledged). After a kill the server may hold either.
#[derive(Clone, Debug, Default)]
pub struct Slot<T> {
    pub acked: T,
    pub pending: Option<T>,
}

impl<T: Clone + PartialEq> Slot<T> {
    pub fn send(&mut self, v: T) {
        self.pending = Some(v);
    }

    pub fn ack(&mut self) {
        if let Some(v) = self.pending.take() {
            self.acked = v;
        }
    }

    /// Whether `seen` is acceptable after a kill; afterwards the slot holds what was seen.
    pub fn settle(&mut self, seen: T) -> bool {
        let ok = seen == self.acked || self.pending.as_ref() == Some(&seen);
        self.acked = seen;
        self.pending = None;
        ok
    }
}

/// A pair of accounts going round subscribe -> subscribed -> unsubscribe. Steps are numbered
/// from 0; the pair's stage is `step % 3` (0: nothing, 1: request pending, 2: a has `to`, b
/// has `from`).
#[derive(Clone, Debug, Default)]
pub struct Pair {
    pub acked: u64,
    pub sent: u64,
}

/// Messages to one account that stays offline.
#[derive(Clone, Debug, Default)]
pub struct Offline {
    pub next: u64,
    pub acked: BTreeSet<u64>,
    pub sent: BTreeSet<u64>,
    pub delivered: HashSet<u64>,
}

pub struct Ledger {
    pub roster_users: usize,
    pub privacy_users: usize,
    pub pairs: Vec<Pair>,
    /// (account, contact) -> roster item name (None: no item).
    pub roster: BTreeMap<(usize, usize), Slot<Option<String>>>,
    /// Highest roster version acknowledged per roster account.
    pub roster_ver: Vec<u64>,
    /// (account, entity) -> blocked.
    pub blocked: BTreeMap<(usize, usize), Slot<bool>>,
    /// Items of each privacy account's list "crash" (0: no such list).
    pub list: Vec<Slot<usize>>,
    pub offline: Vec<Offline>,
    acked: BTreeMap<&'static str, u64>,
    pub lost: Vec<String>,
    pub inconsistent: Vec<String>,
}

/// How many accounts and pairs each kind of worker and check covers.
#[derive(Clone, Copy)]
pub struct Sizes {
    pub roster_users: usize,
    pub privacy_users: usize,
    pub pairs: usize,
    pub offline: usize,
}

impl Ledger {
    pub fn sizes(&self) -> Sizes {
        Sizes {
            roster_users: self.roster_users,
            privacy_users: self.privacy_users,
            pairs: self.pairs.len(),
            offline: self.offline.len(),
        }
    }

    pub fn new(cli: &Cli) -> Ledger {
        Ledger {
            roster_users: cli.roster_users,
            privacy_users: cli.privacy_users,
            pairs: vec![Pair::default(); cli.pairs],
            roster: BTreeMap::new(),
            roster_ver: vec![0; cli.roster_users],
            blocked: BTreeMap::new(),
            list: vec![Slot::default(); cli.privacy_users],
            offline: vec![Offline::default(); cli.offline],
            acked: BTreeMap::new(),
            lost: Vec::new(),
            inconsistent: Vec::new(),
        }
    }

    pub fn accounts(&self) -> Vec<String> {
        let mut v = Vec::new();
        v.extend((0..self.roster_users).map(roster_user));
        v.extend((0..self.privacy_users).map(privacy_user));
        for p in 0..self.pairs.len() {
            v.push(pair_a(p));
            v.push(pair_b(p));
        }
        for o in 0..self.offline.len() {
            v.push(offline_sender(o));
            v.push(offline_rcpt(o));
        }
        v
    }

    pub fn count(&mut self, kind: &'static str, n: u64) {
        *self.acked.entry(kind).or_default() += n;
    }

    pub fn acked_total(&self) -> u64 {
        self.acked.values().sum()
    }

    pub fn acked_by_kind(&self) -> &BTreeMap<&'static str, u64> {
        &self.acked
    }
}

pub fn roster_user(i: usize) -> String {
    format!("roster{i}")
}
pub fn privacy_user(i: usize) -> String {
    format!("privacy{i}")
}
pub fn pair_a(i: usize) -> String {
    format!("suba{i}")
}
pub fn pair_b(i: usize) -> String {
    format!("subb{i}")
}
pub fn offline_sender(i: usize) -> String {
    format!("offsend{i}")
}
pub fn offline_rcpt(i: usize) -> String {
    format!("offrcpt{i}")
}
/// The contacts roster accounts edit (remote, so an edit touches one account only).
pub fn contact(k: usize) -> String {
    format!("contact{k}@example.net")
}
pub fn blocked_entity(k: usize) -> String {
    format!("spammer{k}@example.net")
}
pub fn bare(user: &str) -> String {
    format!("{user}@localhost")
}
