//! Prints the cost of shaping and serializing one event, without and with a schema.
//! Run with `cargo run --release -p fraiseql-engine --example shaping` (a figure, not a test).

use std::hint::black_box;
use std::time::Instant;

use fraiseql_engine::{CompiledOperation, SchemaModel};
use serde_json::{json, Map, Value};

const SDL: &str = r#"
type Query { ok: Boolean }
enum Status { ACTIVE CLOSED }
type Address { street: String! city: String! zip: String country: String! }
type Item { sku: ID! qty: Int! price: Float! }
type Order {
  id: ID! status: Status! total: Float! currency: String! note: String paid: Boolean!
  customer: String! email: String phone: String createdAt: String! updatedAt: String
  priority: Int! channel: String! coupon: String weight: Float giftWrap: Boolean!
  source: String region: String! tags: [String!]! version: Int!
  shipping: Address! billing: Address items: [Item!]!
}
type Subscription { orderUpdated: Order! }
"#;

const QUERY: &str = "subscription { orderUpdated { id status total currency note paid customer email phone createdAt \
    updatedAt priority channel coupon weight giftWrap source region tags version \
    shipping { street city zip country } billing { street city zip country } items { sku qty price } } }";

fn event() -> Value {
    let items: Vec<Value> =
        (0..10).map(|i| json!({"sku": format!("sku-{i}"), "qty": i + 1, "price": 9.5 + f64::from(i)})).collect();
    json!({
        "id": "o-1", "status": "ACTIVE", "total": 120.5, "currency": "EUR", "note": "leave at door", "paid": true,
        "customer": "Ann", "email": "ann@example.com", "phone": "+33 1 23", "createdAt": "2026-11-22T05:00:00Z",
        "updatedAt": "2026-11-22T05:01:00Z", "priority": 2, "channel": "web", "coupon": null, "weight": 1.25,
        "giftWrap": false, "source": "app", "region": "eu", "tags": ["a", "b"], "version": 7,
        "shipping": {"street": "1 rue A", "city": "Paris", "zip": "75001", "country": "FR"},
        "billing": {"street": "2 rue B", "city": "Lyon", "zip": null, "country": "FR"},
        "items": items, "internal": {"secret": true}
    })
}

fn measure(label: &str, schema: Option<&SchemaModel>) {
    let operation = CompiledOperation::compile_with(QUERY, None, schema, Default::default()).expect("valid document");
    let plan = operation.bind(&Map::new()).expect("bound");
    let value = event();
    let mut out = Vec::with_capacity(2048);
    for _ in 0..10_000 {
        out.clear();
        fraiseql_engine::shape::write_next_payload(&plan, &value, &mut out);
    }
    let runs = 200_000;
    let started = Instant::now();
    for _ in 0..runs {
        out.clear();
        fraiseql_engine::shape::write_next_payload(black_box(&plan), black_box(&value), &mut out);
        black_box(&out);
    }
    let per_event = started.elapsed().as_nanos() as f64 / f64::from(runs);
    println!("{label}: {:.2} µs per event ({} bytes of payload)", per_event / 1000.0, out.len());
}

fn main() {
    println!("shaping + serializing a 20-field event with two nested objects and a list of 10:");
    measure("  without a schema (selection only)", None);
    let schema = SchemaModel::parse(SDL).expect("valid schema");
    measure("  with the schema (leaf checks, non-null)", Some(&schema));
}
