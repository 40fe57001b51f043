//! Client messages: parsing and validation with the rules and reason texts of the Python
//! handler (`_dispatch`, `_on_subscribe`, `_optional_object`). Each failure is the reason of a
//! 4400 close.
//!
//! One difference comes from the JSON reader: serde_json refuses a number out of range (`1e400`)
//! and nesting deeper than 128 wherever they are, where Python reads them and refuses them only
//! where they cannot be used; the reasons are the same ("a number out of range", "nested too
//! deeply").

use serde_json::{Map, Value};

pub type JsonObject = Map<String, Value>;

/// What a `subscribe` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribePayload {
    pub query: String,
    pub operation_name: Option<String>,
    pub variables: Option<JsonObject>,
    pub extensions: Option<JsonObject>,
}

/// A valid client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    ConnectionInit { payload: Option<JsonObject> },
    Ping { payload: Option<JsonObject> },
    Pong,
    Subscribe { id: String, payload: SubscribePayload },
    Complete { id: String },
}

/// Why a message was refused: the reason of its 4400 close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub &'static str);

const NOT_JSON: BadRequest = BadRequest("Invalid message received: not JSON");
const TOO_DEEP: BadRequest = BadRequest("Invalid message received: nested too deeply");
const OUT_OF_RANGE: BadRequest = BadRequest("Invalid message received: a number out of range");
const NOT_AN_OBJECT: BadRequest = BadRequest("Invalid message received: not a JSON object");
const BAD_TYPE: BadRequest = BadRequest("Invalid message received: unknown or missing type");
const BAD_ID: BadRequest = BadRequest("Invalid message received: \"id\" must be a non-empty string");
const BAD_PAYLOAD: BadRequest = BadRequest("Invalid message received: \"payload\" must be an object");
const BAD_QUERY: BadRequest = BadRequest("Invalid message received: \"payload.query\" must be a string");
const BAD_OPERATION_NAME: BadRequest =
    BadRequest("Invalid message received: \"payload.operationName\" must be a string");
const BAD_VARIABLES: BadRequest = BadRequest("Invalid message received: \"payload.variables\" must be an object");
const BAD_EXTENSIONS: BadRequest = BadRequest("Invalid message received: \"payload.extensions\" must be an object");

impl ClientMessage {
    pub fn parse(text: &str) -> Result<Self, BadRequest> {
        let value: Value = serde_json::from_str(text).map_err(|error| json_error(&error))?;
        let Value::Object(mut message) = value else { return Err(NOT_AN_OBJECT) };
        let message_type = match message.get("type") {
            Some(Value::String(message_type)) => message_type.as_str(),
            _ => return Err(BAD_TYPE),
        };
        match message_type {
            "connection_init" => Ok(Self::ConnectionInit { payload: optional_object(&mut message, "payload")? }),
            "ping" => Ok(Self::Ping { payload: optional_object(&mut message, "payload")? }),
            "pong" => {
                optional_object(&mut message, "payload")?;
                Ok(Self::Pong)
            }
            "subscribe" => subscribe(message),
            "complete" => Ok(Self::Complete { id: id(&mut message)? }),
            _ => Err(BAD_TYPE),
        }
    }
}

fn json_error(error: &serde_json::Error) -> BadRequest {
    let text = error.to_string();
    if text.starts_with("recursion limit exceeded") {
        TOO_DEEP
    } else if text.starts_with("number out of range") {
        OUT_OF_RANGE
    } else {
        NOT_JSON
    }
}

fn id(message: &mut JsonObject) -> Result<String, BadRequest> {
    match message.remove("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(BAD_ID),
    }
}

/// An object or null/absent ("payload" of init, ping and pong).
fn optional_object(message: &mut JsonObject, key: &str) -> Result<Option<JsonObject>, BadRequest> {
    match message.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(BAD_PAYLOAD),
    }
}

fn subscribe(mut message: JsonObject) -> Result<ClientMessage, BadRequest> {
    let id = id(&mut message)?;
    let Some(Value::Object(mut payload)) = message.remove("payload") else { return Err(BAD_PAYLOAD) };
    let Some(Value::String(query)) = payload.remove("query") else { return Err(BAD_QUERY) };
    let operation_name = match payload.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(BAD_OPERATION_NAME),
    };
    let variables = object_or_null(payload.remove("variables"), BAD_VARIABLES)?;
    let extensions = object_or_null(payload.remove("extensions"), BAD_EXTENSIONS)?;
    Ok(ClientMessage::Subscribe { id, payload: SubscribePayload { query, operation_name, variables, extensions } })
}

fn object_or_null(value: Option<Value>, refusal: BadRequest) -> Result<Option<JsonObject>, BadRequest> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(object)) => Ok(Some(object)),
        Some(_) => Err(refusal),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused(text: &str) -> &'static str {
        ClientMessage::parse(text).expect_err(text).0
    }

    #[test]
    fn every_message_type_parses() {
        assert_eq!(
            ClientMessage::parse(r#"{"type":"connection_init"}"#),
            Ok(ClientMessage::ConnectionInit { payload: None })
        );
        let init = ClientMessage::parse(r#"{"type":"connection_init","payload":{"token":"t"}}"#).unwrap();
        assert_eq!(init, ClientMessage::ConnectionInit { payload: json!({"token": "t"}).as_object().cloned() });
        assert_eq!(
            ClientMessage::parse(r#"{"type":"ping","payload":null}"#),
            Ok(ClientMessage::Ping { payload: None })
        );
        assert_eq!(ClientMessage::parse(r#"{"type":"pong","payload":{}}"#), Ok(ClientMessage::Pong));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"complete","id":"1"}"#),
            Ok(ClientMessage::Complete { id: "1".into() })
        );
        let subscribe = ClientMessage::parse(
            r#"{"type":"subscribe","id":"a","payload":{"query":"subscription { x }","operationName":null,"variables":{"v":1}}}"#,
        )
        .unwrap();
        assert_eq!(
            subscribe,
            ClientMessage::Subscribe {
                id: "a".into(),
                payload: SubscribePayload {
                    query: "subscription { x }".into(),
                    operation_name: None,
                    variables: json!({"v": 1}).as_object().cloned(),
                    extensions: None,
                },
            }
        );
    }

    #[test]
    fn malformed_messages_are_refused_with_the_python_reasons() {
        assert_eq!(refused("{"), "Invalid message received: not JSON");
        assert_eq!(refused(r#"{"type":"ping","payload":{"x":NaN}}"#), "Invalid message received: not JSON");
        assert_eq!(refused(r#"{"type":"ping","payload":{"x":Infinity}}"#), "Invalid message received: not JSON");
        assert_eq!(
            refused(r#"{"type":"ping","payload":{"x":1e400}}"#),
            "Invalid message received: a number out of range"
        );
        assert_eq!(
            refused(&format!("{}{}", "[".repeat(200), "]".repeat(200))),
            "Invalid message received: nested too deeply"
        );
        assert_eq!(refused("[]"), "Invalid message received: not a JSON object");
        assert_eq!(refused("{}"), "Invalid message received: unknown or missing type");
        assert_eq!(refused(r#"{"type":1}"#), "Invalid message received: unknown or missing type");
        assert_eq!(refused(r#"{"type":"next"}"#), "Invalid message received: unknown or missing type");
        assert_eq!(
            refused(r#"{"type":"connection_init","payload":[]}"#),
            "Invalid message received: \"payload\" must be an object"
        );
        assert_eq!(
            refused(r#"{"type":"pong","payload":"x"}"#),
            "Invalid message received: \"payload\" must be an object"
        );
    }

    #[test]
    fn subscribe_fields_are_checked_in_order() {
        let cases = [
            (r#"{"type":"subscribe","payload":{"query":"q"}}"#, "\"id\" must be a non-empty string"),
            (r#"{"type":"subscribe","id":"","payload":{"query":"q"}}"#, "\"id\" must be a non-empty string"),
            (r#"{"type":"subscribe","id":1,"payload":{"query":"q"}}"#, "\"id\" must be a non-empty string"),
            (r#"{"type":"subscribe","id":"a","payload":null}"#, "\"payload\" must be an object"),
            (r#"{"type":"subscribe","id":"a","payload":{}}"#, "\"payload.query\" must be a string"),
            (
                r#"{"type":"subscribe","id":"a","payload":{"query":"q","operationName":1}}"#,
                "\"payload.operationName\" must be a string",
            ),
            (
                r#"{"type":"subscribe","id":"a","payload":{"query":"q","variables":[]}}"#,
                "\"payload.variables\" must be an object",
            ),
            (
                r#"{"type":"subscribe","id":"a","payload":{"query":"q","extensions":"x"}}"#,
                "\"payload.extensions\" must be an object",
            ),
            (r#"{"type":"complete"}"#, "\"id\" must be a non-empty string"),
        ];
        for (text, reason) in cases {
            assert_eq!(refused(text), format!("Invalid message received: {reason}"), "{text}");
        }
    }
}
