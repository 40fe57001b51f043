//! The protocol's limits and timers, with the defaults of the Python `SubscriptionConfig`.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolConfig {
    /// No `connection_init` in time: close 4408.
    pub connection_init_timeout: Duration,
    /// The server sends `ping` this often once acknowledged (`None`: never).
    pub keepalive_interval: Option<Duration>,
    /// No `pong` this long after a `ping`: close 4504.
    pub keepalive_timeout: Duration,
    /// One more `subscribe` gets an `error` with `extensions.code = "TOO_MANY_SUBSCRIPTIONS"`.
    pub max_subscriptions_per_connection: usize,
    /// A larger client message (bytes of UTF-8): close 1009.
    pub max_message_size: usize,
    /// Beyond (bursts of twice as many): close 4429 "Too many messages". `None`: no limit.
    pub max_messages_per_second: Option<f64>,
    /// Beyond (bursts of twice as many): close 4429 "Too many subscribe attempts".
    pub max_subscribes_per_second: Option<f64>,
    /// Whether client messages are read while the host decides on `connection_init`. True (the
    /// reference server's behaviour with an async `on_connect`): a second `connection_init`
    /// closes 4429 and a `subscribe` before the decision 4401. False (the Python handler's with
    /// a plain `on_connect`, decided before it reads on): nothing is read until the decision,
    /// so a `subscribe` sent right behind `connection_init` is accepted.
    pub read_while_connecting: bool,
}

impl Default for ProtocolConfig {
    fn default() -> Self {
        Self {
            connection_init_timeout: Duration::from_secs(3),
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_timeout: Duration::from_secs(10),
            max_subscriptions_per_connection: 100,
            max_message_size: 64 * 1024,
            max_messages_per_second: Some(100.0),
            max_subscribes_per_second: Some(20.0),
            read_while_connecting: true,
        }
    }
}
