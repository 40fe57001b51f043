//! The server messages the protocol core writes itself (`next` frames come from the engine,
//! already serialized). Compact JSON, fields in the order the Python handler writes them.

use serde_json::{json, Value};

use super::message::RawJson;

pub const PING: &str = r#"{"type":"ping"}"#;

pub fn connection_ack(payload: Option<&Value>) -> String {
    match payload {
        Some(payload) => format!(r#"{{"type":"connection_ack","payload":{payload}}}"#),
        None => r#"{"type":"connection_ack"}"#.to_owned(),
    }
}

/// The pong of a ping: its payload echoed as the client wrote it.
pub fn pong(payload: Option<&RawJson>) -> String {
    match payload {
        Some(payload) => format!(r#"{{"type":"pong","payload":{}}}"#, payload.as_str()),
        None => r#"{"type":"pong"}"#.to_owned(),
    }
}

/// An `error` message: `errors` is the array of GraphQL formatted errors.
pub fn error(id: &str, errors: &[Value]) -> String {
    error_for_literal(&Value::from(id).to_string(), errors)
}

/// [`error`] for an id given as its JSON string literal.
pub fn error_for_literal(id: &str, errors: &[Value]) -> String {
    format!(r#"{{"id":{id},"type":"error","payload":{}}}"#, Value::from(errors.to_vec()))
}

/// The error a subscription over `max_subscriptions_per_connection` gets.
pub fn too_many_subscriptions(limit: usize) -> Value {
    json!({
        "message": format!("Too many subscriptions on this connection (the limit is {limit})."),
        "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ClientMessage;

    #[test]
    fn messages_are_compact_json() {
        assert_eq!(connection_ack(None), r#"{"type":"connection_ack"}"#);
        assert_eq!(connection_ack(Some(&json!({"a": 1}))), r#"{"type":"connection_ack","payload":{"a":1}}"#);
        assert_eq!(pong(None), r#"{"type":"pong"}"#);
        let ClientMessage::Ping { payload } = ClientMessage::parse(r#"{"type":"ping","payload":{"x":[1]}}"#).unwrap()
        else {
            panic!("a ping")
        };
        assert_eq!(pong(payload.as_ref()), r#"{"type":"pong","payload":{"x":[1]}}"#);
        let error = error("a\"b", &[json!({"message": "m"})]);
        assert_eq!(error, r#"{"id":"a\"b","type":"error","payload":[{"message":"m"}]}"#);
    }
}
