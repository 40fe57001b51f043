//! How an event is written on the bus: one JSON object.
//!
//! `{"p":"<publisher id>","s":<seq>,"t":"<event type>","c":"<channel>","d":<data>,
//! "tn":"<tenant>","u":"<user>","g":true}`; `tn`, `u` and `g` only when set. Events written by
//! the database itself (a change trigger) have no `p`/`s`.

use serde_json::{Map, Value};

/// An event as it crosses processes.
#[derive(Debug, Clone, PartialEq)]
pub struct BusEvent {
    pub event_type: String,
    pub channel: String,
    /// The value of the subscription's root field (usually an object).
    pub data: Value,
    pub tenant: Option<String>,
    pub user: Option<String>,
    /// Visible to every tenant.
    pub global: bool,
}

/// An event read from the bus, with the publisher and sequence number it was written with.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Envelope {
    pub(crate) origin: Option<(u64, u64)>,
    pub(crate) event: BusEvent,
}

pub(crate) fn encode(event: &BusEvent, publisher: u64, seq: u64) -> String {
    let mut object = Map::new();
    object.insert("p".to_owned(), Value::String(format!("{publisher:016x}")));
    object.insert("s".to_owned(), Value::from(seq));
    object.insert("t".to_owned(), Value::String(event.event_type.clone()));
    object.insert("c".to_owned(), Value::String(event.channel.clone()));
    object.insert("d".to_owned(), event.data.clone());
    if let Some(tenant) = &event.tenant {
        object.insert("tn".to_owned(), Value::String(tenant.clone()));
    }
    if let Some(user) = &event.user {
        object.insert("u".to_owned(), Value::String(user.clone()));
    }
    if event.global {
        object.insert("g".to_owned(), Value::Bool(true));
    }
    Value::Object(object).to_string()
}

/// Reads one event; `Err` says what is wrong with it (an event some other program wrote).
pub(crate) fn decode(text: &[u8]) -> Result<Envelope, String> {
    let value: Value = serde_json::from_slice(text).map_err(|error| format!("not JSON: {error}"))?;
    let Value::Object(mut object) = value else { return Err("not a JSON object".to_owned()) };
    let text_field = |object: &mut Map<String, Value>, key: &str| -> Result<Option<String>, String> {
        match object.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(format!("\"{key}\" is not a string")),
        }
    };
    // A tenant or user id may be written as a number by SQL: the engine treats `7` and `"7"` as
    // the same id.
    let id_field = |object: &mut Map<String, Value>, key: &str| -> Result<Option<String>, String> {
        match object.remove(key) {
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => text_field(&mut Map::from_iter([(key.to_owned(), other)]), key),
            None => Ok(None),
        }
    };
    let channel = text_field(&mut object, "c")?.ok_or("no channel (\"c\")")?;
    let event_type = text_field(&mut object, "t")?.unwrap_or_else(|| channel.clone());
    let origin = match (object.get("p").and_then(Value::as_str), object.get("s").and_then(Value::as_u64)) {
        (Some(publisher), Some(seq)) => {
            Some((u64::from_str_radix(publisher, 16).map_err(|_| "\"p\" is not a publisher id")?, seq))
        }
        _ => None,
    };
    Ok(Envelope {
        origin,
        event: BusEvent {
            event_type,
            data: object.remove("d").unwrap_or(Value::Null),
            tenant: id_field(&mut object, "tn")?,
            user: id_field(&mut object, "u")?,
            global: matches!(object.get("g"), Some(Value::Bool(true))),
            channel,
        },
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn round_trips_with_origin_and_scope() {
        let event = BusEvent {
            event_type: "added".into(),
            channel: "room:1".into(),
            data: json!({"id": 1, "text": "é\u{2028}"}),
            tenant: Some("t1".into()),
            user: None,
            global: true,
        };
        let text = encode(&event, 0xabc, 7);
        assert_eq!(decode(text.as_bytes()).unwrap(), Envelope { origin: Some((0xabc, 7)), event });
    }

    #[test]
    fn reads_what_a_database_trigger_writes() {
        let text = br#"{"t":"INSERT","c":"orders","d":{"id":3,"tenant_id":5},"tn":5}"#;
        let envelope = decode(text).unwrap();
        assert_eq!(envelope.origin, None);
        assert_eq!(envelope.event.tenant.as_deref(), Some("5"));
        assert_eq!(envelope.event.event_type, "INSERT");
    }

    #[test]
    fn refuses_what_is_not_an_event() {
        assert!(decode(b"[1]").unwrap_err().contains("not a JSON object"));
        assert!(decode(b"{\"d\":1}").unwrap_err().contains("no channel"));
        assert!(decode(b"{\"c\":1}").unwrap_err().contains("not a string"));
        assert!(decode(b"nope").unwrap_err().contains("not JSON"));
    }
}
