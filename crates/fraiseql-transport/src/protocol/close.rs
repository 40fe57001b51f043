//! Close codes and reason texts: the same words as the Python handler
//! (`protocols/graphql_transport_ws/types.py` and `handlers.py`), so clients cannot tell the
//! transports apart.

/// Server shutdown.
pub const GOING_AWAY: u16 = 1001;
/// The WebSocket layer's: a frame the protocol forbids (RFC 6455).
pub const PROTOCOL_ERROR: u16 = 1002;
/// The WebSocket layer's: a text message that is not UTF-8.
pub const INVALID_PAYLOAD: u16 = 1007;
/// A client message over `max_message_size`.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The server holds `max_connections` already.
pub const TRY_AGAIN_LATER: u16 = 1013;
/// An invalid message (JSON, shape, binary frame).
pub const BAD_REQUEST: u16 = 4400;
/// `subscribe` before `connection_ack`.
pub const UNAUTHORIZED: u16 = 4401;
/// `on_connect` refused the connection, or its credentials expired.
pub const FORBIDDEN: u16 = 4403;
pub const SUBPROTOCOL_NOT_ACCEPTABLE: u16 = 4406;
pub const CONNECTION_INITIALISATION_TIMEOUT: u16 = 4408;
pub const SUBSCRIBER_ALREADY_EXISTS: u16 = 4409;
/// Also: too many messages, subscribe attempts or connections of one user.
pub const TOO_MANY_INITIALISATION_REQUESTS: u16 = 4429;
pub const INTERNAL_SERVER_ERROR: u16 = 4500;
/// Ours: the client stopped answering the server's keep-alive pings.
pub const KEEPALIVE_TIMEOUT: u16 = 4504;

pub const REASON_GOING_AWAY: &str = "Going away";
pub const REASON_TOO_MANY_CONNECTIONS: &str = "Try again later: too many connections";
pub const REASON_BINARY: &str = "Binary messages are not supported";
pub const REASON_UNAUTHORIZED: &str = "Unauthorized";
pub const REASON_FORBIDDEN: &str = "Forbidden";
pub const REASON_CREDENTIALS_EXPIRED: &str = "Forbidden: credentials expired";
pub const REASON_SUBPROTOCOL: &str = "Subprotocol not acceptable";
pub const REASON_INIT_TIMEOUT: &str = "Connection initialisation timeout";
pub const REASON_TOO_MANY_INITS: &str = "Too many initialisation requests";
pub const REASON_TOO_MANY_MESSAGES: &str = "Too many messages";
pub const REASON_TOO_MANY_SUBSCRIBES: &str = "Too many subscribe attempts";
pub const REASON_INTERNAL: &str = "Internal server error";
pub const REASON_KEEPALIVE: &str = "Keep-alive timeout: no pong";
pub const REASON_INVALID_UTF8: &str = "Invalid UTF-8 in a text message";
pub const REASON_PROTOCOL_ERROR: &str = "WebSocket protocol error";

/// The WebSocket limit on a close reason, in bytes of UTF-8.
pub const MAX_REASON_BYTES: usize = 123;

pub fn message_too_big(limit: usize) -> String {
    format!("Message larger than {limit} bytes")
}

pub fn subscriber_exists(id: &str) -> String {
    format!("Subscriber for {id} already exists")
}

/// A reason the WebSocket can carry: cut to 120 bytes (on a character boundary) plus "...".
pub fn truncate_reason(reason: &str) -> String {
    if reason.len() <= MAX_REASON_BYTES {
        return reason.to_owned();
    }
    let mut end = MAX_REASON_BYTES - 3;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &reason[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reasons_are_kept() {
        assert_eq!(truncate_reason("Unauthorized"), "Unauthorized");
        let exact = "x".repeat(MAX_REASON_BYTES);
        assert_eq!(truncate_reason(&exact), exact);
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let long = subscriber_exists(&"é".repeat(100));
        let cut = truncate_reason(&long);
        assert!(cut.len() <= MAX_REASON_BYTES, "{}", cut.len());
        assert!(cut.ends_with("..."));
        assert!(long.starts_with(cut.trim_end_matches("...")));
    }
}
