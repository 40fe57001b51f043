//! What the server asks of its host: the parts that stay in the application (authentication,
//! registering subscriptions with their resolvers and channels). The Python binding implements
//! this trait later; tests implement it over a plain [`fraiseql_engine::Engine`].
//!
//! The server never holds a lock while a host future runs, runs at most one host call per
//! connection at a time, and drops a pending call when its connection closes (the host cleans
//! up in the future's `Drop` if it must).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::protocol::{Cause, JsonString, RawJson, SubscribePayload};

/// What the HTTP upgrade request said, for `on_connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestInfo {
    pub path: String,
    /// The query string, without its `?`.
    pub query: Option<String>,
    /// Lower-case names, in request order; values that are not UTF-8 are read lossily.
    pub headers: Vec<(String, String)>,
    pub client: Option<SocketAddr>,
    /// The subprotocols the client offered.
    pub subprotocols: Vec<String>,
}

impl RequestInfo {
    /// The first value of a header (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// The host's answer to `connection_init`.
#[derive(Debug)]
pub enum ConnectDecision<C> {
    /// Send `connection_ack` (with `ack_payload`, if any). The server keeps `context` for the
    /// connection's life and hands it to every later call. When `expires_in` runs out (the
    /// credentials' lifetime) the connection closes 4403 "Forbidden: credentials expired".
    Accept { context: C, ack_payload: Option<Value>, expires_in: Option<Duration> },
    /// Close 4403 "Forbidden" or "Forbidden: <reason>".
    Refuse { reason: Option<String> },
    /// Close with the host's own code and reason (e.g. 4429 "Too many connections for this user").
    Close { code: u16, reason: String },
    /// The host failed: close 4500 "Internal server error".
    Failed,
}

/// The connection a call is about: its id in the engine and the host's context.
#[derive(Debug)]
pub struct ConnectionRef<'a, C> {
    pub connection_id: &'a str,
    pub context: &'a C,
}

/// A `subscribe` for the host to register in the engine (under `connection_id` and `id`).
#[derive(Debug)]
pub struct SubscribeRequest<C> {
    pub connection_id: Arc<str>,
    pub context: Arc<C>,
    /// Not Unicode text when the client's id has lone surrogates (the engine cannot take it).
    pub id: JsonString,
    pub payload: SubscribePayload,
}

/// How the server closed a connection (for the host's counters and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerClose<'a> {
    pub code: u16,
    pub reason: &'a str,
}

/// The GraphQL formatted errors of an `error` message (for example `GraphQLError::to_json`).
pub type SubscribeErrors = Vec<Value>;

pub trait Host: Send + Sync + 'static {
    /// Whatever the host keeps per accepted connection (user, tenant, scopes...).
    type Context: Send + Sync + 'static;

    /// A connection was upgraded and opened in the engine under `connection_id` (before its
    /// `connection_init`). [`Host::connection_closed`] follows once for it.
    fn connection_opened(&self, _connection_id: &str) {}

    /// `connection_init` arrived on `connection_id`. The connection keeps being read meanwhile: a
    /// second `connection_init` closes 4429, a `subscribe` before the decision 4401.
    fn on_connect(
        &self,
        connection_id: &str,
        payload: Option<RawJson>,
        request: &RequestInfo,
    ) -> impl Future<Output = ConnectDecision<Self::Context>> + Send;

    /// Register the subscription in the engine, or say why not (an `error` message follows and
    /// the connection goes on). The connection reads nothing else until this returns.
    fn subscribe(
        &self,
        request: SubscribeRequest<Self::Context>,
    ) -> impl Future<Output = Result<(), SubscribeErrors>> + Send;

    /// A limit of the client's or its credentials' expiry is why the server is about to close
    /// the connection or refuse a subscribe (the protocol core's [`Cause`]): for counters and
    /// logs.
    fn report(&self, _connection_id: &str, _cause: Cause) {}

    /// The client completed a subscription; the server already freed it in the engine.
    fn complete(&self, _connection: ConnectionRef<'_, Self::Context>, _id: &str) {}

    /// The connection is gone; the server already freed it in the engine. Called once for every
    /// connection opened in the engine (those refused 4406 or 1013 never are), `context`
    /// present if `on_connect` accepted it, `closed_by_server` when the server closed it (its
    /// close frame was about to be sent; `None`: the peer went away or a write timed out).
    fn connection_closed(
        &self,
        _connection_id: &str,
        _context: Option<&Self::Context>,
        _closed_by_server: Option<ServerClose<'_>>,
    ) {
    }
}
