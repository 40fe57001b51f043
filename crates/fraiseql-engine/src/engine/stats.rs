//! The engine's metrics: a snapshot of its counters, gauges and histograms.

use std::sync::atomic::Ordering::Relaxed;

use super::Engine;
use crate::metrics::MetricsSnapshot;

impl Engine {
    pub fn metrics(&self) -> MetricsSnapshot {
        let inner = &*self.inner;
        let (connections, subscriptions, groups) = {
            let registry = inner.registry.read();
            (registry.connections.len(), registry.subscriptions.len(), registry.groups.len())
        };
        let m = &inner.metrics;
        MetricsSnapshot {
            active_connections: connections as u64,
            active_subscriptions: subscriptions as u64,
            active_groups: groups as u64,
            pending_resolver_jobs: inner.pending_jobs.load(Relaxed),
            events_published: m.events_published.load(Relaxed),
            frames_queued: m.frames_queued.load(Relaxed),
            frames_delivered: m.frames_delivered.load(Relaxed),
            frames_dropped_overflow: m.frames_dropped_overflow.load(Relaxed),
            frames_dropped_unsent: m.frames_dropped_unsent.load(Relaxed),
            frames_dropped_rate: m.frames_dropped_rate.load(Relaxed),
            events_filtered_by_filter: m.events_filtered_by_filter.load(Relaxed),
            events_filtered_out: m.events_filtered_out.load(Relaxed),
            payloads_serialized: m.payloads_serialized.load(Relaxed),
            resolver_calls: m.resolver_calls.load(Relaxed),
            resolver_errors: m.resolver_errors.load(Relaxed),
            resolver_timeouts: m.resolver_timeouts.load(Relaxed),
            subscriptions_registered: m.subscriptions_registered.load(Relaxed),
            subscriptions_completed: m.subscriptions_completed.load(Relaxed),
            subscriptions_terminated_by_error: m.subscriptions_terminated_by_error.load(Relaxed),
            publish_latency: m.publish_latency.snapshot(),
            resolver_duration: m.resolver_duration.snapshot(),
        }
    }
}
