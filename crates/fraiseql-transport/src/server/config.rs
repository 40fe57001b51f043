//! The server's limits, with the defaults of the Python `SubscriptionConfig` and `serve()`.

use std::time::Duration;

use crate::protocol::ProtocolConfig;

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// The only path upgraded; any other gets 404.
    pub path: String,
    pub protocol: ProtocolConfig,
    /// A TCP connection must complete its WebSocket upgrade within this.
    pub handshake_timeout: Duration,
    /// A write that cannot complete within this (the peer stopped reading) aborts the connection.
    pub write_timeout: Duration,
    /// Upgraded connections; one more is closed 1013.
    pub max_connections: usize,
    /// TCP connections still in their handshake; beyond, the oldest are closed to make room.
    pub max_pending_connections: usize,
    /// TCP connections per client IP address; one more is answered 503 (`None`: no limit).
    pub max_connections_per_address: Option<usize>,
    /// Frames taken from the engine per write (one flush each): bounds a write's bytes.
    pub max_frames_per_write: usize,
    /// After its close frame, how long a connection waits for the client to close its side,
    /// so the close frame is read before the socket goes away.
    pub close_linger: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            path: "/graphql".to_owned(),
            protocol: ProtocolConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_pending_connections: 1024,
            max_connections_per_address: Some(1000),
            max_frames_per_write: 256,
            close_linger: Duration::from_secs(2),
        }
    }
}
