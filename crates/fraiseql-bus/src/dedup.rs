//! Dropping the duplicates a retried write can leave on the bus.
//!
//! A publisher numbers its events 1, 2, 3, ... and writes them in that order on one connection;
//! when a write is retried (its reply was lost), the bus can hold an event twice. A reader keeps
//! the highest number seen per publisher and drops anything not above it.

use std::num::NonZeroUsize;

use lru::LruCache;

/// Publishers remembered: the least recently seen are forgotten first (a process that stopped
/// publishing long ago), so memory does not grow with every process that ever published.
const PUBLISHERS: usize = 4096;

pub(crate) struct Dedup {
    highest: LruCache<u64, u64>,
}

impl Default for Dedup {
    fn default() -> Self {
        Self { highest: LruCache::new(NonZeroUsize::new(PUBLISHERS).expect("non-zero")) }
    }
}

impl Dedup {
    /// True when `(publisher, seq)` was already delivered.
    pub(crate) fn seen(&mut self, publisher: u64, seq: u64) -> bool {
        match self.highest.get_mut(&publisher) {
            Some(highest) if seq <= *highest => true,
            Some(highest) => {
                *highest = seq;
                false
            }
            None => {
                self.highest.put(publisher, seq);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_repeats_per_publisher() {
        let mut dedup = Dedup::default();
        assert!(!dedup.seen(1, 1));
        assert!(!dedup.seen(1, 2));
        assert!(dedup.seen(1, 2), "a retried write");
        assert!(dedup.seen(1, 1));
        assert!(!dedup.seen(2, 1), "another publisher counts on its own");
        assert!(!dedup.seen(1, 3));
    }
}
