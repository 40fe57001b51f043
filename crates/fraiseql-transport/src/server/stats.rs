//! What the server did, as counters (for tests and, later, the metrics).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct ServerStats {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) refused_per_address: AtomicU64,
    /// Connections closed in their handshake, still silent, to make room for newer ones.
    pub(crate) evicted: AtomicU64,
    pub(crate) refused_max_connections: AtomicU64,
    pub(crate) handshake_timeouts: AtomicU64,
    pub(crate) write_timeouts: AtomicU64,
    pub(crate) frames_sent: AtomicU64,
    pub(crate) frame_writes: AtomicU64,
    pub(crate) connection_panics: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections upgraded and served (past the handshake and the connection limit).
    pub connections_accepted: u64,
    pub refused_per_address: u64,
    /// Connections closed in their handshake, still silent, to make room for newer ones.
    pub evicted: u64,
    pub refused_max_connections: u64,
    pub handshake_timeouts: u64,
    pub write_timeouts: u64,
    pub frames_sent: u64,
    /// Writes that carried engine frames (one flush each): fewer than `frames_sent` whenever
    /// frames were waiting together.
    pub frame_writes: u64,
    pub connection_panics: u64,
}

impl ServerStats {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections_accepted: self.connections_accepted.load(Relaxed),
            refused_per_address: self.refused_per_address.load(Relaxed),
            evicted: self.evicted.load(Relaxed),
            refused_max_connections: self.refused_max_connections.load(Relaxed),
            handshake_timeouts: self.handshake_timeouts.load(Relaxed),
            write_timeouts: self.write_timeouts.load(Relaxed),
            frames_sent: self.frames_sent.load(Relaxed),
            frame_writes: self.frame_writes.load(Relaxed),
            connection_panics: self.connection_panics.load(Relaxed),
        }
    }
}
