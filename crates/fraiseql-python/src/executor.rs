//! `PySubscriptionExecutor`: the engine as Python sees it.
//!
//! Python objects live only here and in `resolvers.rs`, and only while the GIL is held: the
//! engine knows resolvers by number and connections by id. Engine work runs with the GIL
//! released, except the few calls made while the resolver table lock is held (attaching a
//! resolver): a Rust lock is never held across a GIL release, so no thread can wait for the GIL
//! while holding one. Resolvers run once per event and group (see `resolvers.rs`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use fraiseql_engine::{
    DocumentLimits, Engine, EngineConfig, EngineError, EventScope, OverflowPolicy, QueuedFrame, Registration,
    ResolverErrorPolicy, SchemaModel, ScopeFields, ScopeKey, SecurityContext, SubscriptionRef, WaitState,
    LATENCY_BUCKET_BOUNDS_NS,
};
use parking_lot::Mutex;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyInt, PyList, PyString, PyType};

use crate::bus::BusLink;
use crate::bus_config::{BusConfig, PyEventBusConfig};
use crate::convert;
use crate::errors::{attached, configuration_error, connection_closed_error, detached, new_error, IntoPyError};
use crate::filter::CompiledFilter;
use crate::resolvers::{PendingResolution, ResolverSettings, ResolverTable, SyncResolvers, BRIDGE_MODULE};

/// The socket pair through which the engine wakes the application's loop.
struct Wakeup {
    reader: UnixStream,
    writer: Arc<UnixStream>,
}

impl Wakeup {
    fn new() -> std::io::Result<Self> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Self { reader, writer: Arc::new(writer) })
    }

    fn clear(&self) {
        let mut buffer = [0u8; 256];
        while matches!((&self.reader).read(&mut buffer), Ok(n) if n > 0) {}
    }
}

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

fn scope_key(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<ScopeKey>> {
    let Some(value) = value else { return Ok(None) };
    if value.is_none() {
        return Ok(None);
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(Some(Arc::from(text.to_str()?)));
    }
    if value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>() {
        return Ok(Some(Arc::from(value.str()?.to_str()?)));
    }
    Err(PyTypeError::new_err(format!("{name} must be a str or an int, not {}", value.get_type().name()?)))
}

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

/// The loop running in this thread; `RuntimeError` naming `what` otherwise.
fn running_loop_or_error<'py>(py: Python<'py>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import(intern!(py, "asyncio"))?.call_method0(intern!(py, "get_running_loop")).map_err(|_| {
        PyRuntimeError::new_err(format!("{what}() must be called from a coroutine running on an asyncio loop"))
    })
}

fn frames_to_list<'py>(py: Python<'py>, frames: &[QueuedFrame]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for frame in frames {
        list.append(frame_bytes(py, frame)?)?;
    }
    Ok(list)
}

fn frame_bytes<'py>(py: Python<'py>, frame: &QueuedFrame) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, frame.len(), |buffer| {
        frame.write_into(buffer);
        Ok(())
    })
}

impl PySubscriptionExecutor {
    fn sub<'a>(subscription_id: &'a str, connection_id: Option<&'a str>) -> SubscriptionRef<'a> {
        SubscriptionRef { subscription_id, connection_id }
    }

    fn drain_to_list<'py>(&self, py: Python<'py>, connection_id: &str, max: usize) -> PyResult<Bound<'py, PyList>> {
        let frames = detached(py, || self.engine.drain_at_most(connection_id, max))?;
        self.prune_resolvers();
        frames_to_list(py, &frames)
    }

    /// An event's data as JSON (through the serializers) and its explicit scope.
    fn event_parts(
        &self,
        data: &Bound<'_, PyAny>,
        tenant_id: Option<&Bound<'_, PyAny>>,
        user_id: Option<&Bound<'_, PyAny>>,
        global: bool,
    ) -> PyResult<(serde_json::Value, EventScope)> {
        let value = convert::to_json_with(data, "data", &self.serializers)?;
        let scope =
            EventScope { tenant: scope_key(tenant_id, "tenant_id")?, user: scope_key(user_id, "user_id")?, global };
        Ok((value, scope))
    }

    /// The bus form of an event, its scope checked here as the engine would (a malformed
    /// tenant field is the publisher's error, not a surprise on every other process).
    fn bus_event(
        &self,
        py: Python<'_>,
        event_type: &str,
        channel: &str,
        data: serde_json::Value,
        scope: EventScope,
    ) -> PyResult<fraiseql_bus::BusEvent> {
        attached(py, || self.engine.config().scope_fields.resolve(&data, scope.clone()))?;
        Ok(fraiseql_bus::BusEvent {
            event_type: event_type.to_owned(),
            channel: channel.to_owned(),
            data,
            tenant: scope.tenant.map(|tenant| tenant.to_string()),
            user: scope.user.map(|user| user.to_string()),
            global: scope.global,
        })
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

    /// Takes what the bus left for Python: log notes, settled async publishes, and the resolver
    /// jobs of events read from the bus (run as `publish_event` runs them, on this thread's loop
    /// when there is one).
    fn process_inbox(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let Some(link) = &this.bus else { return Ok(()) };
        if link.inbox.is_empty() {
            return Ok(());
        }
        let mut first_error = None;
        let notes = link.inbox.take_notes();
        if !notes.is_empty() {
            let bridge = py.import(BRIDGE_MODULE)?;
            for note in notes {
                let level = match note.level {
                    fraiseql_bus::NoteLevel::Info => "info",
                    fraiseql_bus::NoteLevel::Warning => "warning",
                    fraiseql_bus::NoteLevel::Error => "error",
                };
                if let Err(error) = bridge.call_method1(intern!(py, "log_bus_note"), (level, note.event, note.message))
                {
                    first_error.get_or_insert(error);
                }
            }
        }
        for (token, outcome) in link.inbox.take_settled() {
            let Some(future) = this.publish_waiters.lock().remove(&token) else { continue };
            let future = future.bind(py);
            if future.call_method0(intern!(py, "done"))?.is_truthy()? {
                continue; // cancelled by its caller: the event was published all the same
            }
            let settled = match outcome {
                Ok(()) => future.call_method1(intern!(py, "set_result"), (py.None(),)),
                Err(error) => {
                    let error = error.into_py_error(py);
                    future.call_method1(intern!(py, "set_exception"), (error.value(py),))
                }
            };
            if let Err(error) = settled {
                first_error.get_or_insert(error);
            }
        }
        for jobs in link.inbox.take_jobs() {
            let Some(first) = jobs.first() else { continue };
            let event = convert::to_python(py, &first.event().data)?;
            for job in jobs {
                if let Err(error) = Self::run_job(slf, job, &event) {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn closed_error(py: Python<'_>, connection_id: &str) -> PyErr {
        new_error(connection_closed_error(py), format!("connection {connection_id:?} is closed"))
    }

    /// Hands frames (or the closed signal) to a waiting writer; false when it must keep waiting.
    fn settle_waiter(&self, py: Python<'_>, connection_id: &str, future: &Bound<'_, PyAny>) -> PyResult<bool> {
        let state = match self.engine.arm(connection_id) {
            Ok(state) => state,
            Err(_) => WaitState::Closed,
        };
        match state {
            WaitState::Ready => {
                let frames = self.drain_to_list(py, connection_id, usize::MAX)?;
                future.call_method1(intern!(py, "set_result"), (frames,))?;
                Ok(true)
            }
            WaitState::Closed => {
                let error = Self::closed_error(py, connection_id);
                future.call_method1(intern!(py, "set_exception"), (error.value(py),))?;
                Ok(true)
            }
            WaitState::Armed => Ok(false),
        }
    }

    fn ensure_reader(slf: &Bound<'_, Self>, event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let previous = {
            let current = this.reader_loop.lock();
            match current.as_ref() {
                Some(existing) if existing.bind(py).is(event_loop) => return Ok(()),
                other => other.map(|l| l.clone_ref(py)),
            }
        };
        let fd = this.wakeup.reader.as_raw_fd();
        if let Some(previous) = previous {
            let previous = previous.bind(py);
            if !previous.call_method0(intern!(py, "is_closed"))?.is_truthy()? {
                previous.call_method1(intern!(py, "remove_reader"), (fd,))?;
            }
        }
        py.import(BRIDGE_MODULE)?.call_method1(intern!(py, "install_reader"), (event_loop, fd, slf))?;
        *this.reader_loop.lock() = Some(event_loop.clone().unbind());
        Ok(())
    }
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
        let config_error = |message: String| new_error(configuration_error(py), message);
        let overflow = OverflowPolicy::parse(overflow).ok_or_else(|| {
            config_error(format!("overflow must be \"drop_oldest\" or \"drop_newest\", not {overflow:?}"))
        })?;
        if max_queued_frames < 1 {
            return Err(config_error(format!("max_queued_frames must be at least 1, not {max_queued_frames}")));
        }
        let at_least_one = |name: &str, value: i64| -> PyResult<usize> {
            usize::try_from(value)
                .ok()
                .filter(|value| *value >= 1)
                .ok_or_else(|| config_error(format!("{name} must be at least 1, not {value}")))
        };
        at_least_one("document_cache_size", document_cache_size)?;
        let document_cache_bytes = at_least_one("document_cache_bytes", document_cache_bytes)?;
        let document_limits = DocumentLimits {
            max_size: at_least_one("max_document_size", max_document_size)?,
            max_depth: at_least_one("max_depth", max_depth)?,
            max_selections: at_least_one("max_selections", max_selections)?,
            max_aliases: usize::try_from(max_aliases)
                .map_err(|_| config_error(format!("max_aliases must be 0 or more, not {max_aliases}")))?,
        };
        for (name, seconds) in [
            ("resolver_timeout", resolver_timeout),
            ("slow_resolver_threshold", slow_resolver_threshold),
            ("max_frames_per_second", max_frames_per_second),
        ] {
            if let Some(seconds) = seconds {
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err(config_error(format!(
                        "{name} must be a positive number of seconds or None, not {seconds}"
                    )));
                }
            }
        }
        let resolver_errors = ResolverErrorPolicy::parse(resolver_errors).ok_or_else(|| {
            config_error(format!("resolver_errors must be \"field_error\" or \"end_stream\", not {resolver_errors:?}"))
        })?;
        let resolver_settings = ResolverSettings {
            timeout: resolver_timeout,
            sync_resolvers: SyncResolvers::parse(sync_resolvers).ok_or_else(|| {
                config_error(format!("sync_resolvers must be \"thread\" or \"inline\", not {sync_resolvers:?}"))
            })?,
            threads: at_least_one("sync_resolver_threads", sync_resolver_threads)?,
            slow_after: slow_resolver_threshold,
            expose_errors: expose_resolver_errors,
        };
        let schema = match schema_sdl {
            Some(sdl) => Some(attached(py, || SchemaModel::parse(sdl))?),
            None => None,
        };
        let engine = Engine::new(EngineConfig {
            max_queued_frames: max_queued_frames as usize,
            overflow,
            document_cache_size: document_cache_size as usize,
            document_cache_bytes,
            scope_fields: ScopeFields { tenant_field, user_field },
            schema,
            document_limits,
            resolver_errors,
            max_frames_per_second,
        });
        let mut custom_serializers = Vec::new();
        if let Some(serializers) = serializers {
            for (type_, serializer) in serializers.iter() {
                let type_ = type_
                    .cast_into::<PyType>()
                    .map_err(|_| config_error("serializers must map types to callables".to_owned()))?;
                if !serializer.is_callable() {
                    return Err(config_error(format!("the serializer for {} is not callable", type_.name()?)));
                }
                custom_serializers.push((type_.unbind(), serializer.unbind()));
            }
        }
        let wakeup = Wakeup::new()
            .map_err(|error| PyRuntimeError::new_err(format!("cannot create the wake-up socket: {error}")))?;
        let writer = wakeup.writer.clone();
        // Never blocks: a full socket already holds a pending wake-up.
        let wake: fraiseql_engine::engine::ReadyNotifier = Arc::new(move || {
            let _ = (&*writer).write(&[1]);
        });
        engine.set_ready_notifier(Some(wake.clone()));
        let bus_config = match bus_config {
            Some(config) => config,
            None => Py::new(py, PyEventBusConfig { config: BusConfig::Memory })?,
        };
        let bus = match &bus_config.get().config {
            BusConfig::Memory => None,
            BusConfig::Distributed { config, options } => {
                let (config, options, engine) = (config.clone(), *options, engine.clone());
                Some(detached(py, move || BusLink::start(config, options, engine, wake))?)
            }
        };
        Ok(Self {
            engine,
            bus_config,
            resolver_settings,
            resolvers: Mutex::default(),
            sync_runner: PyOnceLock::new(),
            wakeup,
            waiters: Mutex::default(),
            reader_loop: Mutex::new(None),
            attached_loop: Mutex::new(None),
            serializers: custom_serializers,
            bus,
            publish_waiters: Mutex::default(),
        })
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
        let filter_inputs = filter_inputs.filter(|inputs| !inputs.is_none());
        let filter = match (filter, filter_inputs) {
            (None, None) => None,
            (None, Some(_)) => {
                let message = "filter_inputs is given without a filter: it would do nothing";
                return Err(new_error(configuration_error(py), message.to_owned()));
            }
            (Some(filter), inputs) => {
                let (context, arguments) = match inputs {
                    None => (serde_json::Value::Null, serde_json::Value::Null),
                    Some(inputs) => {
                        let mut inputs = convert::to_json_object(inputs, "filter_inputs")?;
                        let taken = (inputs.remove("context"), inputs.remove("args"));
                        if let Some(unknown) = inputs.keys().next() {
                            let message = format!("filter_inputs takes \"context\" and \"args\", not \"{unknown}\"");
                            return Err(new_error(configuration_error(py), message));
                        }
                        (taken.0.unwrap_or_default(), taken.1.unwrap_or_default())
                    }
                };
                Some((filter.filter.clone(), Arc::new(fraiseql_engine::filter::inputs(context, arguments))))
            }
        };
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
        let py = slf.py();
        let this = slf.get();
        let (value, scope) = this.event_parts(data, tenant_id, user_id, global_event)?;
        if let Some(link) = &this.bus {
            // Through the bus: every process (this one included) gets it from there; this
            // returns once it is stored and dispatched here (within the publish timeout).
            let event = this.bus_event(py, event_type, channel, value, scope)?;
            detached(py, || link.bus.publish_blocking(event))?;
            return Self::process_inbox(slf);
        }
        let outcome = detached(py, || this.engine.publish(event_type, channel, value, scope))?;
        // Every group's resolver runs, whatever happens to another's; a failure inside the
        // binding itself (not the resolver's) is raised once all of them ran.
        let mut first_error = None;
        for job in outcome.jobs {
            if let Err(error) = Self::run_job(slf, job, data) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
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
        let py = slf.py();
        let this = slf.get();
        let event_loop = running_loop_or_error(py, "publish_event_async")?;
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        let Some(link) = &this.bus else {
            Self::publish_event(slf, event_type, channel, data, tenant_id, user_id, global_event)?;
            future.call_method1(intern!(py, "set_result"), (py.None(),))?;
            return Ok(future);
        };
        Self::ensure_reader(slf, &event_loop)?;
        let (value, scope) = this.event_parts(data, tenant_id, user_id, global_event)?;
        let event = this.bus_event(py, event_type, channel, value, scope)?;
        let mut waiters = this.publish_waiters.lock();
        let token = link.publish_later(event);
        waiters.insert(token, future.clone().unbind());
        Ok(future)
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
        let py = slf.py();
        let this = slf.get();
        let event_loop = running_loop_or_error(py, "wait_for_frames")?;
        Self::ensure_reader(slf, &event_loop)?;
        // An unknown connection is an error here (a waiter woken later finds it closed instead).
        attached(py, || this.engine.arm(connection_id).map(drop))?;
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        if !this.settle_waiter(py, connection_id, &future)? {
            let previous = this.waiters.lock().insert(Arc::from(connection_id), future.clone().unbind());
            if let Some(previous) = previous {
                // One writer per connection: a newer wait replaces the older one.
                previous.bind(py).call_method0(intern!(py, "cancel"))?;
            }
        }
        Ok(future)
    }

    /// Lets async resolvers of events published from other threads run on `loop`.
    fn attach_event_loop(&self, event_loop: &Bound<'_, PyAny>) {
        *self.attached_loop.lock() = Some(event_loop.clone().unbind());
    }

    /// Counters, gauges and latency histograms of this executor.
    fn get_metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
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

    fn __repr__(&self) -> String {
        let metrics = self.engine.metrics();
        format!(
            "<PySubscriptionExecutor connections={} subscriptions={}>",
            metrics.active_connections, metrics.active_subscriptions
        )
    }

    /// Called by the loop when the engine signalled ready connections.
    fn _on_frames_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        this.wakeup.clear();
        // Every ready writer is settled even if one of them fails; the first error is raised last.
        let mut first_error = Self::process_inbox(slf).err();
        for connection in this.engine.take_ready() {
            let waiter = this.waiters.lock().remove(&connection.id);
            let Some(future) = waiter else { continue };
            let future = future.bind(py);
            let settled = future.call_method0(intern!(py, "done")).and_then(|done| done.is_truthy()).and_then(|done| {
                if done {
                    Ok(true)
                } else {
                    this.settle_waiter(py, &connection.id, future)
                }
            });
            match settled {
                Ok(true) => {}
                Ok(false) => {
                    this.waiters.lock().insert(connection.id.clone(), future.clone().unbind());
                }
                Err(error) => {
                    let _ = future.call_method1(intern!(py, "set_exception"), (error.value(py),));
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
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
