//! Prints what row-level filters cost: one evaluation alone, what a filter adds per subscriber to
//! a publish, and the publish latency of 100 filtered subscriptions (p50/p99).
//! Run with `cargo run --release -p fraiseql-engine --example filters` (figures, not a test).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use fraiseql_engine::{filter, Engine, EventScope, Filter, Registration, SecurityContext};
use serde_json::{json, Value};

const QUERY: &str = "subscription { orderUpdated { id status total owner } }";

/// A filter of the kind applications write: the subscriber's own rows, or all of them for an
/// admin, above a threshold the subscriber chose.
fn spec() -> Value {
    json!({"and": [
        {"or": [
            {"eq": ["event.owner", "context.user_id"]},
            {"in": [{"value": "admin"}, "context.roles"]}
        ]},
        {"ge": ["event.total", "args.minTotal"]}
    ]})
}

fn event(owner: &str) -> Value {
    json!({"id": "o-1", "status": "PAID", "total": 120.5, "owner": owner, "items": [1, 2, 3]})
}

fn evaluation_alone() {
    let compiled = Filter::compile(&spec()).expect("valid filter");
    let inputs = filter::inputs(json!({"user_id": "ann", "roles": ["member"]}), json!({"minTotal": 100}));
    let specialized = compiled.specialize(&inputs);
    let (mine, theirs) = (event("ann"), event("bob"));
    let runs = 2_000_000u32;
    let time = |evaluate: &dyn Fn(&Value) -> bool| {
        let started = Instant::now();
        let mut allowed = 0u32;
        for index in 0..runs {
            let data = if index % 2 == 0 { &mine } else { &theirs };
            allowed += u32::from(evaluate(black_box(data)));
        }
        assert_eq!(allowed, runs / 2);
        started.elapsed().as_nanos() as f64 / f64::from(runs)
    };
    let generic = time(&|data| compiled.matches(data, black_box(&inputs)));
    let member = time(&|data| specialized.matches_event(data));
    println!(
        "one evaluation of a 4-comparison filter (and/or/eq/in/ge): {generic:.1} ns as written, {member:.1} ns \
         specialized to a subscriber (what the engine runs)"
    );
}

/// `count` subscriptions of one group (same document), each with the filter or without;
/// `admins` of every `4` subscribers are admins (whom the filter lets every event through to).
fn engine_with(count: usize, filtered: bool, admins: usize) -> (Engine, Vec<String>) {
    let engine = Engine::default();
    let compiled = Arc::new(Filter::compile(&spec()).expect("valid filter"));
    let connections: Vec<String> = (0..count).map(|index| format!("c{index}")).collect();
    for (index, connection) in connections.iter().enumerate() {
        let roles = if index % 4 < admins { json!(["admin"]) } else { json!(["member"]) };
        let inputs = Arc::new(filter::inputs(json!({"user_id": connection, "roles": roles}), json!({"minTotal": 100})));
        engine
            .register(Registration {
                connection_id: connection,
                subscription_id: "s",
                query: QUERY,
                context: SecurityContext::default(),
                filter: filtered.then(|| (compiled.clone(), inputs)),
                ..Default::default()
            })
            .expect("registered");
    }
    (engine, connections)
}

/// Publish latencies in ns (each publish timed alone; queues drained outside the timed part).
fn publish_latencies(engine: &Engine, connections: &[String], runs: usize) -> Vec<u64> {
    let mut samples = Vec::with_capacity(runs);
    for index in 0..runs + runs / 10 {
        let data = event(&connections[index % connections.len()]);
        let started = Instant::now();
        engine.publish("orderUpdated", "orderUpdated", data, EventScope::default()).expect("published");
        let elapsed = started.elapsed().as_nanos() as u64;
        if index >= runs / 10 {
            samples.push(elapsed); // the first tenth warms up
        }
        for connection in connections {
            black_box(engine.drain(connection).expect("open"));
        }
    }
    samples.sort_unstable();
    samples
}

fn quantile(sorted: &[u64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0
}

fn median(sorted: &[u64]) -> f64 {
    quantile(sorted, 0.5)
}

fn main() {
    println!("row-level filters in the engine:");
    evaluation_alone();

    let count = 1000;
    let runs = 2000;
    // Every subscriber is an admin: the filter lets every event through (after evaluating three
    // of its comparisons), so both runs queue the same frames and differ by the filter only.
    let (plain, connections) = engine_with(count, false, 4);
    let (filtered, _) = engine_with(count, true, 4);
    // Interleaved rounds, so that a noisy neighbour weighs on both alike.
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        without.push(median(&publish_latencies(&plain, &connections, runs / 5)));
        with.push(median(&publish_latencies(&filtered, &connections, runs / 5)));
    }
    without.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    let (without, with) = (without[2], with[2]);
    let delivered = filtered.metrics().frames_queued as f64 / filtered.metrics().events_published as f64;
    println!(
        "publish to {count} subscribers of one group: {without:.1} µs without filter, {with:.1} µs with it \
         ({delivered:.0} of {count} let through); the filter adds {:.0} ns per subscriber and event",
        (with - without) * 1000.0 / count as f64
    );

    // Half admins: every event reaches half the subscribers, and the owner's rows the others.
    let (engine, connections) = engine_with(100, true, 2);
    let samples = publish_latencies(&engine, &connections, 20_000);
    println!(
        "publish to 100 filtered subscriptions: p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs (engine alone, {} events)",
        quantile(&samples, 0.5),
        quantile(&samples, 0.99),
        quantile(&samples, 0.999),
        samples.len()
    );
}
