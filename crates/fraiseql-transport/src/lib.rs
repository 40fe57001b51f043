//! The native graphql-transport-ws transport of FraiseQL Subscriptions: frames go from the
//! engine's queues to the sockets without Python.
//!
//! - [`protocol`]: the protocol as a sans-IO state machine ([`protocol::Session`]), the one
//!   implementation every transport drives.
//! - [`server`]: a tokio WebSocket server driving it, one task per connection, woken by the
//!   engine when its connection has frames.
//! - [`host`]: what stays with the application (authentication, registering subscriptions).
//!
//! WebSocket crate: tokio-tungstenite (over tungstenite). Its server handshake takes a callback
//! that sees the request (path, headers, offered subprotocols) and can answer 404; its
//! `WebSocketConfig` refuses a frame over `max_frame_size` from its header, before reading the
//! payload; and its `Sink` buffers fed messages until `flush`, so several queued frames leave
//! in one write. It is maintained, pure Rust, and already pulls only tokio and small crates.

pub mod host;
pub mod protocol;
pub mod server;

pub use host::{ConnectDecision, ConnectionRef, Host, RequestInfo, ServerClose, SubscribeErrors, SubscribeRequest};
pub use server::{bind, serve, ServerConfig, ServerHandle, StatsSnapshot};
