//! Validation against a schema and variable coercion to its types.

use fraiseql_engine::{Engine, EngineConfig, EngineError, EventScope, Registration, SchemaModel};
use serde_json::{json, Map, Value};

const SDL: &str = r#"
type Query { ok: Boolean }
enum Color { RED GREEN }
input Filter { color: Color!, min: Int = 0 }
interface Node { id: ID! }
type User implements Node { id: ID! name: String! friends: [User!]! }
type Subscription {
  userChanged(id: ID!, filter: Filter): User!
  tick(every: Int = 1): Int!
}
"#;

fn engine() -> Engine {
    Engine::new(EngineConfig { schema: Some(SchemaModel::parse(SDL).unwrap()), ..Default::default() })
}

fn register(engine: &Engine, query: &str, variables: Value) -> Result<(), Vec<String>> {
    engine
        .register(Registration {
            connection_id: "c",
            subscription_id: "s",
            query,
            variables: variables.as_object().cloned().unwrap_or_default(),
            ..Default::default()
        })
        .map(|_| ())
        .map_err(|error| match error {
            EngineError::Document(errors) => errors.into_iter().map(|e| e.message).collect(),
            other => vec![other.to_string()],
        })
}

#[test]
fn valid_documents_register_and_deliver() {
    let engine = engine();
    register(&engine, "subscription($id: ID!) { userChanged(id: $id) { id name } }", json!({"id": 7})).unwrap();
    engine.publish("e", "userChanged", json!({"id": "7", "name": "Ann", "x": 1}), EventScope::default()).unwrap();
    let frame: Value = serde_json::from_slice(&engine.drain("c").unwrap()[0].to_vec()).unwrap();
    assert_eq!(frame["payload"], json!({"data": {"userChanged": {"id": "7", "name": "Ann"}}}));
}

#[test]
fn unknown_fields_and_arguments_are_refused_with_locations() {
    let engine = engine();
    let errors = register(&engine, "subscription { userChanged(id: 1) { nope } }", json!({})).unwrap_err();
    assert!(errors.iter().any(|m| m.contains("nope")), "{errors:?}");
    let errors = register(&engine, "subscription { tick(every: 1, bogus: 2) }", json!({})).unwrap_err();
    assert!(errors.iter().any(|m| m.contains("bogus")), "{errors:?}");
    let errors = register(&engine, "subscription { missing }", json!({})).unwrap_err();
    assert!(errors.iter().any(|m| m.contains("missing")), "{errors:?}");
}

#[test]
fn argument_literals_are_type_checked() {
    let engine = engine();
    let errors = register(&engine, "subscription { tick(every: \"often\") }", json!({})).unwrap_err();
    assert!(!errors.is_empty());
    let errors = register(&engine, "subscription { userChanged(id: 1, filter: {color: BLUE}) { id } }", json!({}))
        .unwrap_err();
    assert!(errors.iter().any(|m| m.contains("BLUE")), "{errors:?}");
}

#[test]
fn variables_are_coerced_to_their_types() {
    let engine = engine();
    let query = "subscription($every: Int, $f: Filter) { tick(every: $every) userChanged(id: 1, filter: $f) { id } }";
    // Two root fields are refused for a subscription…
    assert!(register(&engine, query, json!({})).is_err());
    let query = "subscription($every: Int) { tick(every: $every) }";
    let errors = register(&engine, query, json!({"every": "x"})).unwrap_err();
    assert!(!errors.is_empty(), "a string is not an Int");
    let errors = register(&engine, query, json!({"every": 2_147_483_648_i64})).unwrap_err();
    assert!(!errors.is_empty(), "Int is 32-bit");
    register(&engine, query, json!({"every": 5})).unwrap();
}

#[test]
fn input_objects_get_their_defaults_and_enums_are_checked() {
    let engine = engine();
    let query = "subscription($f: Filter) { userChanged(id: 1, filter: $f) { id } }";
    let info = engine.inspect(query, None, json!({"f": {"color": "RED"}}).as_object().unwrap()).unwrap();
    assert_eq!(Value::Object(info.arguments), json!({"id": 1, "filter": {"color": "RED", "min": 0}}));
    let errors = engine.inspect(query, None, json!({"f": {"color": "BLUE"}}).as_object().unwrap()).unwrap_err();
    assert!(matches!(errors, EngineError::Document(_)));
    let errors = engine.inspect(query, None, json!({"f": {"min": 1}}).as_object().unwrap()).unwrap_err();
    assert!(matches!(errors, EngineError::Document(_)), "color is required");
    let none = Map::new();
    let info = engine.inspect("subscription { tick }", None, &none).unwrap();
    assert_eq!(Value::Object(info.arguments), json!({"every": 1}), "the schema's default applies");
}
