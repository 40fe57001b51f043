//! What a bus reports: its state, its lag and its counters (lock-free).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Whether a bus can publish and read right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusState {
    /// Both connections (publishing and reading) are up.
    Connected,
    /// A connection dropped; it is being retried with backoff. Publishes wait (within their
    /// timeout); events published meanwhile are read once the reader is back.
    Reconnecting,
    /// Shut down.
    Stopped,
}

impl BusState {
    pub fn as_str(self) -> &'static str {
        match self {
            BusState::Connected => "connected",
            BusState::Reconnecting => "reconnecting",
            BusState::Stopped => "stopped",
        }
    }
}

/// A point-in-time copy of a bus's state and counters.
#[derive(Debug, Clone, PartialEq)]
pub struct BusMetrics {
    pub state: BusState,
    /// Seconds between the publication of the last event read and the moment it was read.
    pub lag_seconds: f64,
    pub reconnects: u64,
    pub events_published: u64,
    pub events_received: u64,
    pub duplicates_dropped: u64,
    pub publish_timeouts: u64,
    /// Times the reader found that events it had not read yet were pruned (the process was cut
    /// off for longer than the bus keeps events).
    pub gaps: u64,
    /// Entries on the bus that are not events (written by some other program), skipped.
    pub malformed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Status {
    publisher_up: AtomicBool,
    reader_up: AtomicBool,
    stopped: AtomicBool,
    lag_micros: AtomicU64,
    reconnects: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    duplicates: AtomicU64,
    publish_timeouts: AtomicU64,
    gaps: AtomicU64,
    malformed: AtomicU64,
}

impl Status {
    pub(crate) fn set_connected(&self, publisher: bool, reader: bool) {
        self.publisher_up.store(publisher, Relaxed);
        self.reader_up.store(reader, Relaxed);
    }

    pub(crate) fn publisher(&self, up: bool) {
        self.publisher_up.store(up, Relaxed);
    }

    pub(crate) fn reader(&self, up: bool) {
        self.reader_up.store(up, Relaxed);
    }

    pub(crate) fn reconnected(&self) {
        self.reconnects.fetch_add(1, Relaxed);
    }

    pub(crate) fn published(&self, count: u64) {
        self.published.fetch_add(count, Relaxed);
    }

    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Relaxed);
    }

    pub(crate) fn duplicate(&self) {
        self.duplicates.fetch_add(1, Relaxed);
    }

    pub(crate) fn publish_timed_out(&self) {
        self.publish_timeouts.fetch_add(1, Relaxed);
    }

    pub(crate) fn gap(&self) {
        self.gaps.fetch_add(1, Relaxed);
    }

    pub(crate) fn malformed(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }

    pub(crate) fn lag(&self, seconds: f64) {
        self.lag_micros.store((seconds.max(0.0) * 1e6) as u64, Relaxed);
    }

    pub(crate) fn stop(&self) {
        self.stopped.store(true, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> BusMetrics {
        let state = if self.stopped.load(Relaxed) {
            BusState::Stopped
        } else if self.publisher_up.load(Relaxed) && self.reader_up.load(Relaxed) {
            BusState::Connected
        } else {
            BusState::Reconnecting
        };
        BusMetrics {
            state,
            lag_seconds: self.lag_micros.load(Relaxed) as f64 / 1e6,
            reconnects: self.reconnects.load(Relaxed),
            events_published: self.published.load(Relaxed),
            events_received: self.received.load(Relaxed),
            duplicates_dropped: self.duplicates.load(Relaxed),
            publish_timeouts: self.publish_timeouts.load(Relaxed),
            gaps: self.gaps.load(Relaxed),
            malformed: self.malformed.load(Relaxed),
        }
    }
}
