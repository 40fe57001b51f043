//! The graphql-transport-ws protocol as a sans-IO core: no sockets, no tasks, no clock of its
//! own. [`Session`] is one connection's state machine; every transport drives the same one, so
//! they cannot drift apart.

mod action;
pub mod close;
mod config;
mod message;
mod outgoing;
mod session;
#[cfg(test)]
mod tests;

pub use action::{Action, Cause, ConnectOutcome};
pub use config::ProtocolConfig;
pub use message::{BadRequest, ClientMessage, JsonObject, JsonString, RawJson, SubscribePayload};
pub use session::Session;

/// The subprotocol this core speaks.
pub const SUBPROTOCOL: &str = "graphql-transport-ws";
