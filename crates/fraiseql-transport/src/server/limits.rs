//! Counted resources with permits that give their place back when dropped (also on a panic):
//! connections in their handshake, upgraded connections, and TCP connections per address.
//! Per-address entries exist only while that address has a connection.
//!
//! Connections still in their handshake are also kept oldest first, so that idle sockets cannot
//! lock new clients out: when too many wait, or an address is at its limit, the oldest silent
//! one is told to go (its handshake task ends) and its place goes to the newcomer, as the Python
//! integrations' `ConnectionGuard` does.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(crate) struct Limits {
    open: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    pending: Mutex<Pending>,
}

/// Connections in their handshake, by arrival order.
#[derive(Debug, Default)]
struct Pending {
    next: u64,
    waiting: BTreeMap<u64, (IpAddr, Arc<Notify>)>,
}

/// A place in one of the counts, held as long as the permit lives.
#[derive(Debug)]
pub(crate) struct Permit {
    limits: Arc<Limits>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Pending(u64),
    Open,
    Address(IpAddr),
}

/// A connection in its handshake: its place among the pending ones, and how it learns that it
/// was evicted.
pub(crate) struct PendingPlace {
    /// Held for its drop: the place is given back when the handshake ends.
    _place: Permit,
    pub(crate) evicted: Arc<Notify>,
}

fn take(counter: &AtomicUsize, limit: usize) -> bool {
    counter.fetch_update(SeqCst, SeqCst, |count| (count < limit).then_some(count + 1)).is_ok()
}

impl Limits {
    pub(crate) fn open_connections(&self) -> usize {
        self.open.load(SeqCst)
    }

    pub(crate) fn tracked_addresses(&self) -> usize {
        self.per_address.lock().len()
    }

    /// TCP connections held now, upgraded or not.
    pub(crate) fn tcp_connections(&self) -> usize {
        self.per_address.lock().values().sum()
    }

    pub(crate) fn pending_connections(&self) -> usize {
        self.pending.lock().waiting.len()
    }

    /// A place among the connections in their handshake, always given: when `limit` of them
    /// wait already, the oldest are evicted to make room. Returns how many were.
    pub(crate) fn pending(self: &Arc<Self>, address: IpAddr, limit: usize) -> (PendingPlace, usize) {
        let mut pending = self.pending.lock();
        let mut evicted = 0;
        while pending.waiting.len() >= limit.max(1) {
            let Some((_, (_, notify))) = pending.waiting.pop_first() else { break };
            notify.notify_one();
            evicted += 1;
        }
        let key = pending.next;
        pending.next += 1;
        let notify = Arc::new(Notify::new());
        pending.waiting.insert(key, (address, notify.clone()));
        let permit = Permit { limits: self.clone(), kind: Kind::Pending(key) };
        (PendingPlace { _place: permit, evicted: notify }, evicted)
    }

    pub(crate) fn open(self: &Arc<Self>, limit: usize) -> Option<Permit> {
        take(&self.open, limit).then(|| Permit { limits: self.clone(), kind: Kind::Open })
    }

    /// A place among the address's TCP connections. At its limit, the address's oldest
    /// connection still in its handshake is evicted and its place given to this one (the count
    /// is one over until the evicted task ends); `None` when it has none: answer 503.
    /// The flag says whether one was evicted.
    pub(crate) fn address(self: &Arc<Self>, address: IpAddr, limit: Option<usize>) -> Option<(Permit, bool)> {
        let mut counts = self.per_address.lock();
        let count = counts.entry(address).or_insert(0);
        let mut evicted = false;
        if limit.is_some_and(|limit| *count >= limit) {
            evicted = self.evict_pending_from(address);
            if !evicted {
                if *count == 0 {
                    counts.remove(&address);
                }
                return None;
            }
        }
        *count += 1;
        Some((Permit { limits: self.clone(), kind: Kind::Address(address) }, evicted))
    }

    fn evict_pending_from(&self, address: IpAddr) -> bool {
        let mut pending = self.pending.lock();
        let Some(key) = pending.waiting.iter().find(|(_, (from, _))| *from == address).map(|(key, _)| *key) else {
            return false;
        };
        if let Some((_, notify)) = pending.waiting.remove(&key) {
            notify.notify_one();
        }
        true
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Pending(key) => {
                self.limits.pending.lock().waiting.remove(key);
            }
            Kind::Open => {
                self.limits.open.fetch_sub(1, SeqCst);
            }
            Kind::Address(address) => {
                let mut counts = self.limits.per_address.lock();
                if let Some(count) = counts.get_mut(address) {
                    *count -= 1;
                    if *count == 0 {
                        counts.remove(address);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[test]
    fn permits_count_and_give_back() {
        let limits = Arc::new(Limits::default());
        let first = limits.open(2).unwrap();
        let _second = limits.open(2).unwrap();
        assert!(limits.open(2).is_none());
        drop(first);
        assert!(limits.open(2).is_some());
        assert_eq!(limits.open_connections(), 1);
    }

    #[test]
    fn addresses_are_counted_separately_and_forgotten() {
        let limits = Arc::new(Limits::default());
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let (held, _) = limits.address(a, Some(1)).unwrap();
        assert!(limits.address(a, Some(1)).is_none(), "no pending connection of its to evict");
        let (other, _) = limits.address(b, Some(1)).unwrap();
        assert_eq!(limits.tracked_addresses(), 2);
        drop((held, other));
        assert_eq!(limits.tracked_addresses(), 0);
        assert!(limits.address(a, Some(0)).is_none());
        assert_eq!(limits.tracked_addresses(), 0, "a refusal leaves nothing behind");
    }

    #[test]
    fn the_oldest_pending_connections_make_room() {
        let limits = Arc::new(Limits::default());
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let (first, evicted) = limits.pending(a, 2);
        assert_eq!(evicted, 0);
        let (_second, _) = limits.pending(a, 2);
        let (_third, evicted) = limits.pending(a, 2);
        assert_eq!(evicted, 1);
        assert_eq!(limits.pending_connections(), 2);
        // The first was told (the permit stored in its Notify), and its permit frees nothing more.
        assert!(first.evicted.notified().now_or_never().is_some());
        drop(first);
        assert_eq!(limits.pending_connections(), 2);
    }

    #[test]
    fn an_address_at_its_limit_evicts_its_own_silent_connection() {
        let limits = Arc::new(Limits::default());
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let (_other_pending, _) = limits.pending(b, 10);
        let (_a_address, _) = limits.address(a, Some(1)).unwrap();
        let (a_pending, _) = limits.pending(a, 10);
        let (_newcomer, evicted) = limits.address(a, Some(1)).expect("a's silent connection makes room");
        assert!(evicted);
        assert!(a_pending.evicted.notified().now_or_never().is_some());
        assert_eq!(limits.pending_connections(), 1, "b's is left alone");
        assert!(limits.address(a, Some(1)).is_none(), "no silent connection of a's left: 503");
    }
}
