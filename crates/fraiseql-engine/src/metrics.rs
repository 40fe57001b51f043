//! Lock-free counters and latency histograms.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Upper bounds of the latency buckets, in nanoseconds: fine enough for microseconds,
/// wide enough for a slow resolver. The last bucket is open-ended.
pub const LATENCY_BUCKET_BOUNDS_NS: [u64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

#[derive(Debug)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKET_BOUNDS_NS.len() + 1],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    pub fn record(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let index = LATENCY_BUCKET_BOUNDS_NS.partition_point(|bound| *bound < nanos);
        self.buckets[index].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(nanos, Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bucket_counts: self.buckets.iter().map(|bucket| bucket.load(Relaxed)).collect(),
            count: self.count.load(Relaxed),
            sum_ns: self.sum_ns.load(Relaxed),
        }
    }
}

/// Per-bucket counts (not cumulative); `bucket_counts[i]` counts values `<= LATENCY_BUCKET_BOUNDS_NS[i]`
/// and above the previous bound; the last entry counts values above every bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub bucket_counts: Vec<u64>,
    pub count: u64,
    pub sum_ns: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub events_published: AtomicU64,
    pub frames_queued: AtomicU64,
    pub frames_delivered: AtomicU64,
    pub frames_dropped_overflow: AtomicU64,
    /// Frames still queued when their subscription was completed or their connection closed.
    pub frames_dropped_unsent: AtomicU64,
    /// Frames over a subscription's `max_frames_per_second`.
    pub frames_dropped_rate: AtomicU64,
    /// (event, subscription) pairs refused by the subscription's row-level filter.
    pub events_filtered_by_filter: AtomicU64,
    pub events_filtered_out: AtomicU64,
    pub payloads_serialized: AtomicU64,
    pub resolver_calls: AtomicU64,
    pub resolver_errors: AtomicU64,
    pub resolver_timeouts: AtomicU64,
    pub subscriptions_registered: AtomicU64,
    pub subscriptions_completed: AtomicU64,
    pub subscriptions_terminated_by_error: AtomicU64,
    pub publish_latency: Histogram,
    pub resolver_duration: Histogram,
}

/// A point-in-time copy of every metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    pub active_connections: u64,
    pub active_subscriptions: u64,
    pub active_groups: u64,
    pub pending_resolver_jobs: u64,
    pub events_published: u64,
    pub frames_queued: u64,
    pub frames_delivered: u64,
    pub frames_dropped_overflow: u64,
    pub frames_dropped_unsent: u64,
    pub frames_dropped_rate: u64,
    pub events_filtered_by_filter: u64,
    pub events_filtered_out: u64,
    pub payloads_serialized: u64,
    pub resolver_calls: u64,
    pub resolver_errors: u64,
    pub resolver_timeouts: u64,
    pub subscriptions_registered: u64,
    pub subscriptions_completed: u64,
    pub subscriptions_terminated_by_error: u64,
    pub publish_latency: HistogramSnapshot,
    pub resolver_duration: HistogramSnapshot,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_by_upper_bound() {
        let histogram = Histogram::default();
        histogram.record(Duration::from_nanos(500));
        histogram.record(Duration::from_nanos(1_000));
        histogram.record(Duration::from_micros(3));
        histogram.record(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 4);
        assert_eq!(snapshot.bucket_counts[0], 2);
        assert_eq!(snapshot.bucket_counts[2], 1);
        assert_eq!(*snapshot.bucket_counts.last().unwrap(), 1);
        assert_eq!(snapshot.sum_ns, 500 + 1_000 + 3_000 + 60_000_000_000);
    }
}
