//! Shaping a result to a subscription's selection set while serializing it, in one pass and
//! without building an intermediate value. This runs once per event and group.

use serde_json::Value;

use crate::document::{FieldShape, ObjectPlan, ShapePlan};
use crate::error::GraphQLError;

/// Writes the `next` payload `{"data":{"<root key>":<shaped value>}}` for `root_value`.
pub fn write_next_payload(plan: &ShapePlan, root_value: &Value, out: &mut Vec<u8>) {
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
        assert_eq!(shaped(query, json!({"withName": true}), value.clone()), json!({"data": {"a": {"id": 1, "name": "n"}}}));
        assert_eq!(
            shaped(query, json!({"withName": false, "hide": false}), value),
            json!({"data": {"a": {"id": 1, "x": 2}}})
        );
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
