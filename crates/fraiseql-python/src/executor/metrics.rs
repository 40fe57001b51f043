//! `get_metrics()`: the engine's counters, gauges and latency histograms, the document cache,
//! the resolver table, and the bus's state and counters.

use fraiseql_engine::LATENCY_BUCKET_BOUNDS_NS;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::PySubscriptionExecutor;

/// The bus counters of `get_metrics()`, in the order `bus_metrics` fills them.
const BUS_COUNTERS: [&str; 8] = [
    "bus_reconnects",
    "bus_events_published",
    "bus_events_received",
    "bus_duplicates_dropped",
    "bus_publish_timeouts",
    "bus_gaps",
    "bus_events_malformed",
    "bus_resolver_jobs_dropped",
];

impl PySubscriptionExecutor {
    /// The dictionary `get_metrics()` returns.
    pub(super) fn metrics_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let snapshot = self.engine.metrics();
        let dict = PyDict::new(py);
        let counters = [
            ("active_connections", snapshot.active_connections),
            ("active_subscriptions", snapshot.active_subscriptions),
            ("active_groups", snapshot.active_groups),
            ("pending_resolver_jobs", snapshot.pending_resolver_jobs),
            ("events_published", snapshot.events_published),
            // The seeds' name for the same count.
            ("total_events_processed", snapshot.events_published),
            ("frames_queued", snapshot.frames_queued),
            ("frames_delivered", snapshot.frames_delivered),
            ("frames_dropped_overflow", snapshot.frames_dropped_overflow),
            ("frames_dropped_unsent", snapshot.frames_dropped_unsent),
            ("frames_dropped_rate", snapshot.frames_dropped_rate),
            ("events_filtered_out", snapshot.events_filtered_out),
            ("events_filtered_by_filter", snapshot.events_filtered_by_filter),
            ("payloads_serialized", snapshot.payloads_serialized),
            ("resolver_calls", snapshot.resolver_calls),
            ("resolver_errors", snapshot.resolver_errors),
            ("resolver_timeouts", snapshot.resolver_timeouts),
            ("subscriptions_registered", snapshot.subscriptions_registered),
            ("subscriptions_completed", snapshot.subscriptions_completed),
            ("subscriptions_terminated_by_error", snapshot.subscriptions_terminated_by_error),
            ("cached_documents", self.engine.cached_documents() as u64),
            ("cached_document_bytes", self.engine.cached_document_bytes() as u64),
            ("registered_resolvers", self.resolvers.lock().len() as u64),
        ];
        for (name, value) in counters {
            dict.set_item(name, value)?;
        }
        self.bus_metrics(&dict)?;
        let mut bounds_us: Vec<f64> = LATENCY_BUCKET_BOUNDS_NS.iter().map(|ns| *ns as f64 / 1000.0).collect();
        bounds_us.push(f64::INFINITY);
        for (name, histogram) in
            [("publish_latency", &snapshot.publish_latency), ("resolver_duration", &snapshot.resolver_duration)]
        {
            let entry = PyDict::new(py);
            entry.set_item("le_us", bounds_us.clone())?;
            entry.set_item("counts", histogram.bucket_counts.clone())?;
            entry.set_item("count", histogram.count)?;
            entry.set_item("sum_us", histogram.sum_ns as f64 / 1000.0)?;
            dict.set_item(name, entry)?;
        }
        Ok(dict)
    }

    /// The bus's state and counters (`bus_state` is `"memory"` for the in-memory bus).
    fn bus_metrics(&self, dict: &Bound<'_, PyDict>) -> PyResult<()> {
        let Some(link) = &self.bus else {
            dict.set_item("bus_state", "memory")?;
            dict.set_item("bus_lag_seconds", 0.0)?;
            for name in BUS_COUNTERS {
                dict.set_item(name, 0u64)?;
            }
            return Ok(());
        };
        let metrics = link.bus.metrics();
        dict.set_item("bus_state", metrics.state.as_str())?;
        dict.set_item("bus_lag_seconds", metrics.lag_seconds)?;
        let values = [
            metrics.reconnects,
            metrics.events_published,
            metrics.events_received,
            metrics.duplicates_dropped,
            metrics.publish_timeouts,
            metrics.gaps,
            metrics.malformed + link.inbox.invalid_events.load(std::sync::atomic::Ordering::Relaxed),
            link.inbox.jobs_dropped.load(std::sync::atomic::Ordering::Relaxed),
        ];
        for (name, value) in BUS_COUNTERS.iter().zip(values) {
            dict.set_item(*name, value)?;
        }
        Ok(())
    }
}
