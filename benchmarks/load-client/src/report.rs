//! The JSON report, with the same keys as `benchmarks/load_client.py`'s.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::subscriber::Outcome;

/// Seconds since the epoch, like Python's `time.time()` (the server stamps `at` with it).
pub fn now_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_secs_f64())
}

/// CPU time (user and system) this process has used, in seconds.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return f64::NAN;
    }
    let seconds = |time: libc::timeval| time.tv_sec as f64 + time.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    #[serde(rename = "p99.9")]
    p999: f64,
    max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles in milliseconds of latencies in seconds (sorted here).
    fn of(latencies: &mut [f64]) -> Option<Self> {
        if latencies.is_empty() {
            return None;
        }
        latencies.sort_unstable_by(f64::total_cmp);
        let rank = |q: f64| {
            let index = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index] * 1000.0
        };
        Some(Self { p50: rank(0.5), p90: rank(0.9), p99: rank(0.99), p999: rank(0.999), max: rank(1.0) })
    }
}

/// How the connections were opened: how long until every one was acknowledged (and subscribed,
/// unless subscriptions waited for stdin), and which failed (with `--keep-going`).
#[derive(Debug, Default, Serialize)]
pub struct ConnectTimings {
    /// Seconds since the epoch when the first connection was started.
    pub started_at: f64,
    /// Seconds from the start until every connection was acknowledged (and, without
    /// `--subscribe-on-stdin`, had sent its subscribe).
    pub connected_s: f64,
    /// With `--subscribe-on-stdin`: seconds to send every subscribe once told to.
    pub subscribed_s: Option<f64>,
    pub subscribed_connections: usize,
    pub error_count: usize,
    pub errors: Vec<String>,
}

impl ConnectTimings {
    pub fn record_error(&mut self, error: String) {
        self.error_count += 1;
        if self.errors.len() < 10 {
            self.errors.push(error);
        }
    }
}

/// For each event (sequence number), the latency of the last of its frames to arrive, over every
/// connection: when the event had reached everyone.
fn last_frame_latencies(outcomes: &[Outcome]) -> Vec<f64> {
    let mut last: HashMap<i64, f64> = HashMap::new();
    for outcome in outcomes {
        for (sequence, latency) in outcome.sequences.iter().zip(&outcome.latencies) {
            let entry = last.entry(*sequence).or_insert(f64::NEG_INFINITY);
            *entry = entry.max(*latency);
        }
    }
    last.into_values().collect()
}

#[derive(Debug, Serialize)]
pub struct Report {
    connections: usize,
    expected_per_connection: u64,
    received_per_connection: Vec<u64>,
    received: u64,
    lost: i64,
    out_of_order: u64,
    errors: Vec<String>,
    error_count: usize,
    stop_reason: String,
    latency_ms: Option<Percentiles>,
    schedule_latency_ms: Option<Percentiles>,
    span_s: Option<f64>,
    deliveries_per_s: f64,
    client_cpu_s: f64,
    client: &'static str,
    connect: ConnectTimings,
    events_seen: usize,
    event_last_frame_ms: Option<Percentiles>,
}

impl Report {
    pub fn new(
        connections: usize,
        expected: u64,
        outcomes: &[Outcome],
        stop_reason: String,
        client_cpu_s: f64,
        connect: ConnectTimings,
    ) -> Self {
        let received_per_connection: Vec<u64> = outcomes.iter().map(|outcome| outcome.received).collect();
        let received: u64 = received_per_connection.iter().sum();
        let mut latencies: Vec<f64> = outcomes.iter().flat_map(|outcome| outcome.latencies.iter().copied()).collect();
        let mut schedule: Vec<f64> =
            outcomes.iter().flat_map(|outcome| outcome.schedule_latencies.iter().copied()).collect();
        let mut last_frames = last_frame_latencies(outcomes);
        let first_at = outcomes.iter().map(|outcome| outcome.first_at).fold(f64::INFINITY, f64::min);
        let last_receive = outcomes.iter().map(|outcome| outcome.last_receive).fold(0.0, f64::max);
        let span = (received > 0).then_some(last_receive - first_at);
        let errors: Vec<String> = outcomes
            .iter()
            .flat_map(|outcome| outcome.errors.iter().map(move |error| format!("#{}: {error}", outcome.index)))
            .collect();
        Self {
            connections,
            expected_per_connection: expected,
            received_per_connection,
            received,
            lost: (expected * connections as u64) as i64 - received as i64,
            out_of_order: outcomes.iter().map(|outcome| outcome.out_of_order).sum(),
            error_count: errors.len(),
            errors: errors.into_iter().take(10).collect(),
            stop_reason,
            latency_ms: Percentiles::of(&mut latencies),
            schedule_latency_ms: Percentiles::of(&mut schedule),
            span_s: span,
            deliveries_per_s: match span {
                Some(span) if span > 0.0 => received as f64 / span,
                _ => 0.0,
            },
            client_cpu_s,
            client: "rust",
            connect,
            events_seen: last_frames.len(),
            event_last_frame_ms: Percentiles::of(&mut last_frames),
        }
    }
}
