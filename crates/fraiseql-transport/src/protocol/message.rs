//! Client messages: parsing and validation with the rules and reason texts of the Python
//! handler (`_dispatch`, `_on_subscribe`, `_optional_object`). Each failure is the reason of a
//! 4400 close.
//!
//! JSON is read as Python's `json.loads` reads it: a message is refused only for what Python
//! refuses while parsing (invalid JSON, an integer of more than 4,300 digits) or where a value
//! is used (a ping payload holding a number out of range cannot be echoed: "a number out of
//! range"). What the core only passes on (the `connection_init` payload, `variables`,
//! `extensions`, unknown fields) is kept as the client's JSON text ([`RawJson`]): integers beyond
//! 64 bits, `1e400` and lone surrogates (`"\ud800"`) reach the host as sent, and it decides, as
//! the Python handler does. Strings the core reads (`type`, `id`, `query`, `operationName`) may
//! hold lone surrogates too ([`JsonString`]). One difference remains: nesting 512 levels deep is
//! refused anywhere in a message ("nested too deeply"), where Python's limit is its recursion
//! limit (about 1,000).

use serde::de::IgnoredAny;
use serde_json::{Map, Value};

pub type JsonObject = Map<String, Value>;

/// Nesting this deep is refused ("nested too deeply"). Python's own limit is its recursion
/// limit (about 1,000 levels, less the stack in use): this stays well below it, so the
/// payloads Python reads again (`json.loads`) never hit it.
const MAX_DEPTH: usize = 512;
/// Python refuses to read integers of more digits than this (`sys.get_int_max_str_digits()`).
const MAX_INT_DIGITS: usize = 4300;

/// One JSON value as the client sent it (valid JSON, without surrounding whitespace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawJson(Box<str>);

impl RawJson {
    /// `text` must be one valid JSON value.
    pub(crate) fn new(text: &str) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As a serde_json value: `None` where serde_json cannot read it (a lone surrogate, a
    /// number out of range); integers beyond 64 bits become floats.
    pub fn to_value(&self) -> Option<Value> {
        serde_json::from_str(&self.0).ok()
    }

    /// [`RawJson::to_value`] of an object.
    pub fn to_object(&self) -> Option<JsonObject> {
        match self.to_value()? {
            Value::Object(object) => Some(object),
            _ => None,
        }
    }
}

/// A JSON string of the client: Unicode text, or (with lone surrogates, which JSON can carry
/// and Rust strings cannot) its JSON literal as sent, quotes included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonString {
    Text(String),
    NotUnicode(RawJson),
}

impl JsonString {
    /// `literal` must be a valid JSON string literal.
    fn from_literal(literal: &str) -> Self {
        if !literal.contains('\\') {
            return Self::Text(literal[1..literal.len() - 1].to_owned());
        }
        match serde_json::from_str(literal) {
            Ok(text) => Self::Text(text),
            Err(_) => Self::NotUnicode(RawJson::new(literal)),
        }
    }

    /// The text, if it is Unicode text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::NotUnicode(_) => None,
        }
    }

    /// The JSON string literal.
    pub fn to_json(&self) -> String {
        match self {
            Self::Text(text) => Value::from(text.as_str()).to_string(),
            Self::NotUnicode(literal) => literal.as_str().to_owned(),
        }
    }

    fn is_empty(&self) -> bool {
        matches!(self, Self::Text(text) if text.is_empty())
    }
}

impl PartialEq<str> for JsonString {
    fn eq(&self, other: &str) -> bool {
        self.as_text() == Some(other)
    }
}

impl PartialEq<&str> for JsonString {
    fn eq(&self, other: &&str) -> bool {
        self.as_text() == Some(*other)
    }
}

/// What a `subscribe` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribePayload {
    pub query: JsonString,
    pub operation_name: Option<JsonString>,
    /// A JSON object, as sent.
    pub variables: Option<RawJson>,
    /// A JSON object, as sent.
    pub extensions: Option<RawJson>,
}

/// A valid client message.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// `payload`: a JSON object, as sent.
    ConnectionInit {
        payload: Option<RawJson>,
    },
    /// `payload`: a JSON object, as sent (the pong echoes it).
    Ping {
        payload: Option<RawJson>,
    },
    Pong,
    /// `id`: not Unicode text is possible (the host decides, as the Python handler does).
    Subscribe {
        id: JsonString,
        payload: SubscribePayload,
    },
    /// `id: None`: an id that is not Unicode text, so no subscription's (ignored, as an unknown
    /// id).
    Complete {
        id: Option<String>,
    },
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
        // The syntax (serde_json skips values without reading them: no depth, range or Unicode
        // checks), then what Python refuses while reading.
        if let Some(at) = too_deep_at(text) {
            // As Python, which reads in order: too deep unless invalid before that point.
            return Err(match serde_json::from_str::<IgnoredAny>(&text[..at]) {
                Err(error) if error.is_eof() => TOO_DEEP,
                _ => NOT_JSON,
            });
        }
        serde_json::from_str::<IgnoredAny>(text).map_err(|_| NOT_JSON)?;
        let mut scan = Scan::new(text);
        scan.skip_value(0)?;
        let Some(message) = Members::of(text.trim_matches(JSON_WHITESPACE)) else { return Err(NOT_AN_OBJECT) };
        let message_type = match message.get("type") {
            Some(raw) if raw.starts_with('"') => JsonString::from_literal(raw),
            _ => return Err(BAD_TYPE),
        };
        match message_type.as_text().unwrap_or_default() {
            "connection_init" => Ok(Self::ConnectionInit { payload: optional_object(&message, "payload")? }),
            "ping" => {
                let payload = optional_object(&message, "payload")?;
                // The pong echoes the payload: Python cannot write back a number it read as
                // infinity.
                if payload.as_ref().is_some_and(|payload| has_infinite_number(payload.as_str())) {
                    return Err(OUT_OF_RANGE);
                }
                Ok(Self::Ping { payload })
            }
            "pong" => {
                optional_object(&message, "payload")?;
                Ok(Self::Pong)
            }
            "subscribe" => subscribe(&message),
            "complete" => match id(&message)? {
                JsonString::Text(id) => Ok(Self::Complete { id: Some(id) }),
                JsonString::NotUnicode(_) => Ok(Self::Complete { id: None }),
            },
            _ => Err(BAD_TYPE),
        }
    }
}

const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// The members of a JSON object: decoded key (`None`: not Unicode text), value as sent.
struct Members<'a>(Vec<(Option<String>, &'a str)>);

impl<'a> Members<'a> {
    /// The members of `raw`, one valid JSON value; `None` if it is not an object.
    fn of(raw: &'a str) -> Option<Self> {
        if !raw.starts_with('{') {
            return None;
        }
        let mut scan = Scan::new(raw);
        let mut members = Vec::new();
        scan.pos = 1;
        loop {
            scan.skip_whitespace();
            match scan.peek() {
                b'}' => break,
                b',' => {
                    scan.pos += 1;
                    continue;
                }
                _ => {}
            }
            let key = scan.skip_string();
            scan.skip_whitespace();
            scan.pos += 1; // ':'
            scan.skip_whitespace();
            let start = scan.pos;
            // Already checked: never fails.
            let _ = scan.skip_value(0);
            let key = match JsonString::from_literal(&raw[key.0..key.1]) {
                JsonString::Text(key) => Some(key),
                JsonString::NotUnicode(_) => None,
            };
            members.push((key, &raw[start..scan.pos]));
        }
        Some(Self(members))
    }

    /// The value of `key` (the last one, as in Python, if it is repeated).
    fn get(&self, key: &str) -> Option<&'a str> {
        self.0.iter().rev().find(|(name, _)| name.as_deref() == Some(key)).map(|(_, value)| *value)
    }
}

/// A walk over text already known to be valid JSON.
struct Scan<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn new(text: &'a str) -> Self {
        Self { bytes: text.as_bytes(), pos: 0 }
    }

    fn peek(&self) -> u8 {
        self.bytes.get(self.pos).copied().unwrap_or(0)
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
    }

    /// Skips a string literal; returns its span, quotes included.
    fn skip_string(&mut self) -> (usize, usize) {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                b'"' => break,
                b'\\' => self.pos += 2,
                _ => self.pos += 1,
            }
        }
        self.pos += 1;
        (start, self.pos)
    }

    /// Skips one value at nesting `depth`: `TOO_DEEP` past [`MAX_DEPTH`], `NOT_JSON` for an
    /// integer Python will not read.
    fn skip_value(&mut self, depth: usize) -> Result<(), BadRequest> {
        self.skip_whitespace();
        match self.peek() {
            open @ (b'{' | b'[') => {
                if depth + 1 >= MAX_DEPTH {
                    return Err(TOO_DEEP);
                }
                let close = if open == b'{' { b'}' } else { b']' };
                self.pos += 1;
                loop {
                    self.skip_whitespace();
                    match self.peek() {
                        byte if byte == close => break,
                        b',' | b':' => self.pos += 1,
                        _ => self.skip_value(depth + 1)?,
                    }
                }
                self.pos += 1;
            }
            b'"' => {
                self.skip_string();
            }
            b'-' | b'0'..=b'9' => {
                self.pos += usize::from(self.peek() == b'-');
                let digits = self.pos;
                while self.peek().is_ascii_digit() {
                    self.pos += 1;
                }
                let integer_digits = self.pos - digits;
                let mut integer = true;
                while matches!(self.peek(), b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    integer = false;
                    self.pos += 1;
                }
                if integer && integer_digits > MAX_INT_DIGITS {
                    return Err(NOT_JSON);
                }
            }
            // true, false, null
            _ => {
                while self.peek().is_ascii_alphabetic() {
                    self.pos += 1;
                }
            }
        }
        Ok(())
    }
}

/// Where (if anywhere) a bracket opens the [`MAX_DEPTH`]th level of nesting, in any text.
fn too_deep_at(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, byte) in text.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth >= MAX_DEPTH {
                    return Some(at);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Whether valid JSON `raw` holds a number Python reads as infinity (`1e400`): integers never
/// are (Python's are unbounded).
fn has_infinite_number(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut pos = 0;
    while pos < bytes.len() {
        match bytes[pos] {
            b'"' => {
                let mut scan = Scan { bytes, pos };
                scan.skip_string();
                pos = scan.pos;
            }
            b'-' | b'0'..=b'9' => {
                let start = pos;
                while pos < bytes.len() && matches!(bytes[pos], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
                    pos += 1;
                }
                let number = &raw[start..pos];
                if number.contains(['.', 'e', 'E']) && number.parse::<f64>().is_ok_and(f64::is_infinite) {
                    return true;
                }
            }
            _ => pos += 1,
        }
    }
    false
}

fn id(message: &Members<'_>) -> Result<JsonString, BadRequest> {
    match message.get("id") {
        Some(raw) if raw.starts_with('"') => {
            let id = JsonString::from_literal(raw);
            if id.is_empty() {
                Err(BAD_ID)
            } else {
                Ok(id)
            }
        }
        _ => Err(BAD_ID),
    }
}

fn is_null(raw: Option<&str>) -> bool {
    raw.is_none_or(|raw| raw == "null")
}

/// An object or null/absent (`refusal` otherwise).
fn object_or_null(raw: Option<&str>, refusal: BadRequest) -> Result<Option<RawJson>, BadRequest> {
    match raw {
        _ if is_null(raw) => Ok(None),
        Some(raw) if raw.starts_with('{') => Ok(Some(RawJson::new(raw))),
        _ => Err(refusal),
    }
}

/// An object or null/absent ("payload" of init, ping and pong).
fn optional_object(message: &Members<'_>, key: &str) -> Result<Option<RawJson>, BadRequest> {
    object_or_null(message.get(key), BAD_PAYLOAD)
}

fn subscribe(message: &Members<'_>) -> Result<ClientMessage, BadRequest> {
    let id = id(message)?;
    let Some(payload) = message.get("payload").and_then(Members::of) else { return Err(BAD_PAYLOAD) };
    let query = match payload.get("query") {
        Some(raw) if raw.starts_with('"') => JsonString::from_literal(raw),
        _ => return Err(BAD_QUERY),
    };
    let operation_name = match payload.get("operationName") {
        raw if is_null(raw) => None,
        Some(raw) if raw.starts_with('"') => Some(JsonString::from_literal(raw)),
        _ => return Err(BAD_OPERATION_NAME),
    };
    let variables = object_or_null(payload.get("variables"), BAD_VARIABLES)?;
    let extensions = object_or_null(payload.get("extensions"), BAD_EXTENSIONS)?;
    Ok(ClientMessage::Subscribe { id, payload: SubscribePayload { query, operation_name, variables, extensions } })
}

#[cfg(test)]
mod tests {
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
        assert_eq!(init, ClientMessage::ConnectionInit { payload: Some(RawJson::new(r#"{"token":"t"}"#)) });
        assert_eq!(
            ClientMessage::parse(r#"{"type":"ping","payload":null}"#),
            Ok(ClientMessage::Ping { payload: None })
        );
        assert_eq!(ClientMessage::parse(r#"{"type":"pong","payload":{}}"#), Ok(ClientMessage::Pong));
        assert_eq!(
            ClientMessage::parse(r#"{"type":"complete","id":"1"}"#),
            Ok(ClientMessage::Complete { id: Some("1".into()) })
        );
        let subscribe = ClientMessage::parse(
            r#"{"type":"subscribe","id":"a","payload":{"query":"subscription { x }","operationName":null,"variables":{"v":1}}}"#,
        )
        .unwrap();
        assert_eq!(
            subscribe,
            ClientMessage::Subscribe {
                id: JsonString::Text("a".into()),
                payload: SubscribePayload {
                    query: JsonString::Text("subscription { x }".into()),
                    operation_name: None,
                    variables: Some(RawJson::new(r#"{"v":1}"#)),
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
            refused(r#"{"type":"ping","payload":{"x":[-1E+999]}}"#),
            "Invalid message received: a number out of range"
        );
        assert_eq!(
            refused(&format!(r#"{{"type":"ping","x":{}}}"#, "9".repeat(4301))),
            "Invalid message received: not JSON"
        );
        assert_eq!(
            refused(&format!("{}{}", "[".repeat(600), "]".repeat(600))),
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
    fn json_is_read_as_python_reads_it() {
        // Values the core only passes on stay as sent: big integers, 1e400, lone surrogates.
        let text = r#"{"type":"subscribe","id":"a","payload":{"query":"q \ud800","operationName":"\udfff","variables":{"x":100000000000000000000,"y":-1e400,"z":"\ud800"},"extensions":{"e":1e400}},"extra":1e400}"#;
        let ClientMessage::Subscribe { id, payload } = ClientMessage::parse(text).unwrap() else { panic!("{text}") };
        assert_eq!(id, "a");
        assert_eq!(payload.query, JsonString::NotUnicode(RawJson::new(r#""q \ud800""#)));
        assert_eq!(payload.operation_name.unwrap().to_json(), r#""\udfff""#);
        assert_eq!(payload.variables.unwrap().as_str(), r#"{"x":100000000000000000000,"y":-1e400,"z":"\ud800"}"#);
        let init = ClientMessage::parse(r#"{"type":"connection_init","payload":{"t":"\ud800","n":1e400}}"#).unwrap();
        assert_eq!(init, ClientMessage::ConnectionInit { payload: Some(RawJson::new(r#"{"t":"\ud800","n":1e400}"#)) });
        // A pong echoes big integers and lone surrogates as sent.
        let ping = r#"{"type":"ping","payload":{"n":123456789012345678901234567890,"s":"\ud800","f":1e308}}"#;
        let ClientMessage::Ping { payload: Some(payload) } = ClientMessage::parse(ping).unwrap() else { panic!() };
        assert_eq!(payload.as_str(), r#"{"n":123456789012345678901234567890,"s":"\ud800","f":1e308}"#);
        // Escaped and repeated keys: decoded, the last one counts.
        assert_eq!(
            ClientMessage::parse(r#" {"type":"x", "\u0074ype" : "complete", "\ud800":1, "id":"\u0031"} "#),
            Ok(ClientMessage::Complete { id: Some("1".into()) })
        );
        // A complete for an id that is not Unicode text is no subscription's.
        assert_eq!(
            ClientMessage::parse(r#"{"type":"complete","id":"\ud800"}"#),
            Ok(ClientMessage::Complete { id: None })
        );
        assert_eq!(refused(r#"{"type":"\ud800"}"#), "Invalid message received: unknown or missing type");
        let subscribe = ClientMessage::parse(r#"{"type":"subscribe","id":"\ud800","payload":{"query":"q"}}"#).unwrap();
        assert!(matches!(subscribe, ClientMessage::Subscribe { id: JsonString::NotUnicode(_), .. }));
        let deep = format!(r#"{{"type":"ping","x":{}{}}}"#, "[".repeat(510), "]".repeat(510));
        assert_eq!(ClientMessage::parse(&deep), Ok(ClientMessage::Ping { payload: None }));
        let deeper = format!(r#"{{"type":"ping","x":{}{}}}"#, "[".repeat(511), "]".repeat(511));
        assert_eq!(refused(&deeper), "Invalid message received: nested too deeply");
        assert_eq!(refused(&"[".repeat(1000)), "Invalid message received: nested too deeply");
        assert_eq!(refused(&format!("{{x{}", "[".repeat(1000))), "Invalid message received: not JSON");
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
