//! Counted resources with permits that give their place back when dropped (also on a panic):
//! connections in their handshake, upgraded connections, and TCP connections per address.
//! Per-address entries exist only while that address has a connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Debug, Default)]
pub(crate) struct Limits {
    pending: AtomicUsize,
    open: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// A place in one of the counts, held as long as the permit lives.
#[derive(Debug)]
pub(crate) struct Permit {
    limits: Arc<Limits>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Pending,
    Open,
    Address(IpAddr),
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

    pub(crate) fn pending(self: &Arc<Self>, limit: usize) -> Option<Permit> {
        take(&self.pending, limit).then(|| Permit { limits: self.clone(), kind: Kind::Pending })
    }

    pub(crate) fn open(self: &Arc<Self>, limit: usize) -> Option<Permit> {
        take(&self.open, limit).then(|| Permit { limits: self.clone(), kind: Kind::Open })
    }

    pub(crate) fn address(self: &Arc<Self>, address: IpAddr, limit: Option<usize>) -> Option<Permit> {
        let mut counts = self.per_address.lock();
        let count = counts.entry(address).or_insert(0);
        if limit.is_some_and(|limit| *count >= limit) {
            if *count == 0 {
                counts.remove(&address);
            }
            return None;
        }
        *count += 1;
        Some(Permit { limits: self.clone(), kind: Kind::Address(address) })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Pending => {
                self.limits.pending.fetch_sub(1, SeqCst);
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
        let held = limits.address(a, Some(1)).unwrap();
        assert!(limits.address(a, Some(1)).is_none());
        let other = limits.address(b, Some(1)).unwrap();
        assert_eq!(limits.tracked_addresses(), 2);
        drop((held, other));
        assert_eq!(limits.tracked_addresses(), 0);
        assert!(limits.address(a, Some(0)).is_none());
        assert_eq!(limits.tracked_addresses(), 0, "a refusal leaves nothing behind");
    }
}
