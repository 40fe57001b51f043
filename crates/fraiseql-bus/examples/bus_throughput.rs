//! The buses alone, in one process: one bus instance publishes, a second one (another
//! "process" on the same stream or table) reads. Prints, for Redis and PostgreSQL:
//!
//! - latency from the publish call to the reader's delivery at a paced 1,000 events/s;
//! - the highest sustained rate: events published as fast as the bus takes them (up to 4,096 in
//!   flight), delivered per second at the reader.
//!
//! `cargo run --release -p fraiseql-bus --example bus_throughput [-- EVENTS]` (default 50,000);
//! the services of `scripts/services.sh` must be up (or set `FRAISEQL_TEST_REDIS_URL`,
//! `FRAISEQL_TEST_POSTGRES_URL`). The figures are this machine's, with its other load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fraiseql_bus::{Bus, BusConfig, BusEvent, BusNote, BusOptions, EventSink, PostgresConfig, RedisConfig};
use parking_lot::{Condvar, Mutex};
use serde_json::json;

fn now_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[derive(Default)]
struct Timing {
    received: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    last_at: Mutex<Option<Instant>>,
    changed: Condvar,
}

impl EventSink for Timing {
    fn deliver(&self, event: BusEvent) {
        let sent = event.data["t"].as_u64().unwrap_or(0);
        self.latencies_us.lock().push(now_nanos().saturating_sub(sent) / 1000);
        *self.last_at.lock() = Some(Instant::now());
        self.received.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn note(&self, note: BusNote) {
        eprintln!("  note: {} {}", note.event, note.message);
    }
}

impl Timing {
    fn wait_for(&self, count: u64, patience: Duration) {
        let deadline = Instant::now() + patience;
        let mut last = self.last_at.lock();
        while self.received.load(Ordering::SeqCst) < count {
            if self.changed.wait_until(&mut last, deadline).timed_out() {
                panic!("only {} of {count} events arrived", self.received.load(Ordering::SeqCst));
            }
        }
    }

    fn percentiles(&self) -> (f64, f64, f64, f64) {
        let mut latencies = self.latencies_us.lock().clone();
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        (at(0.5), at(0.99), at(0.999), *latencies.last().unwrap() as f64 / 1000.0)
    }

    fn reset(&self) {
        self.received.store(0, Ordering::SeqCst);
        self.latencies_us.lock().clear();
    }
}

fn event(n: u64) -> BusEvent {
    BusEvent {
        event_type: "bench".to_owned(),
        channel: "room:bench".to_owned(),
        data: json!({"n": n, "t": now_nanos(), "text": "hello from the benchmark"}),
        tenant: None,
        user: None,
        global: false,
    }
}

fn measure(name: &str, config: BusConfig, events: u64) {
    let timing = Arc::new(Timing::default());
    let options = BusOptions { publish_timeout: Duration::from_secs(30), ..BusOptions::default() };
    let _reader = Bus::start(config.clone(), options, timing.clone()).expect("the reading bus starts");
    let publisher = Bus::start(config, options, Arc::new(Timing::default())).expect("the publishing bus starts");

    // Paced: 1,000 events/s for 5 s, each publish awaited as an application would.
    let paced = 5_000;
    let start = Instant::now();
    for n in 0..paced {
        let due = start + Duration::from_micros(n * 1000);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        publisher.publish_blocking(event(n)).expect("published");
    }
    timing.wait_for(paced, Duration::from_secs(60));
    let (p50, p99, p999, max) = timing.percentiles();
    println!("{name:<11} paced 1,000 events/s: latency ms p50 {p50:.2}  p99 {p99:.2}  p99.9 {p999:.2}  max {max:.2}");

    // As fast as the bus takes them, at most 4,096 in flight.
    timing.reset();
    let in_flight = Arc::new((Mutex::new(0u64), Condvar::new()));
    let start = Instant::now();
    for n in 0..events {
        {
            let (count, freed) = &*in_flight;
            let mut count = count.lock();
            while *count >= 4096 {
                freed.wait(&mut count);
            }
            *count += 1;
        }
        let in_flight = in_flight.clone();
        publisher.publish_then(event(n), move |outcome| {
            outcome.expect("published");
            let (count, freed) = &*in_flight;
            *count.lock() -= 1;
            freed.notify_one();
        });
    }
    timing.wait_for(events, Duration::from_secs(300));
    let elapsed = timing.last_at.lock().expect("events arrived").duration_since(start).as_secs_f64();
    let (p50, p99, _, _) = timing.percentiles();
    println!(
        "{name:<11} saturated: {events} events delivered in {elapsed:.2} s = {:.0} events/s (latency under load ms p50 {p50:.1}, p99 {p99:.1})",
        events as f64 / elapsed
    );
}

fn main() {
    let events: u64 = std::env::args().nth(1).and_then(|text| text.parse().ok()).unwrap_or(50_000);
    let suffix = format!("{}_{}", std::process::id(), now_nanos() % 1_000_000_000);
    let redis_url = std::env::var("FRAISEQL_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    let postgres_url =
        std::env::var("FRAISEQL_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgresql://127.0.0.1:5432/test".to_owned());
    let postgres_url2 = postgres_url.clone();
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("fraiseql-bus throughput ({cpus} CPUs; publisher and reader in one process, services on loopback)");
    let group = format!("bench_{suffix}");
    measure(
        "Redis",
        BusConfig::Redis(RedisConfig {
            url: redis_url.clone(),
            group: group.clone(),
            max_len: 1_000_000,
            tls_ca_file: None,
        }),
        events,
    );
    let table = format!("fraiseql_bench_{suffix}");
    measure(
        "PostgreSQL",
        BusConfig::Postgres(PostgresConfig {
            dsn: postgres_url,
            table: table.clone(),
            retention: Duration::from_secs(600),
        }),
        events,
    );
    clean_up(&redis_url, &group, &postgres_url2, &table);
}

/// Drops the benchmark's stream and table.
fn clean_up(redis_url: &str, group: &str, postgres_url: &str, table: &str) {
    if let Ok(mut connection) = redis::Client::open(redis_url).and_then(|client| client.get_connection()) {
        let _: redis::RedisResult<i64> =
            redis::cmd("DEL").arg(format!("fraiseql:{group}:events")).query(&mut connection);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        if let Ok((client, connection)) = tokio_postgres::connect(postgres_url, tokio_postgres::NoTls).await {
            tokio::spawn(connection);
            let _ = client.batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\" CASCADE")).await;
        }
    });
}
