//! The native transport from Python: `NativeEndpoint` runs the `fraiseql-transport` WebSocket
//! server on a tokio runtime, and its [`PythonHost`] hands what is Python's (`on_connect`,
//! registering a subscription) to the application's asyncio loop.
//!
//! Tokio tasks never touch a Python object and never take the GIL. A host call becomes a
//! [`ConnectCall`] or [`SubscribeCall`] in the endpoint's inbox, the loop is woken through a
//! socket it watches (one byte, never blocking), and the loop's callback (`take()`) turns them
//! into Python objects. Python answers through the call object, which sends the answer to the
//! waiting connection task over a oneshot channel; a call dropped unanswered (its Python object
//! collected, its task cancelled) reads as a failure, so no connection waits forever. Python
//! runs once per connection (opened, `connection_init`, closed) and once per `subscribe`, never
//! per frame: frames go from the engine to the socket inside the server.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ahash::AHashSet;
use fraiseql_engine::{Engine, EngineError};
use fraiseql_transport::protocol::{Cause, JsonString, RawJson};
use fraiseql_transport::{
    ConnectDecision, ConnectionRef, Host, RequestInfo, ServerClose, ServerConfig, ServerHandle, StatsSnapshot,
    SubscribeErrors, SubscribeRequest,
};
use parking_lot::Mutex;
use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

use crate::errors::{configuration_error, detached, new_error, IntoPyError};
use crate::executor::PySubscriptionExecutor;
use crate::protocol_values::{self, json_loads, json_string, seconds};

/// The one runtime the native servers of a process share: a worker per core (at most 8), since
/// the connection tasks do the transport's CPU work.
fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(2, |cores| cores.get().min(8));
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("fraiseql-native")
            .enable_all()
            .build()
            .map_err(|error| error.to_string())
    });
    runtime.as_ref().map_err(|error| PyRuntimeError::new_err(format!("cannot start the native runtime: {error}")))
}

/// What the host keeps per accepted connection. Python keeps the real context (a
/// `ConnectionContext`) by connection id; this only says whether the connection is gone, so a
/// subscription Python registers after the close is freed (see [`SubscribeCall::accept`]).
#[derive(Debug, Default)]
pub struct NativeContext {
    closed: AtomicBool,
}

/// The host's answer to `connection_init`, as Python gives it.
enum ConnectAnswer {
    Accept { ack_payload: Option<serde_json::Value>, expires_in: Option<Duration> },
    Refuse { reason: Option<String> },
    Close { code: u16, reason: String },
    Failed,
}

/// A host call waiting for Python.
enum Call {
    Connect(ConnectCall),
    Subscribe(SubscribeCall),
}

/// A server's close of a connection: its code and reason.
type Close = (u16, String);

/// A report of the protocol core ([`Cause`]) as Python takes it: connection id, the cause's
/// name, the subscription id it is about (`None` if none).
type PyReport<'py> = (String, &'static str, Option<Bound<'py, PyAny>>);

/// What `take()` returns: opened ids, calls, reports, reports left out of the list (counts by
/// cause), closed ids with the server's close, stopped.
type Taken<'py> =
    (Vec<String>, Bound<'py, PyList>, Vec<PyReport<'py>>, Vec<(&'static str, u64)>, Vec<(String, Option<Close>)>, bool);

/// Reports kept for the loop at most; beyond, only counted (a client over a limit pays a message
/// for each, but a stalled loop must not make them pile up).
const MAX_REPORTS: usize = 10_000;

/// What tokio tasks leave for the loop. Every part is bounded by the connections: a connection
/// has at most one call pending; an opened connection closed before the loop saw it is
/// forgotten on both sides; a close is noted once per connection the loop knows of.
#[derive(Default)]
struct InboxState {
    opened: AHashSet<Arc<str>>,
    calls: Vec<Call>,
    /// The core's reports (limits reached, credentials expired), in order, before the closes.
    reports: Vec<(Arc<str>, Cause)>,
    /// Reports beyond [`MAX_REPORTS`], counted by cause.
    unlisted_reports: Vec<(&'static str, u64)>,
    closed: Vec<(Arc<str>, Option<Close>)>,
    /// Subscriptions were freed by the server (completed, or their connection closed): the
    /// executor's table of Python resolvers may hold some that nothing uses any more.
    prune: bool,
    stopped: bool,
}

struct Inbox {
    state: Mutex<InboxState>,
    /// Written by tokio tasks (a byte, non-blocking: a full socket already holds a wake-up);
    /// the loop watches the other end.
    wake_writer: UnixStream,
    wake_reader: UnixStream,
    /// Calls waiting at most (`max_connections`: each connection waits for one call at most).
    max_calls: usize,
}

impl Inbox {
    fn new(max_calls: usize) -> std::io::Result<Self> {
        let (wake_reader, wake_writer) = UnixStream::pair()?;
        wake_reader.set_nonblocking(true)?;
        wake_writer.set_nonblocking(true)?;
        Ok(Self { state: Mutex::default(), wake_writer, wake_reader, max_calls })
    }

    fn wake(&self) {
        let _ = (&self.wake_writer).write(&[1]);
    }

    fn clear_wake_ups(&self) {
        use std::io::Read;
        let mut buffer = [0u8; 256];
        while matches!((&self.wake_reader).read(&mut buffer), Ok(n) if n > 0) {}
    }

    fn change(&self, change: impl FnOnce(&mut InboxState)) {
        change(&mut self.state.lock());
        self.wake();
    }

    /// Queues a call; false when the inbox is full (never with the server's own bounds).
    fn call(&self, call: Call) -> bool {
        let mut state = self.state.lock();
        if state.calls.len() >= self.max_calls {
            return false;
        }
        state.calls.push(call);
        drop(state);
        self.wake();
        true
    }
}

/// The server's host: everything goes to Python through the inbox.
struct PythonHost {
    engine: Engine,
    inbox: Arc<Inbox>,
}

fn internal_subscribe_error() -> SubscribeErrors {
    vec![serde_json::json!({"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}})]
}

impl Host for PythonHost {
    type Context = NativeContext;

    fn connection_opened(&self, connection_id: &str) {
        self.inbox.change(|state| {
            state.opened.insert(Arc::from(connection_id));
        });
    }

    async fn on_connect(
        &self,
        connection_id: &str,
        payload: Option<RawJson>,
        request: &RequestInfo,
    ) -> ConnectDecision<NativeContext> {
        let (reply, answer) = oneshot::channel();
        let call = ConnectCall {
            connection_id: connection_id.to_owned(),
            payload,
            request: request.clone(),
            reply: Mutex::new(Some(reply)),
        };
        if !self.inbox.call(Call::Connect(call)) {
            return ConnectDecision::Failed;
        }
        match answer.await {
            Ok(ConnectAnswer::Accept { ack_payload, expires_in }) => {
                ConnectDecision::Accept { context: NativeContext::default(), ack_payload, expires_in }
            }
            Ok(ConnectAnswer::Refuse { reason }) => ConnectDecision::Refuse { reason },
            Ok(ConnectAnswer::Close { code, reason }) => ConnectDecision::Close { code, reason },
            // Python failed, or dropped the call without answering.
            Ok(ConnectAnswer::Failed) | Err(_) => ConnectDecision::Failed,
        }
    }

    async fn subscribe(&self, request: SubscribeRequest<NativeContext>) -> Result<(), SubscribeErrors> {
        let (reply, answer) = oneshot::channel();
        let call = SubscribeCall {
            engine: self.engine.clone(),
            connection_id: request.connection_id.to_string(),
            context: request.context,
            id: request.id,
            query: request.payload.query,
            operation_name: request.payload.operation_name,
            variables: request.payload.variables,
            reply: Mutex::new(Some(reply)),
        };
        if !self.inbox.call(Call::Subscribe(call)) {
            return Err(internal_subscribe_error());
        }
        answer.await.unwrap_or_else(|_| Err(internal_subscribe_error()))
    }

    fn report(&self, connection_id: &str, cause: Cause) {
        self.inbox.change(|state| {
            if state.reports.len() < MAX_REPORTS {
                state.reports.push((Arc::from(connection_id), cause));
                return;
            }
            let name = cause.name();
            match state.unlisted_reports.iter_mut().find(|(unlisted, _)| *unlisted == name) {
                Some((_, count)) => *count += 1,
                None => state.unlisted_reports.push((name, 1)),
            }
        });
    }

    fn complete(&self, _connection: ConnectionRef<'_, NativeContext>, _id: &str) {
        self.inbox.change(|state| state.prune = true);
    }

    fn connection_closed(
        &self,
        connection_id: &str,
        context: Option<&NativeContext>,
        closed_by_server: Option<ServerClose<'_>>,
    ) {
        if let Some(context) = context {
            context.closed.store(true, SeqCst);
            // A subscription Python registered between the server's close and the flag above
            // is freed here; one registered after it is freed by `SubscribeCall::accept`.
            self.engine.close_connection(connection_id);
        }
        self.inbox.change(|state| {
            state.prune = true;
            // Opened and closed before the loop looked: Python never hears of it.
            if !state.opened.remove(connection_id) {
                let close = closed_by_server.map(|close| (close.code, close.reason.to_owned()));
                state.closed.push((Arc::from(connection_id), close));
            }
        });
    }
}

fn take_reply<T>(reply: &Mutex<Option<oneshot::Sender<T>>>, answer: T) -> bool {
    match reply.lock().take() {
        Some(sender) => sender.send(answer).is_ok(),
        None => false,
    }
}

/// A connection's `connection_init`, waiting for Python's decision. Each answer method returns
/// whether the connection was still waiting for it (only the first answer counts).
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "ConnectCall", frozen)]
pub struct ConnectCall {
    connection_id: String,
    payload: Option<RawJson>,
    request: RequestInfo,
    reply: Mutex<Option<oneshot::Sender<ConnectAnswer>>>,
}

#[pymethods]
impl ConnectCall {
    #[getter]
    fn connection_id(&self) -> &str {
        &self.connection_id
    }

    /// The `connection_init` payload (a dict, read as `json.loads` reads the client's JSON) or
    /// `None`.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.payload.as_ref().map(|payload| json_loads(py, payload.as_str())).transpose()
    }

    /// The upgrade request: `(path, query_string or None, [(name, value), ...], (host, port) or
    /// None, [subprotocol, ...])`, header names in lower case.
    #[getter]
    fn request<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let request = &self.request;
        let client = request.client.map(|address| (address.ip().to_string(), address.port()));
        let headers = PyList::empty(py);
        for (name, value) in &request.headers {
            headers.append((name, value))?;
        }
        (request.path.as_str(), request.query.as_deref(), headers, client, request.subprotocols.clone())
            .into_pyobject(py)
    }

    /// Accept: send `connection_ack` (with `ack_payload`, a JSON value, if given); the
    /// connection closes 4403 after `expires_in` seconds, if given.
    #[pyo3(signature = (ack_payload=None, expires_in=None))]
    fn accept(&self, ack_payload: Option<&Bound<'_, PyAny>>, expires_in: Option<f64>) -> PyResult<bool> {
        let ack_payload = protocol_values::ack_payload(ack_payload)?;
        let expires_in = protocol_values::expires_in(expires_in)?;
        Ok(take_reply(&self.reply, ConnectAnswer::Accept { ack_payload, expires_in }))
    }

    /// Refuse: close 4403 "Forbidden" or "Forbidden: <reason>".
    #[pyo3(signature = (reason=None))]
    fn refuse(&self, reason: Option<String>) -> bool {
        take_reply(&self.reply, ConnectAnswer::Refuse { reason })
    }

    /// Close with this code (4000..=4999) and reason.
    fn close(&self, code: u16, reason: String) -> PyResult<bool> {
        let code = protocol_values::host_close_code(code)?;
        Ok(take_reply(&self.reply, ConnectAnswer::Close { code, reason }))
    }

    /// The host failed: close 4500 "Internal server error".
    fn fail(&self) -> bool {
        take_reply(&self.reply, ConnectAnswer::Failed)
    }
}

/// A `subscribe` waiting for Python to register it (under `connection_id` and `id`) or refuse it.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SubscribeCall", frozen)]
pub struct SubscribeCall {
    engine: Engine,
    connection_id: String,
    context: Arc<NativeContext>,
    id: JsonString,
    query: JsonString,
    operation_name: Option<JsonString>,
    variables: Option<RawJson>,
    reply: Mutex<Option<oneshot::Sender<Result<(), SubscribeErrors>>>>,
}

#[pymethods]
impl SubscribeCall {
    #[getter]
    fn connection_id(&self) -> &str {
        &self.connection_id
    }

    /// The subscription id (a `str` with lone surrogates if the client's JSON had them).
    #[getter]
    fn id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_string(py, &self.id)
    }

    /// The document (a `str` with lone surrogates if the client's JSON had them: the manager
    /// refuses it as the Python handler's path does).
    #[getter]
    fn query<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_string(py, &self.query)
    }

    #[getter]
    fn operation_name<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.operation_name.as_ref().map(|name| json_string(py, name)).transpose()
    }

    /// The variables (a dict, read as `json.loads` reads the client's JSON: integers of any
    /// size, `1e400` as infinity, lone surrogates) or `None`.
    #[getter]
    fn variables<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.variables.as_ref().map(|variables| json_loads(py, variables.as_str())).transpose()
    }

    /// The subscription is registered: it goes on. False when the connection is gone, in which
    /// case what was registered under it is freed here.
    fn accept(&self, py: Python<'_>) -> PyResult<bool> {
        let delivered = !self.context.closed.load(SeqCst) && take_reply(&self.reply, Ok(()));
        if !delivered {
            detached(py, || Ok::<_, EngineError>(self.engine.close_connection(&self.connection_id)))?;
        }
        Ok(delivered)
    }

    /// Refused: the client gets an `error` message with these GraphQL formatted errors.
    fn reject(&self, errors: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(take_reply(&self.reply, Err(protocol_values::graphql_errors(errors)?)))
    }
}

/// The address could not be bound (in use, not an address of this machine...).
struct BindError(String);

impl IntoPyError for BindError {
    fn into_py_error(self, _py: Python<'_>) -> PyErr {
        PyOSError::new_err(self.0)
    }
}

/// A native graphql-transport-ws server for one executor.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "NativeEndpoint", frozen)]
pub struct NativeEndpoint {
    executor: Py<PySubscriptionExecutor>,
    inbox: Arc<Inbox>,
    handle: Mutex<Option<ServerHandle>>,
    /// The counters when `stop()` was called (the handle is gone afterwards).
    final_stats: Mutex<StatsSnapshot>,
    address: (String, u16),
}

#[pymethods]
impl NativeEndpoint {
    /// Listens on `host:port` (port 0: any free port) and serves at once; `OSError` when the
    /// address cannot be bound. Limits as in `SubscriptionConfig`; `read_while_connecting`:
    /// whether client messages are read while `on_connect` runs (true for an async one).
    #[staticmethod]
    #[pyo3(signature = (
        executor, host, port, *, path, max_message_size, handshake_timeout, write_timeout,
        max_connections, max_connections_per_address, max_pending_connections,
        connection_init_timeout, keepalive_interval, keepalive_timeout,
        max_subscriptions_per_connection, max_messages_per_second, max_subscribes_per_second,
        read_while_connecting,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn bind(
        py: Python<'_>,
        executor: Py<PySubscriptionExecutor>,
        host: &str,
        port: u16,
        path: &str,
        max_message_size: usize,
        handshake_timeout: f64,
        write_timeout: f64,
        max_connections: Option<usize>,
        max_connections_per_address: Option<usize>,
        max_pending_connections: usize,
        connection_init_timeout: f64,
        keepalive_interval: Option<f64>,
        keepalive_timeout: f64,
        max_subscriptions_per_connection: usize,
        max_messages_per_second: Option<f64>,
        max_subscribes_per_second: Option<f64>,
        read_while_connecting: bool,
    ) -> PyResult<Self> {
        if !path.starts_with('/') {
            return Err(new_error(configuration_error(py), format!("path must start with '/', not {path:?}")));
        }
        let max_connections = max_connections.unwrap_or(usize::MAX);
        let config = ServerConfig {
            path: path.to_owned(),
            protocol: protocol_values::protocol_config(
                py,
                connection_init_timeout,
                keepalive_interval,
                keepalive_timeout,
                max_subscriptions_per_connection,
                max_message_size,
                max_messages_per_second,
                max_subscribes_per_second,
                read_while_connecting,
            )?,
            handshake_timeout: seconds(py, "handshake_timeout", handshake_timeout)?,
            write_timeout: seconds(py, "write_timeout", write_timeout)?,
            max_connections,
            max_pending_connections: max_pending_connections.max(1),
            max_connections_per_address,
            ..ServerConfig::default()
        };
        let inbox = Arc::new(
            Inbox::new(max_connections)
                .map_err(|error| PyRuntimeError::new_err(format!("cannot create the wake-up socket: {error}")))?,
        );
        let engine = executor.get().engine.clone();
        let host_impl = Arc::new(PythonHost { engine: engine.clone(), inbox: inbox.clone() });
        let runtime = runtime()?;
        let address = (host.to_owned(), port);
        let handle = detached(py, || {
            runtime
                .block_on(fraiseql_transport::bind(address, engine, host_impl, config))
                .map_err(|error| BindError(format!("cannot listen on {host}:{port}: {error}")))
        })?;
        let local = handle.local_addr();
        Ok(Self {
            executor,
            inbox,
            handle: Mutex::new(Some(handle)),
            final_stats: Mutex::default(),
            address: (local.ip().to_string(), local.port()),
        })
    }

    /// The address served: `(host, port)`.
    #[getter]
    fn address(&self) -> (String, u16) {
        self.address.clone()
    }

    /// The socket the loop watches (readable when `take()` has something).
    #[getter]
    fn wakeup_fd(&self) -> i32 {
        self.inbox.wake_reader.as_raw_fd()
    }

    /// Connections being served now.
    #[getter]
    fn open_connections(&self) -> usize {
        self.handle.lock().as_ref().map_or(0, ServerHandle::open_connections)
    }

    /// The server's counters (`connections_accepted`, `frames_sent`, `frame_writes`,
    /// `write_timeouts`, `handshake_timeouts`, `refused_per_address`, `evicted`, ...) and gauges
    /// (`tcp_connections`, `pending_connections`), as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let (stats, tcp, pending) = match self.handle.lock().as_ref() {
            Some(handle) => (handle.stats(), handle.tcp_connections(), handle.pending_connections()),
            None => (*self.final_stats.lock(), 0, 0),
        };
        let dict = pyo3::types::PyDict::new(py);
        for (name, value) in [
            ("tcp_connections", tcp as u64),
            ("pending_connections", pending as u64),
            ("connections_accepted", stats.connections_accepted),
            ("refused_per_address", stats.refused_per_address),
            ("evicted", stats.evicted),
            ("refused_max_connections", stats.refused_max_connections),
            ("handshake_timeouts", stats.handshake_timeouts),
            ("write_timeouts", stats.write_timeouts),
            ("frames_sent", stats.frames_sent),
            ("frame_writes", stats.frame_writes),
            ("connection_panics", stats.connection_panics),
        ] {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// What happened since the last call, for the loop: `(opened, calls, reports,
    /// unlisted_reports, closed, stopped)`: connection ids opened, the `ConnectCall`s and
    /// `SubscribeCall`s waiting for an answer, `(connection_id, cause, subscription_id or None)`
    /// of the limits reached and credentials expired (the protocol core's reports, each before its
    /// close or `error`), `(cause, count)` of reports beyond what the list keeps,
    /// `(connection_id, (code, reason) or None)` of connections gone, and whether the server has
    /// stopped (every connection closed).
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Taken<'py>> {
        self.inbox.clear_wake_ups();
        let state = std::mem::take(&mut *self.inbox.state.lock());
        if state.prune {
            self.executor.get().prune_resolvers();
        }
        let calls = PyList::empty(py);
        for call in state.calls {
            match call {
                Call::Connect(call) => calls.append(Bound::new(py, call)?)?,
                Call::Subscribe(call) => calls.append(Bound::new(py, call)?)?,
            }
        }
        let opened = state.opened.iter().map(|id| id.to_string()).collect();
        let reports = state
            .reports
            .into_iter()
            .map(|(id, cause)| {
                let subscription = match &cause {
                    Cause::SubscriptionsPerConnection { id } => Some(json_string(py, id)?),
                    _ => None,
                };
                Ok((id.to_string(), cause.name(), subscription))
            })
            .collect::<PyResult<_>>()?;
        let closed = state.closed.into_iter().map(|(id, close)| (id.to_string(), close)).collect();
        Ok((opened, calls, reports, state.unlisted_reports, closed, state.stopped))
    }

    /// Stops accepting and closes every connection with 1001; `take()` says `stopped` once all
    /// are gone. Calling it again does nothing.
    fn stop(&self) -> PyResult<()> {
        let Some(handle) = self.handle.lock().take() else { return Ok(()) };
        *self.final_stats.lock() = handle.stats();
        let inbox = self.inbox.clone();
        runtime()?.spawn(async move {
            handle.shutdown().await;
            inbox.change(|state| state.stopped = true);
        });
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("<NativeEndpoint ws://{}:{}>", self.address.0, self.address.1)
    }
}
