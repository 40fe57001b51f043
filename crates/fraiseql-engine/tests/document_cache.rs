//! The document cache's bounds (count and estimated bytes, least recently used evicted first),
//! its peek, and results of documents whose repeated fields are merged when compiled.

use std::sync::Arc;

use fraiseql_engine::{
    DocumentCache, DocumentLimits, Engine, EngineConfig, EventScope, Registration, SubscriptionRef,
    DEFAULT_DOCUMENT_CACHE_BYTES,
};
use serde_json::{json, Value};

/// Documents of one size and shape, distinct per `tag` (0 to 9): their entries cost the same.
fn document(tag: usize) -> String {
    let fields: Vec<String> = (0..500).map(|index| format!("f{index}")).collect();
    format!("subscription T{tag} {{ a {{ {} }} }}", fields.join(" "))
}

/// What one entry of [`document`] costs the cache.
fn entry_cost() -> usize {
    let cache = DocumentCache::new(10);
    cache.get_or_compile(&document(0), None).unwrap();
    cache.bytes()
}

#[test]
fn entries_are_counted_and_the_count_bound_still_applies() {
    let cost = entry_cost();
    let query = document(0);
    let compiled = DocumentCache::new(1).get_or_compile(&query, None).unwrap();
    assert!(cost > compiled.estimated_bytes() + query.len(), "the key's text is counted too");
    let cache = DocumentCache::new(2);
    assert_eq!(cache.max_bytes(), DEFAULT_DOCUMENT_CACHE_BYTES);
    for tag in 0..3 {
        cache.get_or_compile(&document(tag), None).unwrap();
    }
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.bytes(), 2 * cost);
    assert!(!cache.contains(&document(0), None));
}

#[test]
fn least_recently_used_entries_are_evicted_to_stay_within_the_bytes() {
    let cost = entry_cost();
    let cache = DocumentCache::new(100).with_max_bytes(2 * cost + cost / 2);
    let first = cache.get_or_compile(&document(1), None).unwrap();
    cache.get_or_compile(&document(2), None).unwrap();
    // Used again: the second document is now the least recently used.
    assert!(Arc::ptr_eq(&first, &cache.get_or_compile(&document(1), None).unwrap()));
    cache.get_or_compile(&document(3), None).unwrap();
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.bytes(), 2 * cost);
    assert!(cache.contains(&document(1), None));
    assert!(!cache.contains(&document(2), None));
    assert!(cache.contains(&document(3), None));
}

#[test]
fn a_document_larger_than_the_budget_is_compiled_but_not_cached() {
    let cost = entry_cost();
    let cache = DocumentCache::new(100).with_max_bytes(cost - 1);
    let compiled = cache.get_or_compile(&document(1), None).unwrap();
    assert_eq!(&*compiled.root_field, "a");
    assert!(cache.is_empty());
    assert_eq!(cache.bytes(), 0);
    assert!(!cache.contains(&document(1), None));
    let again = cache.get_or_compile(&document(1), None).unwrap();
    assert!(!Arc::ptr_eq(&compiled, &again), "compiled again");
    // Smaller documents are still cached.
    cache.get_or_compile("subscription { a }", None).unwrap();
    assert_eq!(cache.len(), 1);
}

#[test]
fn contains_neither_compiles_nor_refreshes_an_entry() {
    let cache = DocumentCache::new(2);
    assert!(!cache.contains(&document(1), None));
    assert!(cache.is_empty(), "nothing compiled");
    cache.get_or_compile(&document(1), None).unwrap();
    cache.get_or_compile(&document(2), None).unwrap();
    assert!(cache.contains(&document(1), None));
    assert!(!cache.contains(&document(1), Some("T1")), "keyed by operation name too");
    cache.get_or_compile(&document(3), None).unwrap();
    assert!(!cache.contains(&document(1), None), "still the least recently used");
    assert!(cache.contains(&document(2), None));
}

#[test]
fn a_new_schema_empties_the_cache_and_its_bytes() {
    let cache = DocumentCache::new(10);
    cache.get_or_compile(&document(1), None).unwrap();
    assert!(cache.bytes() > 0);
    cache.set_schema(None);
    assert_eq!((cache.len(), cache.bytes()), (0, 0));
}

#[test]
fn the_engine_reports_and_bounds_its_cached_bytes() {
    let budget = 3 * entry_cost();
    let engine = Engine::new(EngineConfig { document_cache_bytes: budget, ..Default::default() });
    let no_variables = serde_json::Map::new();
    assert!(!engine.is_document_cached(&document(0), None));
    for tag in 0..10 {
        engine.inspect(&document(tag), None, &no_variables).unwrap();
        assert!(engine.cached_document_bytes() <= budget);
    }
    assert_eq!(engine.cached_documents(), 3);
    assert!(engine.is_document_cached(&document(9), None));
    assert!(!engine.is_document_cached(&document(0), None));
    assert_eq!(Engine::default().config().document_cache_bytes, 64 * 1024 * 1024);
}

/// The payload text of the first frame for `query` (field order included) after publishing
/// `data` on channel `a`.
fn shaped(query: &str, variables: Value, data: Value) -> String {
    let engine = Engine::new(EngineConfig {
        document_limits: DocumentLimits { max_size: 1 << 20, ..Default::default() },
        ..Default::default()
    });
    engine
        .register(Registration {
            connection_id: "c",
            subscription_id: "s",
            query,
            variables: variables.as_object().cloned().unwrap_or_default(),
            ..Default::default()
        })
        .unwrap();
    engine.publish("e", "a", data, EventScope::default()).unwrap();
    let frame = engine.next_frame(SubscriptionRef { subscription_id: "s", connection_id: None }).unwrap().unwrap();
    let frame = String::from_utf8(frame.to_vec()).unwrap();
    let start = frame.find("\"payload\":").unwrap() + "\"payload\":".len();
    frame[start..frame.len() - 1].to_owned()
}

#[test]
fn repeated_fields_shape_as_one_field_in_document_order() {
    let data = json!({"id": 1, "x": 2, "y": 3, "z": 4, "b": {"p": 5, "q": 6, "r": 7}});
    let ids = format!("subscription {{ a {{ {} x }} }}", vec!["id"; 9000].join(" "));
    assert_eq!(shaped(&ids, json!({}), data.clone()), r#"{"data":{"a":{"id":1,"x":2}}}"#);
    // A fragment between two selections of `b` adds to it in between.
    assert_eq!(
        shaped("subscription { a { b { p } ... { b { r } } b { q } b { p } } }", json!({}), data.clone()),
        r#"{"data":{"a":{"b":{"p":5,"r":7,"q":6}}}}"#
    );
    // A conditional selection of `b` between two others keeps its place.
    let conditional =
        "subscription($v: Boolean!) { a { b @include(if: $v) { p } b { q } b @include(if: $v) { r } z z } }";
    assert_eq!(
        shaped(conditional, json!({"v": true}), data.clone()),
        r#"{"data":{"a":{"b":{"p":5,"q":6,"r":7},"z":4}}}"#
    );
    assert_eq!(shaped(conditional, json!({"v": false}), data.clone()), r#"{"data":{"a":{"b":{"q":6},"z":4}}}"#);
    // A skipped repeat does not hide an included one, nor the reverse.
    let skipped = "subscription($v: Boolean!) { a { y @skip(if: $v) x y @include(if: $v) y @skip(if: $v) } }";
    assert_eq!(shaped(skipped, json!({"v": true}), data.clone()), r#"{"data":{"a":{"x":2,"y":3}}}"#);
    assert_eq!(shaped(skipped, json!({"v": false}), data.clone()), r#"{"data":{"a":{"y":3,"x":2}}}"#);
    // Adjacent selections of `b` merge, and their own repeats with them.
    assert_eq!(
        shaped("subscription { a { b { q p } b { p r q } } }", json!({}), data),
        r#"{"data":{"a":{"b":{"q":6,"p":5,"r":7}}}}"#
    );
}
