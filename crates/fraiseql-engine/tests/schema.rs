//! Validation against a schema and variable coercion to its types.

use fraiseql_engine::{Engine, EngineConfig, EngineError, EventScope, Registration, ResolverOutcome, SchemaModel};
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
    let errors =
        register(&engine, "subscription { userChanged(id: 1, filter: {color: BLUE}) { id } }", json!({})).unwrap_err();
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

const TYPED_SDL: &str = r#"
type Query { ok: Boolean }
enum Color { RED GREEN }
interface Pet { name: String! }
type Dog implements Pet { name: String! barks: Boolean }
type Cat implements Pet { name: String! lives: Int }
union Animal = Dog | Cat
type Thing {
  n: Int!  f: Float  s: String  b: Boolean  id: ID  c: Color  cs: [Color!]
  pet: Pet  animal: Animal  nested: Thing  list: [Int!]!  maybe: [Int]
}
type Subscription { thing: Thing  required: Thing! }
"#;

fn typed_payload(query: &str, value: Value) -> Value {
    let engine =
        Engine::new(EngineConfig { schema: Some(SchemaModel::parse(TYPED_SDL).unwrap()), ..Default::default() });
    engine.register(Registration { connection_id: "c", subscription_id: "s", query, ..Default::default() }).unwrap();
    let root = engine.inspect(query, None, &Map::new()).unwrap().root_field;
    engine.publish("e", &root, value, EventScope::default()).unwrap();
    let frame: Value = serde_json::from_slice(&engine.drain("c").unwrap()[0].to_vec()).unwrap();
    frame["payload"].clone()
}

fn error_paths(payload: &Value) -> Vec<Value> {
    payload["errors"].as_array().map(|errors| errors.iter().map(|e| e["path"].clone()).collect()).unwrap_or_default()
}

#[test]
fn leaves_are_coerced_like_graphql_core() {
    let payload = typed_payload(
        "subscription { thing { n f s b id c } }",
        json!({"n": "12", "f": 3, "s": 1.0, "b": 0, "id": 5.0, "c": "RED"}),
    );
    assert_eq!(payload, json!({"data": {"thing": {"n": 12, "f": 3.0, "s": "1.0", "b": false, "id": "5", "c": "RED"}}}));
}

#[test]
fn invalid_leaves_are_field_errors_and_null_propagates() {
    let payload = typed_payload(
        "subscription { thing { s f nested { n } cs } }",
        json!({"s": [1], "f": "x", "nested": {"n": null}, "cs": ["GREEN", "BLUE"]}),
    );
    assert_eq!(payload["data"], json!({"thing": {"s": null, "f": null, "nested": null, "cs": null}}));
    assert_eq!(
        error_paths(&payload),
        [json!(["thing", "s"]), json!(["thing", "f"]), json!(["thing", "nested", "n"]), json!(["thing", "cs", 1])]
    );
    assert!(payload["errors"][2]["message"]
        .as_str()
        .unwrap()
        .contains("Cannot return null for non-nullable field Thing.n."));
    assert!(payload["errors"][0]["locations"].is_array());
}

#[test]
fn null_reaches_the_root_when_everything_above_is_non_null() {
    let payload = typed_payload("subscription { required { n } }", json!({"n": 2_147_483_648_i64}));
    assert_eq!(payload["data"], Value::Null);
    assert_eq!(error_paths(&payload), [json!(["required", "n"])]);
    let payload = typed_payload("subscription { required { n } }", Value::Null);
    assert_eq!(payload["data"], Value::Null);
    assert_eq!(error_paths(&payload), [json!(["required"])]);
}

#[test]
fn abstract_types_resolve_through_typename() {
    let query =
        "subscription { thing { pet { __typename name ... on Dog { barks } } animal { ... on Cat { lives } } } }";
    let payload = typed_payload(
        query,
        json!({"pet": {"__typename": "Dog", "name": "d", "barks": 1}, "animal": {"__typename": "Cat", "lives": 9, "name": "x"}}),
    );
    assert_eq!(
        payload["data"],
        json!({"thing": {"pet": {"__typename": "Dog", "name": "d", "barks": true}, "animal": {"lives": 9}}})
    );
    let payload = typed_payload(query, json!({"pet": {"name": "?"}, "animal": {"__typename": "Thing"}}));
    assert_eq!(payload["data"], json!({"thing": {"pet": null, "animal": null}}));
    assert_eq!(error_paths(&payload), [json!(["thing", "pet"]), json!(["thing", "animal"])]);
}

#[test]
fn typename_of_a_concrete_type_comes_from_the_schema() {
    let payload =
        typed_payload("subscription { thing { __typename list } }", json!({"__typename": "Lie", "list": [1, 2]}));
    assert_eq!(payload["data"], json!({"thing": {"__typename": "Thing", "list": [1, 2]}}));
    let payload =
        typed_payload("subscription { thing { list maybe } }", json!({"list": [1, null], "maybe": [1, null]}));
    assert_eq!(payload["data"], json!({"thing": null}));
    assert_eq!(error_paths(&payload), [json!(["thing", "list", 1])]);
}

#[test]
fn a_failed_resolver_of_a_non_null_root_field_makes_data_null() {
    let engine =
        Engine::new(EngineConfig { schema: Some(SchemaModel::parse(TYPED_SDL).unwrap()), ..Default::default() });
    for (id, query) in [("nullable", "subscription { thing { n } }"), ("required", "subscription { required { n } }")] {
        let registration =
            Registration { connection_id: id, subscription_id: id, query, resolver: Some(1), ..Default::default() };
        engine.register(registration).unwrap();
        let root = if id == "nullable" { "thing" } else { "required" };
        let job = engine.publish("e", root, json!({}), EventScope::default()).unwrap().jobs.pop().unwrap();
        job.finish(ResolverOutcome::failed("boom"));
    }
    let payload = |connection: &str| -> Value {
        serde_json::from_slice::<Value>(&engine.drain(connection).unwrap()[0].to_vec()).unwrap()["payload"].clone()
    };
    let nullable = payload("nullable");
    assert_eq!(nullable["data"], json!({"thing": null}));
    assert_eq!(error_paths(&nullable), [json!(["thing"])]);
    let required = payload("required");
    assert_eq!(required["data"], Value::Null);
    assert_eq!(error_paths(&required), [json!(["required"])]);
}
