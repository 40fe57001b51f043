//! `PySubscriptionExecutor`: the engine as Python sees it.
//!
//! Python objects live only here and in `resolvers.rs`, and only while the GIL is held: the
//! engine knows resolvers by number and connections by id. Engine work runs with the GIL
//! released, except the few calls made while the resolver table lock is held (attaching a
//! resolver): a Rust lock is never held across a GIL release, so no thread can wait for the GIL
//! while holding one. Resolvers run once per event and group (see `resolvers.rs`).
//!
//! This file holds the class and its Python API (one `#[pymethods]` block: PyO3's
//! `multiple-pymethods` feature is not enabled); the longer methods call helpers grouped by
//! concept in `executor/`:
//! - `settings`: the constructor's arguments checked and turned into an engine;
//! - `subscriptions`: what `register_subscription` is given (its filter, which subscription);
//! - `events`: publishing from Python (to the engine or the bus) and what the bus leaves for Python;
//! - `wakeup`: the wake-up socket on the asyncio loop and the writers waiting for frames;
//! - `frames`: queued frames as Python bytes;
//! - `metrics`: `get_metrics()`, the engine's counters and the bus's.

mod events;
mod frames;
mod metrics;
mod settings;
mod subscriptions;
mod wakeup;

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use fraiseql_engine::{Engine, EngineError, Registration, SchemaModel, SecurityContext};
use parking_lot::Mutex;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyType};

use crate::bus::BusLink;
use crate::bus_config::{BusConfig, PyEventBusConfig};
use crate::convert;
use crate::errors::{configuration_error, detached, new_error};
use crate::filter::CompiledFilter;
use crate::resolvers::{PendingResolution, ResolverSettings, ResolverTable};
use events::scope_key;
use frames::frame_bytes;
use settings::ExecutorOptions;
use wakeup::Wakeup;

/// The subscription engine: registry, dispatch, shaping and frame queues.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "PySubscriptionExecutor", frozen, weakref)]
pub struct PySubscriptionExecutor {
    pub(crate) engine: Engine,
    bus_config: Py<PyEventBusConfig>,
    pub(crate) resolver_settings: ResolverSettings,
    pub(crate) resolvers: Mutex<ResolverTable>,
    /// Runs sync resolvers in worker threads (`_loop_bridge.SyncResolverRunner`), made on first use.
    pub(crate) sync_runner: PyOnceLock<Py<PyAny>>,
    wakeup: Wakeup,
    waiters: Mutex<HashMap<Arc<str>, Py<PyAny>>>,
    reader_loop: Mutex<Option<Py<PyAny>>>,
    pub(crate) attached_loop: Mutex<Option<Py<PyAny>>>,
    /// Application serializers for custom types, by type.
    pub(crate) serializers: Vec<(Py<PyType>, Py<PyAny>)>,
    /// The Redis or PostgreSQL bus (`None`: in-memory, events stay in this process).
    pub(crate) bus: Option<BusLink>,
    /// Async publishes waiting for the bus, by token.
    publish_waiters: Mutex<HashMap<u64, Py<PyAny>>>,
}

#[pymethods]
impl PySubscriptionExecutor {
    #[new]
    #[pyo3(signature = (
        bus_config=None,
        *,
        max_queued_frames=1000,
        overflow="drop_oldest",
        resolver_timeout=Some(5.0),
        tenant_field=Some("tenant_id".to_owned()),
        user_field=Some("user_id".to_owned()),
        document_cache_size=1000,
        document_cache_bytes=67_108_864,
        schema_sdl=None,
        max_document_size=32768,
        max_depth=32,
        max_selections=10000,
        max_aliases=100,
        serializers=None,
        resolver_errors="field_error",
        expose_resolver_errors=false,
        sync_resolvers="thread",
        sync_resolver_threads=32,
        slow_resolver_threshold=Some(1.0),
        max_frames_per_second=None,
    ), text_signature = "(bus_config=None, *, max_queued_frames=1000, overflow='drop_oldest', resolver_timeout=5.0, tenant_field='tenant_id', user_field='user_id', document_cache_size=1000, document_cache_bytes=67108864, schema_sdl=None, max_document_size=32768, max_depth=32, max_selections=10000, max_aliases=100, serializers=None, resolver_errors='field_error', expose_resolver_errors=False, sync_resolvers='thread', sync_resolver_threads=32, slow_resolver_threshold=1.0, max_frames_per_second=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        bus_config: Option<Py<PyEventBusConfig>>,
        max_queued_frames: i64,
        overflow: &str,
        resolver_timeout: Option<f64>,
        tenant_field: Option<String>,
        user_field: Option<String>,
        document_cache_size: i64,
        document_cache_bytes: i64,
        schema_sdl: Option<&str>,
        max_document_size: i64,
        max_depth: i64,
        max_selections: i64,
        max_aliases: i64,
        serializers: Option<&Bound<'_, PyDict>>,
        resolver_errors: &str,
        expose_resolver_errors: bool,
        sync_resolvers: &str,
        sync_resolver_threads: i64,
        slow_resolver_threshold: Option<f64>,
        max_frames_per_second: Option<f64>,
    ) -> PyResult<Self> {
        let options = ExecutorOptions {
            max_queued_frames,
            overflow,
            resolver_timeout,
            tenant_field,
            user_field,
            document_cache_size,
            document_cache_bytes,
            schema_sdl,
            max_document_size,
            max_depth,
            max_selections,
            max_aliases,
            serializers,
            resolver_errors,
            expose_resolver_errors,
            sync_resolvers,
            sync_resolver_threads,
            slow_resolver_threshold,
            max_frames_per_second,
        };
        Self::from_options(py, bus_config, options)
    }

    /// The bus configuration this executor was built with.
    #[getter]
    fn bus_config(&self, py: Python<'_>) -> Py<PyEventBusConfig> {
        self.bus_config.clone_ref(py)
    }

    /// The schema documents are validated against (`None`: validation without a schema).
    #[getter]
    fn schema_sdl(&self) -> Option<String> {
        self.engine.schema().map(|schema| schema.sdl().to_owned())
    }

    /// The argument names of a `Subscription` field of the schema; `None` without a schema or
    /// when the schema has no such field.
    fn subscription_field_arguments(&self, field: &str) -> Option<Vec<String>> {
        self.engine.schema()?.subscription_field_arguments(field)
    }

    /// Replaces the schema documents are validated against (`None`: no schema); subscriptions
    /// already registered keep theirs. `ConfigurationError` for an invalid schema.
    #[pyo3(signature = (schema_sdl))]
    fn set_schema(&self, py: Python<'_>, schema_sdl: Option<&str>) -> PyResult<()> {
        let schema = match schema_sdl {
            Some(sdl) => Some(detached(py, || SchemaModel::parse(sdl))?),
            None => None,
        };
        self.engine.set_schema(schema);
        Ok(())
    }

    #[getter]
    fn resolver_timeout(&self) -> Option<f64> {
        self.resolver_settings.timeout
    }

    /// `"field_error"` (a failed resolver is a field error of that event) or `"end_stream"`.
    #[getter]
    fn resolver_errors(&self) -> &'static str {
        self.engine.config().resolver_errors.as_str()
    }

    /// `"thread"` (sync resolvers of events published on the loop run in worker threads) or
    /// `"inline"`.
    #[getter]
    fn sync_resolvers(&self) -> &'static str {
        self.resolver_settings.sync_resolvers.as_str()
    }

    #[getter]
    fn sync_resolver_threads(&self) -> usize {
        self.resolver_settings.threads
    }

    /// Whether clients see the text of the exceptions resolvers raise.
    #[getter]
    fn expose_resolver_errors(&self) -> bool {
        self.resolver_settings.expose_errors
    }

    #[getter]
    fn slow_resolver_threshold(&self) -> Option<f64> {
        self.resolver_settings.slow_after
    }

    /// Frames per second each subscription may get (the excess is dropped and counted in
    /// `frames_dropped_rate`); `None`: no limit.
    #[getter]
    fn max_frames_per_second(&self) -> Option<f64> {
        self.engine.config().max_frames_per_second
    }

    /// Estimated bytes the cached compiled documents may hold.
    #[getter]
    fn document_cache_bytes(&self) -> usize {
        self.engine.config().document_cache_bytes
    }

    #[getter]
    fn max_queued_frames(&self) -> usize {
        self.engine.config().max_queued_frames
    }

    #[getter]
    fn overflow(&self) -> &'static str {
        self.engine.config().overflow.as_str()
    }

    /// Registers a subscription under the client's id and returns that id.
    #[pyo3(signature = (connection_id, subscription_id, query, operation_name=None, variables=None, user_id=None, tenant_id=None, *, channel=None, resolver=None, filter=None, filter_inputs=None))]
    #[allow(clippy::too_many_arguments)]
    fn register_subscription(
        &self,
        py: Python<'_>,
        connection_id: &str,
        subscription_id: &str,
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&Bound<'_, PyAny>>,
        user_id: Option<&Bound<'_, PyAny>>,
        tenant_id: Option<&Bound<'_, PyAny>>,
        channel: Option<&str>,
        resolver: Option<&Bound<'_, PyAny>>,
        filter: Option<PyRef<'_, CompiledFilter>>,
        filter_inputs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let filter = subscriptions::subscription_filter(py, filter, filter_inputs)?;
        let variables = match variables {
            Some(variables) if !variables.is_none() => convert::to_json_object(variables, "variables")?,
            _ => serde_json::Map::new(),
        };
        let context =
            SecurityContext { user: scope_key(user_id, "user_id")?, tenant: scope_key(tenant_id, "tenant_id")? };
        let mut registration = Registration {
            connection_id,
            subscription_id,
            query,
            operation_name,
            variables,
            context,
            channel,
            resolver: None,
            filter,
        };
        match resolver.filter(|resolver| !resolver.is_none()) {
            None => {
                detached(py, || self.engine.register(registration))?;
            }
            Some(resolver) => {
                // Registered with its resolver in one step: no event can reach it without it.
                self.with_resolver_id(py, resolver, |id| {
                    registration.resolver = Some(id);
                    self.engine.register(registration)
                })?;
            }
        };
        Ok(subscription_id.to_owned())
    }

    /// Validates a subscription document (cached) and returns what it subscribes to:
    /// `root_field`, `response_key`, `operation_name`, `arguments` (variables substituted) and
    /// `variables` (defaults applied). Raises `GraphQLDocumentError` like `register_subscription`.
    #[pyo3(signature = (query, operation_name=None, variables=None))]
    fn inspect_subscription<'py>(
        &self,
        py: Python<'py>,
        query: &str,
        operation_name: Option<&str>,
        variables: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let variables = match variables {
            Some(variables) if !variables.is_none() => convert::to_json_object(variables, "variables")?,
            _ => serde_json::Map::new(),
        };
        let info = detached(py, || self.engine.inspect(query, operation_name, &variables))?;
        let dict = PyDict::new(py);
        dict.set_item("root_field", &*info.root_field)?;
        dict.set_item("response_key", &*info.response_key)?;
        dict.set_item("operation_name", info.operation_name)?;
        dict.set_item("arguments", convert::object_to_python(py, &info.arguments)?)?;
        dict.set_item("variables", convert::object_to_python(py, &info.variables)?)?;
        Ok(dict)
    }

    /// Whether the document is compiled and cached, so that `inspect_subscription` and
    /// `register_subscription` will not compile it. Compiles nothing and does not refresh the
    /// document's place in the cache's eviction order.
    #[pyo3(signature = (query, operation_name=None))]
    fn is_document_cached(&self, query: &str, operation_name: Option<&str>) -> bool {
        self.engine.is_document_cached(query, operation_name)
    }

    /// Runs `resolver(event, variables)` for this subscription's events instead of sending the
    /// event's data. Pass the same callable object to subscriptions that should share its work.
    #[pyo3(signature = (subscription_id, resolver, connection_id=None))]
    fn register_resolver(
        &self,
        py: Python<'_>,
        subscription_id: &str,
        resolver: &Bound<'_, PyAny>,
        connection_id: Option<&str>,
    ) -> PyResult<()> {
        self.with_resolver_id(py, resolver, |id| {
            self.engine.set_resolver(Self::sub(subscription_id, connection_id), Some(id))
        })?;
        self.prune_resolvers();
        Ok(())
    }

    /// Publishes an event on a channel. Subscriptions without resolver have their frames queued
    /// when this returns; resolvers run once per group of identical subscriptions (sync ones
    /// before this returns, async ones as tasks on the running or attached asyncio loop).
    #[pyo3(signature = (event_type, channel, data, *, tenant_id=None, user_id=None, global_event=false))]
    fn publish_event(
        slf: &Bound<'_, Self>,
        event_type: &str,
        channel: &str,
        data: &Bound<'_, PyAny>,
        tenant_id: Option<&Bound<'_, PyAny>>,
        user_id: Option<&Bound<'_, PyAny>>,
        global_event: bool,
    ) -> PyResult<()> {
        Self::publish(slf, event_type, channel, data, tenant_id, user_id, global_event)
    }

    /// `publish_event` as an awaitable, for coroutines: with a Redis or PostgreSQL bus it
    /// completes once the bus stored the event and this process dispatched it (the loop is free
    /// meanwhile), or fails with `PublishTimeoutError`; with the in-memory bus it publishes at
    /// once and returns a completed future.
    #[pyo3(signature = (event_type, channel, data, *, tenant_id=None, user_id=None, global_event=false))]
    fn publish_event_async<'py>(
        slf: &Bound<'py, Self>,
        event_type: &str,
        channel: &str,
        data: &Bound<'py, PyAny>,
        tenant_id: Option<&Bound<'py, PyAny>>,
        user_id: Option<&Bound<'py, PyAny>>,
        global_event: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::publish_future(slf, event_type, channel, data, tenant_id, user_id, global_event)
    }

    /// Stops the bus (a Redis or PostgreSQL bus closes its connections; later publishes raise
    /// `BusClosedError`). The in-memory bus has nothing to stop.
    fn shutdown(&self, py: Python<'_>) {
        if let Some(link) = &self.bus {
            py.detach(|| link.bus.shutdown());
        }
    }

    /// This process's id on a Redis or PostgreSQL bus, as its connections name themselves
    /// (`fraiseql-read-<id>`, `fraiseql-publish-<id>`); `None` with the in-memory bus.
    #[getter]
    fn bus_id(&self) -> Option<String> {
        self.bus.as_ref().map(|link| link.bus.id())
    }

    /// Publishes `table`'s inserts, updates and deletes as events on `channel`, where
    /// `{column}` stands for that column of the row (PostgreSQL bus only): a trigger writes them
    /// to the events table, so a write by any program fires the subscriptions.
    #[pyo3(
        signature = (table, channel, operations=vec!["INSERT".to_owned(), "UPDATE".to_owned(), "DELETE".to_owned()]),
        text_signature = "($self, table, channel, operations=('INSERT', 'UPDATE', 'DELETE'))"
    )]
    fn install_change_trigger(
        &self,
        py: Python<'_>,
        table: &str,
        channel: &str,
        operations: Vec<String>,
    ) -> PyResult<()> {
        let Some(link) = &self.bus else {
            return Err(new_error(configuration_error(py), "change triggers need a PostgreSQL bus".to_owned()));
        };
        let config = self.bus_config.get();
        let BusConfig::Distributed { config: fraiseql_bus::BusConfig::Postgres(postgres), .. } = &config.config else {
            return Err(new_error(configuration_error(py), "change triggers need a PostgreSQL bus".to_owned()));
        };
        let operations: Vec<&str> = operations.iter().map(String::as_str).collect();
        let sql = fraiseql_bus::change_trigger_sql(&postgres.table, table, channel, &operations)
            .map_err(|error| new_error(configuration_error(py), error.to_string()))?;
        detached(py, || link.bus.execute(sql))
    }

    /// Pops the next frame of a subscription (non-blocking): the bytes of one
    /// graphql-transport-ws message, or None.
    #[pyo3(signature = (subscription_id, connection_id=None))]
    fn next_event<'py>(
        slf: &Bound<'py, Self>,
        subscription_id: &str,
        connection_id: Option<&str>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let py = slf.py();
        Self::process_inbox(slf)?;
        let this = slf.get();
        let frame = detached(py, || this.engine.next_frame(Self::sub(subscription_id, connection_id)))?;
        this.prune_resolvers();
        frame.map(|frame| frame_bytes(py, &frame)).transpose()
    }

    /// Removes a subscription completely: it receives nothing afterwards and its memory is freed.
    #[pyo3(signature = (subscription_id, connection_id=None))]
    fn complete_subscription(
        &self,
        py: Python<'_>,
        subscription_id: &str,
        connection_id: Option<&str>,
    ) -> PyResult<()> {
        detached(py, || self.engine.complete(Self::sub(subscription_id, connection_id)))?;
        self.prune_resolvers();
        Ok(())
    }

    /// Opens a connection explicitly: it lives (and can be waited on) until closed, even
    /// without subscriptions. Opening an open connection does nothing.
    fn open_connection(&self, py: Python<'_>, connection_id: &str) -> PyResult<()> {
        detached(py, || {
            self.engine.open_connection(connection_id);
            Ok::<_, EngineError>(())
        })
    }

    /// Closes a connection: frees all its subscriptions and frames and wakes its writer with
    /// `ConnectionClosedError`. Returns how many subscriptions were freed (0 if unknown).
    fn close_connection(&self, py: Python<'_>, connection_id: &str) -> PyResult<usize> {
        let freed = detached(py, || Ok::<_, EngineError>(self.engine.close_connection(connection_id)))?;
        self.prune_resolvers();
        Ok(freed)
    }

    /// Takes the queued frames of a connection (at most `max_frames`), oldest first.
    #[pyo3(signature = (connection_id, max_frames=None))]
    fn drain_frames<'py>(
        slf: &Bound<'py, Self>,
        connection_id: &str,
        max_frames: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        Self::process_inbox(slf)?;
        slf.get().drain_to_list(slf.py(), connection_id, max_frames.unwrap_or(usize::MAX))
    }

    /// An awaitable that completes with the connection's queued frames (at least one) as soon
    /// as there are any, or fails with `ConnectionClosedError` when the connection closes.
    /// Must be called from the running asyncio loop; the writer sleeps until the engine wakes it.
    fn wait_for_frames<'py>(slf: &Bound<'py, Self>, connection_id: &str) -> PyResult<Bound<'py, PyAny>> {
        Self::frames_future(slf, connection_id)
    }

    /// Lets async resolvers of events published from other threads run on `loop`.
    fn attach_event_loop(&self, event_loop: &Bound<'_, PyAny>) {
        *self.attached_loop.lock() = Some(event_loop.clone().unbind());
    }

    /// Counters, gauges and latency histograms of this executor.
    fn get_metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.metrics_dict(py)
    }

    fn __repr__(&self) -> String {
        let metrics = self.engine.metrics();
        format!(
            "<PySubscriptionExecutor connections={} subscriptions={}>",
            metrics.active_connections, metrics.active_subscriptions
        )
    }

    /// Called by the loop when the engine signalled ready connections.
    fn _on_frames_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::settle_ready_writers(slf)
    }

    /// An async or threaded resolver returned `result`.
    fn _resolution_succeeded(
        &self,
        py: Python<'_>,
        pending: &Bound<'_, PendingResolution>,
        result: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.resolution_succeeded(py, pending, result)
    }

    /// An async or threaded resolver raised `error`, was cancelled, or timed out.
    fn _resolution_failed(
        &self,
        py: Python<'_>,
        pending: &Bound<'_, PendingResolution>,
        error: Option<&Bound<'_, PyAny>>,
        timed_out: bool,
    ) -> PyResult<()> {
        self.resolution_failed(py, pending, error, timed_out)
    }
}

impl Drop for PySubscriptionExecutor {
    fn drop(&mut self) {
        // Deallocation holds the GIL: take the wake-up socket off the loop before it closes.
        let event_loop = self.reader_loop.get_mut().take();
        if let Some(event_loop) = event_loop {
            Python::attach(|py| {
                let event_loop = event_loop.bind(py);
                let open =
                    event_loop.call_method0("is_closed").and_then(|closed| closed.is_truthy()).map(|closed| !closed);
                if open.unwrap_or(false) {
                    let _ = event_loop.call_method1("remove_reader", (self.wakeup.reader.as_raw_fd(),));
                }
            });
        }
    }
}
