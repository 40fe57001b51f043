//! What the protocol core asks its driver to do, and the host decisions it is told about.

use std::time::Duration;

use serde_json::Value;

use super::message::{JsonString, RawJson, SubscribePayload};

/// One thing for the driver to do, in the order the core produced them.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send this text message.
    Send(String),
    /// Close the socket with this code and reason (already cut to 123 bytes). Always the last
    /// action: the core ignores everything afterwards. The driver then frees the connection's
    /// subscriptions and drops any host call still pending.
    Close { code: u16, reason: String },
    /// Ask the host whether to accept the connection (`on_connect`); answer with
    /// [`super::Session::connect_decided`]. Meanwhile the driver keeps reading.
    Authenticate { payload: Option<RawJson> },
    /// Ask the host to register a subscription; answer with [`super::Session::subscribe_decided`].
    /// Until then [`super::Session::wants_input`] is false: like the Python reader, a connection's
    /// messages are handled one subscribe at a time.
    /// `id` may be no Unicode text (answer with [`super::Session::not_unicode_subscribe_decided`]).
    Subscribe { id: JsonString, payload: SubscribePayload },
    /// The client completed a subscription: free it (engine and host). Nothing is sent back.
    Complete { id: String },
    /// Why the next action (a close, or a subscribe's `error`) happens, when a limit of the
    /// client's or its credentials are the reason: for the driver's counters and logs. Nothing
    /// to send.
    Report(Cause),
}

/// What a close or an `error` of the core stands for (see [`Action::Report`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Over `max_messages_per_second`: close 4429 "Too many messages".
    MessagesPerSecond,
    /// Over `max_subscribes_per_second`: close 4429 "Too many subscribe attempts".
    SubscribesPerSecond,
    /// A message over `max_message_size`: close 1009.
    MessageSize,
    /// A subscribe over `max_subscriptions_per_connection`: its `error` says
    /// `TOO_MANY_SUBSCRIPTIONS`; the connection goes on.
    SubscriptionsPerConnection { id: JsonString },
    /// The credentials expired (at once, or later): close 4403 "Forbidden: credentials expired".
    CredentialsExpired,
}

impl Cause {
    /// The cause's name: the limit's as the Python `ServerStats.limits_reached` counts it, or
    /// `credentials_expired`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessagesPerSecond => "messages_per_second",
            Self::SubscribesPerSecond => "subscribes_per_second",
            Self::MessageSize => "message_size",
            Self::SubscriptionsPerConnection { .. } => "subscriptions_per_connection",
            Self::CredentialsExpired => "credentials_expired",
        }
    }
}

/// The host's answer to [`Action::Authenticate`], as the core needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectOutcome {
    /// Send `connection_ack` (with this payload, if any); the credentials expire after
    /// `expires_in` (close 4403 "Forbidden: credentials expired").
    Accept { ack_payload: Option<Value>, expires_in: Option<Duration> },
    /// Close 4403 "Forbidden" or "Forbidden: <reason>".
    Refuse { reason: Option<String> },
    /// Close with the host's own code and reason (e.g. 4429 "Too many connections for this user").
    Close { code: u16, reason: String },
    /// The host failed: close 4500 "Internal server error".
    Failed,
}
