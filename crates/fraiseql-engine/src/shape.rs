//! Shaping a result to a subscription's selection set while serializing it, in one pass and
//! without building an intermediate value. This runs once per event and group.

use serde_json::Value;

use crate::document::{FieldShape, LeafKind, ObjectPlan, OutputType, ScalarFormat, ShapePlan, TypedField};
use crate::error::{GraphQLError, PathSegment};

/// Writes the `next` payload `{"data":{"<root key>":<shaped value>}}` for `root_value`.
pub fn write_next_payload(plan: &ShapePlan, root_value: &Value, out: &mut Vec<u8>) {
    if let Some(root) = &plan.root_typed {
        write_typed_payload(plan, root, root_value, out);
        return;
    }
    out.extend_from_slice(&plan.data_head);
    write_shaped(plan.root_selection.as_ref(), root_value, out);
    out.extend_from_slice(b"}}");
}

/// The `next` payload as bytes.
pub fn next_payload(plan: &ShapePlan, root_value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    write_next_payload(plan, root_value, &mut out);
    out
}

/// The `next` payload of an event whose root field failed (its resolver raised, timed out or
/// returned something unusable): `errors` holds `error`, and `data` is what null propagation
/// leaves, `{"<root key>":null}`, or `null` when the schema declares the root field non-null.
/// This is the specification's ExecuteSubscriptionEvent with a field error.
pub fn field_error_payload(plan: &ShapePlan, error: &GraphQLError) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    if plan.root_is_non_null() {
        out.extend_from_slice(b"{\"data\":null");
    } else {
        out.extend_from_slice(&plan.data_head);
        out.extend_from_slice(b"null}");
    }
    out.extend_from_slice(b",\"errors\":");
    out.extend_from_slice(&error_payload(std::slice::from_ref(error)));
    out.push(b'}');
    out
}

/// The payload of an `error` message: a JSON array of GraphQL formatted errors.
pub fn error_payload(errors: &[GraphQLError]) -> Vec<u8> {
    let array = Value::Array(errors.iter().map(GraphQLError::to_json).collect());
    serde_json::to_vec(&array).unwrap_or_else(|_| b"[{\"message\":\"Internal error\"}]".to_vec())
}

fn write_shaped(selection: Option<&ObjectPlan>, value: &Value, out: &mut Vec<u8>) {
    let Some(plan) = selection else {
        write_json(value, out);
        return;
    };
    match value {
        Value::Object(object) => {
            let fields = fields_for(plan, value);
            out.push(b'{');
            for (index, field) in fields.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(&field.key_json);
                if &*field.name == "__typename" {
                    match object.get("__typename") {
                        Some(name @ Value::String(_)) => write_json(name, out),
                        _ => out.extend_from_slice(b"null"),
                    }
                    continue;
                }
                match object.get(&*field.name) {
                    Some(child) => write_shaped(field.selection.as_ref(), child, out),
                    None => out.extend_from_slice(b"null"),
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_shaped(selection, item, out);
            }
            out.push(b']');
        }
        // A scalar where an object was selected cannot be shaped: it is null, never leaked raw.
        _ => out.extend_from_slice(b"null"),
    }
}

fn fields_for<'p>(plan: &'p ObjectPlan, value: &Value) -> &'p [FieldShape] {
    if plan.by_type.is_empty() {
        return &plan.untyped;
    }
    match value.get("__typename") {
        Some(Value::String(type_name)) => plan
            .by_type
            .iter()
            .find(|(name, _)| name.as_ref() == type_name.as_str())
            .map_or(&plan.other, |(_, fields)| fields),
        _ => &plan.untyped,
    }
}

/// A field error was recorded; the nearest nullable parent becomes `null`.
struct Null;

/// A response path element, borrowed from the plan: turned into owned segments only when an
/// error is reported, so a clean event allocates nothing for paths.
#[derive(Clone, Copy)]
enum PathRef<'p> {
    Field(&'p str),
    Index(usize),
}

struct Completion<'p> {
    errors: Vec<GraphQLError>,
    path: Vec<PathRef<'p>>,
}

impl Completion<'_> {
    fn error(&mut self, message: String, field: &TypedField) -> Null {
        let path = self
            .path
            .iter()
            .map(|segment| match segment {
                PathRef::Field(name) => PathSegment::Field((*name).to_owned()),
                PathRef::Index(index) => PathSegment::Index(*index),
            })
            .collect();
        let mut error = GraphQLError::new(message).with_path(path);
        error.locations.extend(field.location);
        self.errors.push(error);
        Null
    }
}

/// With a schema: the specification's CompleteValue over the whole result, written in one
/// pass. A field error writes `null` at the nearest nullable position (truncating what was
/// written below it) and is reported in `errors` with its path.
fn write_typed_payload(plan: &ShapePlan, root: &TypedField, value: &Value, out: &mut Vec<u8>) {
    let start = out.len();
    let mut completion = Completion { errors: Vec::new(), path: vec![PathRef::Field(&root.response_key)] };
    out.extend_from_slice(&plan.data_head);
    match complete(&root.output, plan.root_selection.as_ref(), Some(value), root, out, &mut completion) {
        Ok(()) => out.push(b'}'),
        Err(Null) => {
            out.truncate(start);
            out.extend_from_slice(b"{\"data\":null");
        }
    }
    if !completion.errors.is_empty() {
        out.extend_from_slice(b",\"errors\":");
        out.extend_from_slice(&error_payload(&completion.errors));
    }
    out.push(b'}');
}

fn complete<'p>(
    ty: &OutputType,
    selection: Option<&'p ObjectPlan>,
    value: Option<&Value>,
    field: &TypedField,
    out: &mut Vec<u8>,
    completion: &mut Completion<'p>,
) -> Result<(), Null> {
    let value = value.filter(|value| !value.is_null());
    if let OutputType::NonNull(inner) = ty {
        let Some(value) = value else {
            let message = format!("Cannot return null for non-nullable field {}.{}.", field.parent, field.name);
            return Err(completion.error(message, field));
        };
        return complete_value(inner, selection, value, field, out, completion);
    }
    let Some(value) = value else {
        out.extend_from_slice(b"null");
        return Ok(());
    };
    let start = out.len();
    if complete_value(ty, selection, value, field, out, completion).is_err() {
        out.truncate(start);
        out.extend_from_slice(b"null");
    }
    Ok(())
}

fn complete_value<'p>(
    ty: &OutputType,
    selection: Option<&'p ObjectPlan>,
    value: &Value,
    field: &TypedField,
    out: &mut Vec<u8>,
    completion: &mut Completion<'p>,
) -> Result<(), Null> {
    match ty {
        OutputType::NonNull(inner) => complete(inner, selection, Some(value), field, out, completion),
        OutputType::List(item_type) => {
            let Value::Array(items) = value else {
                let message =
                    format!("Expected Iterable, but did not find one for field '{}.{}'.", field.parent, field.name);
                return Err(completion.error(message, field));
            };
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                completion.path.push(PathRef::Index(index));
                let result = complete(item_type, selection, Some(item), field, out, completion);
                completion.path.pop();
                result?;
            }
            out.push(b']');
            Ok(())
        }
        OutputType::Leaf(kind) => serialize_leaf(kind, value, out).map_err(|message| completion.error(message, field)),
        OutputType::Composite => match selection {
            Some(plan) => complete_object(plan, value, field, out, completion),
            None => {
                write_json(value, out);
                Ok(())
            }
        },
    }
}

fn complete_object<'p>(
    plan: &'p ObjectPlan,
    value: &Value,
    field: &TypedField,
    out: &mut Vec<u8>,
    completion: &mut Completion<'p>,
) -> Result<(), Null> {
    let Some((named, is_abstract)) = &plan.typed else { return Err(Null) };
    let fields = if *is_abstract {
        let type_name = value.get("__typename").and_then(Value::as_str);
        match type_name.and_then(|name| plan.by_type.iter().find(|(possible, _)| possible.as_ref() == name)) {
            Some((_, fields)) => fields,
            None => {
                let message = match type_name {
                    None => format!(
                        "Abstract type '{named}' must resolve to an Object type at runtime for field '{}.{}'.",
                        field.parent, field.name
                    ),
                    Some(name) => format!("Runtime Object type '{name}' is not a possible type for '{named}'."),
                };
                return Err(completion.error(message, field));
            }
        }
    } else {
        match plan.by_type.first() {
            Some((_, fields)) => fields,
            None => return Err(Null),
        }
    };
    // A value that is not an object has none of the selected fields.
    let object = value.as_object();
    out.push(b'{');
    for (index, shape) in fields.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&shape.key_json);
        if let Some(literal) = &shape.typename_literal {
            out.extend_from_slice(literal);
            continue;
        }
        let Some(typed) = &shape.typed else {
            out.extend_from_slice(b"null");
            continue;
        };
        completion.path.push(PathRef::Field(&typed.response_key));
        let child = object.and_then(|object| object.get(&*shape.name));
        let result = complete(&typed.output, shape.selection.as_ref(), child, typed, out, completion);
        completion.path.pop();
        result?;
    }
    out.push(b'}');
    Ok(())
}

const MIN_INT: i64 = i32::MIN as i64;
const MAX_INT: i64 = i32::MAX as i64;

/// Result coercion of the built-in scalars and enums, as graphql-core does it for JSON values.
fn serialize_leaf(kind: &LeafKind, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    let shown = || serde_json::to_string(value).unwrap_or_default();
    match kind {
        LeafKind::Custom => {
            write_json(value, out);
            Ok(())
        }
        LeafKind::Formatted(format) => match value {
            Value::String(text) if format_matches(*format, text) => {
                write_json(value, out);
                Ok(())
            }
            _ => Err(format!("{} cannot represent value: {}", format.name(), shown())),
        },
        LeafKind::Int => {
            let number = match value {
                Value::Bool(flag) => Some(i64::from(*flag)),
                Value::Number(number) => match (number.as_i64(), number.as_f64()) {
                    (Some(int), _) => Some(int),
                    (None, Some(float)) if float.is_finite() && float.fract() == 0.0 && float.abs() < 9.0e15 => {
                        Some(float as i64)
                    }
                    _ if number.is_u64() => Some(i64::MAX),
                    _ => None,
                },
                Value::String(text) => parse_python_int(text),
                _ => None,
            };
            let Some(number) = number else {
                return Err(format!("Int cannot represent non-integer value: {}", shown()));
            };
            if !(MIN_INT..=MAX_INT).contains(&number) {
                return Err(format!("Int cannot represent non 32-bit signed integer value: {}", shown()));
            }
            out.extend_from_slice(number.to_string().as_bytes());
            Ok(())
        }
        LeafKind::Float => {
            let number = match value {
                Value::Bool(flag) => Some(f64::from(u8::from(*flag))),
                Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
                    (Some(int), _, _) => Some(int as f64).filter(|float| *float as i64 == int),
                    (None, Some(int), _) => Some(int as f64).filter(|float| *float as u64 == int),
                    (_, _, float) => float.filter(|float| float.is_finite()),
                },
                Value::String(text) => parse_python_float(text),
                _ => None,
            };
            let Some(number) = number else {
                return Err(format!("Float cannot represent non numeric value: {}", shown()));
            };
            write_json(&Value::from(number), out);
            Ok(())
        }
        LeafKind::String => {
            let text = match value {
                Value::String(_) => {
                    write_json(value, out);
                    return Ok(());
                }
                Value::Bool(flag) => flag.to_string(),
                Value::Number(number) => match number.as_f64() {
                    Some(float) if !(number.is_i64() || number.is_u64()) => python_float_repr(float),
                    _ => number.to_string(),
                },
                _ => return Err(format!("String cannot represent value: {}", shown())),
            };
            write_json(&Value::String(text), out);
            Ok(())
        }
        LeafKind::Boolean => {
            let flag = match value {
                Value::Bool(flag) => *flag,
                Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
                    (Some(int), _, _) => int != 0,
                    (None, Some(int), _) => int != 0,
                    (_, _, Some(float)) => float != 0.0,
                    _ => return Err(format!("Boolean cannot represent a non boolean value: {}", shown())),
                },
                _ => return Err(format!("Boolean cannot represent a non boolean value: {}", shown())),
            };
            out.extend_from_slice(if flag { b"true" } else { b"false" });
            Ok(())
        }
        LeafKind::Id => {
            let text = match value {
                Value::String(_) => {
                    write_json(value, out);
                    return Ok(());
                }
                Value::Number(number) if number.is_i64() || number.is_u64() => number.to_string(),
                Value::Number(number) => match number.as_f64() {
                    // Python's str(int(value)): the exact integer, "{:.0}" prints every digit.
                    Some(0.0) => "0".to_owned(),
                    Some(float) if float.is_finite() && float.fract() == 0.0 => format!("{float:.0}"),
                    _ => return Err(format!("ID cannot represent value: {}", shown())),
                },
                _ => return Err(format!("ID cannot represent value: {}", shown())),
            };
            write_json(&Value::String(text), out);
            Ok(())
        }
        LeafKind::Enum { name, values } => match value {
            Value::String(text) if values.iter().any(|declared| declared == text) => {
                write_json(value, out);
                Ok(())
            }
            _ => Err(format!("Enum '{name}' cannot represent value: {}", shown())),
        },
    }
}

/// Whether `text` is in the scalar's standard form (what Python's `isoformat()`/`str()` give).
fn format_matches(format: ScalarFormat, text: &str) -> bool {
    match format {
        ScalarFormat::Date => is_date(text),
        ScalarFormat::Time => is_time(text),
        ScalarFormat::DateTime => {
            text.len() > 11
                && matches!(text.as_bytes()[10], b'T' | b' ')
                && is_date(&text[..10])
                && is_time(&text[11..])
        }
        ScalarFormat::Uuid => {
            text.len() == 36
                && text.bytes().enumerate().all(|(i, b)| {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        b == b'-'
                    } else {
                        b.is_ascii_hexdigit()
                    }
                })
        }
        ScalarFormat::Decimal => {
            // Python's str(Decimal): digits with an optional point and exponent ("1E-7").
            let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
            let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
                Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
                None => (unsigned, None),
            };
            let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let mantissa_ok = match mantissa.split_once('.') {
                Some((whole, fraction)) => (whole.is_empty() || all_digits(whole)) && all_digits(fraction),
                None => all_digits(mantissa),
            };
            let exponent_ok = exponent.is_none_or(|e| all_digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
            mantissa_ok && exponent_ok
        }
    }
}

fn digits(text: &str, range: std::ops::Range<usize>) -> Option<u32> {
    let part = text.get(range)?;
    part.bytes().all(|b| b.is_ascii_digit()).then(|| part.parse().ok()).flatten()
}

/// `YYYY-MM-DD` with a real month and day.
fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return false;
    }
    let (Some(year), Some(month), Some(day)) = (digits(text, 0..4), digits(text, 5..7), digits(text, 8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// `HH:MM[:SS[.ffffff]]` with an optional `Z` or `±HH:MM` offset.
fn is_time(text: &str) -> bool {
    let (clock, offset) = match text.find(['Z', '+', '-']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    // ±HH:MM, or ±HH:MM:SS[.ffffff] as Python's isoformat() writes odd offsets.
    let offset_ok = match offset {
        "" | "Z" => true,
        _ => {
            let (hours_minutes, seconds) = offset.split_at(offset.len().min(6));
            hours_minutes.len() == 6
                && hours_minutes.as_bytes()[3] == b':'
                && digits(hours_minutes, 1..3).is_some_and(|h| h < 24)
                && digits(hours_minutes, 4..6).is_some_and(|m| m < 60)
                && (seconds.is_empty() || (seconds.starts_with(':') && is_time(&format!("00:00{seconds}"))))
        }
    };
    let (hms, fraction) = clock.split_once('.').map_or((clock, None), |(hms, fraction)| (hms, Some(fraction)));
    let fraction_ok = fraction.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    let hms_ok = match hms.len() {
        5 => hms.as_bytes()[2] == b':' && fraction.is_none(),
        8 => hms.as_bytes()[2] == b':' && hms.as_bytes()[5] == b':' && digits(hms, 6..8).is_some_and(|s| s < 60),
        _ => false,
    } && digits(hms, 0..2).is_some_and(|h| h < 24)
        && digits(hms, 3..5).is_some_and(|m| m < 60);
    offset_ok && fraction_ok && hms_ok
}

/// Python's `int(text)` for ASCII text: surrounding whitespace, a sign, `_` between digits.
fn parse_python_int(text: &str) -> Option<i64> {
    let digits = python_number_text(text.trim())?;
    digits.parse::<i64>().ok().or_else(|| {
        let (sign, magnitude) = digits.strip_prefix('-').map_or((1, digits.as_str()), |rest| (-1, rest));
        let magnitude = magnitude.strip_prefix('+').unwrap_or(magnitude);
        // Too large for i64 but a valid integer: out of Int's range either way.
        magnitude.bytes().all(|b| b.is_ascii_digit()).then_some(if sign < 0 { i64::MIN } else { i64::MAX })
    })
}

/// Python's `float(text)` for ASCII text, finite values only.
fn parse_python_float(text: &str) -> Option<f64> {
    let text = python_number_text(text.trim())?;
    let lowered = text.to_ascii_lowercase();
    if lowered.contains("inf") || lowered.contains("nan") {
        return None;
    }
    text.parse::<f64>().ok().filter(|float| float.is_finite())
}

/// Removes the `_` separators Python allows between digits; `None` when misplaced.
fn python_number_text(text: &str) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    let bytes = text.as_bytes();
    for (index, byte) in bytes.iter().enumerate() {
        if *byte == b'_' {
            let before = index.checked_sub(1).map(|i| bytes[i]);
            let after = bytes.get(index + 1);
            if !(before.is_some_and(|b| b.is_ascii_digit()) && after.is_some_and(u8::is_ascii_digit)) {
                return None;
            }
        }
    }
    Some(text.replace('_', ""))
}

/// Python's `str(float)`: shortest round-trip digits, exponent form outside [1e-4, 1e16).
fn python_float_repr(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0.0".to_owned() } else { "0.0".to_owned() };
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..16).contains(&exponent) {
        let fixed = value.to_string();
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    }
}

fn write_json(value: &Value, out: &mut Vec<u8>) {
    // Writing a `Value` into a Vec cannot fail: its keys are strings and its numbers finite.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::CompiledOperation;
    use serde_json::{json, Map};

    fn shaped(query: &str, variables: Value, value: Value) -> Value {
        let operation = CompiledOperation::compile(query, None).unwrap();
        let variables = variables.as_object().cloned().unwrap_or_default();
        let variables = operation.coerce_variables(&variables).unwrap();
        let plan = operation.bind(&variables).unwrap();
        serde_json::from_slice(&next_payload(&plan, &value)).unwrap()
    }

    #[test]
    fn selects_exactly_the_selected_fields() {
        let out = shaped("subscription { users { id } }", json!({}), json!({"id": "123", "name": "Alice"}));
        assert_eq!(out, json!({"data": {"users": {"id": "123"}}}));
    }

    #[test]
    fn keeps_selection_order_aliases_nested_objects_and_lists() {
        let query = "subscription { u: users { name first: id friends { id } owner { name } } }";
        let value = json!({
            "id": 1, "name": "a", "secret": "x",
            "friends": [{"id": 2, "secret": 1}, {"id": 3}],
            "owner": {"name": "o", "password": "p"}
        });
        let bytes = {
            let operation = CompiledOperation::compile(query, None).unwrap();
            next_payload(&operation.bind(&Map::new()).unwrap(), &value)
        };
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"data":{"u":{"name":"a","first":1,"friends":[{"id":2},{"id":3}],"owner":{"name":"o"}}}}"#
        );
    }

    #[test]
    fn missing_fields_are_null_and_scalars_never_leak_for_objects() {
        let out = shaped("subscription { a { b c { d } } }", json!({}), json!({"c": "raw-secret"}));
        assert_eq!(out, json!({"data": {"a": {"b": null, "c": null}}}));
    }

    #[test]
    fn root_lists_and_null_roots() {
        assert_eq!(
            shaped("subscription { a { id } }", json!({}), json!([{"id": 1, "x": 2}])),
            json!({"data": {"a": [{"id": 1}]}})
        );
        assert_eq!(shaped("subscription { a { id } }", json!({}), Value::Null), json!({"data": {"a": null}}));
        assert_eq!(shaped("subscription { count }", json!({}), json!(7)), json!({"data": {"count": 7}}));
    }

    #[test]
    fn merges_fields_and_fragments() {
        let query = "subscription { a { id ...F ... { name } id b { x } b { y } } } fragment F on T { extra }";
        let operation = CompiledOperation::compile(query, None).unwrap();
        let plan = operation.bind(&Map::new()).unwrap();
        let value = json!({"id": 1, "name": "n", "extra": true, "b": {"x": 1, "y": 2, "z": 3}});
        assert_eq!(
            String::from_utf8(next_payload(&plan, &value)).unwrap(),
            r#"{"data":{"a":{"id":1,"extra":true,"name":"n","b":{"x":1,"y":2}}}}"#,
            "merged by response key, in the order first selected"
        );
    }

    #[test]
    fn type_conditions_follow_typename() {
        let query = "subscription { pet { __typename name ... on Dog { barks } ... on Cat { meows } } }";
        let dog = shaped(query, json!({}), json!({"__typename": "Dog", "name": "d", "barks": true, "meows": false}));
        assert_eq!(dog, json!({"data": {"pet": {"__typename": "Dog", "name": "d", "barks": true}}}));
        let bird = shaped(query, json!({}), json!({"__typename": "Bird", "name": "b", "barks": 1}));
        assert_eq!(bird, json!({"data": {"pet": {"__typename": "Bird", "name": "b"}}}));
    }

    #[test]
    fn skip_and_include_follow_variables() {
        let query = "subscription($withName: Boolean!, $hide: Boolean = true) { a { id name @include(if: $withName) x @skip(if: $hide) } }";
        let value = json!({"id": 1, "name": "n", "x": 2});
        assert_eq!(
            shaped(query, json!({"withName": true}), value.clone()),
            json!({"data": {"a": {"id": 1, "name": "n"}}})
        );
        assert_eq!(
            shaped(query, json!({"withName": false, "hide": false}), value),
            json!({"data": {"a": {"id": 1, "x": 2}}})
        );
    }

    #[test]
    fn python_float_repr_matches_python() {
        for (value, text) in [
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (1.5, "1.5"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (1.234e-5, "1.234e-05"),
            (123456789.125, "123456789.125"),
        ] {
            assert_eq!(python_float_repr(value), text);
        }
    }

    #[test]
    fn python_number_parsing() {
        assert_eq!(parse_python_int(" 12 "), Some(12));
        assert_eq!(parse_python_int("+1_000"), Some(1000));
        assert_eq!(parse_python_int("1__0"), None);
        assert_eq!(parse_python_int("1.0"), None);
        assert_eq!(parse_python_int(""), None);
        assert_eq!(parse_python_float("1e3"), Some(1000.0));
        assert_eq!(parse_python_float("inf"), None);
    }

    #[test]
    fn built_in_scalar_formats() {
        for (format, good, bad) in [
            (
                ScalarFormat::Date,
                vec!["2026-02-28", "2024-02-29"],
                vec!["2026-02-29", "2026-13-01", "26-01-01", "2026-1-01"],
            ),
            (
                ScalarFormat::Time,
                vec!["03:04:05", "03:04", "03:04:05.123456", "03:04:05+02:00", "03:04:05Z", "03:04:05+00:00:30"],
                vec!["24:00:00", "3:04:05", "03:04:60", "03:04:05+2"],
            ),
            (
                ScalarFormat::DateTime,
                vec!["2026-01-02T03:04:05+00:00", "2026-01-02 03:04:05.5", "2026-01-02T03:04:05Z"],
                vec!["2026-01-02", "2026-01-02T25:00:00", "tomorrow"],
            ),
            (
                ScalarFormat::Uuid,
                vec!["12345678-1234-5678-1234-567812345678"],
                vec!["12345678123456781234567812345678", "x2345678-1234-5678-1234-567812345678"],
            ),
            (
                ScalarFormat::Decimal,
                vec!["12.50", "-3", ".5", "0.000", "1E-7", "1.5e+10"],
                vec!["", "1.", "NaN", "1,5", "1E", "e5"],
            ),
        ] {
            for text in good {
                assert!(format_matches(format, text), "{format:?} {text}");
            }
            for text in bad {
                assert!(!format_matches(format, text), "{format:?} {text}");
            }
        }
    }

    #[test]
    fn integral_floats_become_exact_ids() {
        for (value, text) in [(9e15, "9000000000000000"), (1e20, "100000000000000000000"), (-0.0, "0"), (-3.0, "-3")] {
            let mut out = Vec::new();
            serialize_leaf(&LeafKind::Id, &serde_json::json!(value), &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), format!("\"{text}\""));
        }
    }

    #[test]
    fn error_payload_is_an_array_of_formatted_errors() {
        let payload = error_payload(&[GraphQLError::new("boom").with_code("RESOLVER_ERROR")]);
        assert_eq!(
            serde_json::from_slice::<Value>(&payload).unwrap(),
            json!([{"message": "boom", "extensions": {"code": "RESOLVER_ERROR"}}])
        );
    }
}
