//! `ProtocolSession`: the graphql-transport-ws core (`fraiseql_transport::protocol::Session`, the
//! state machine the native server drives) for the Python adapters' handler, so both transports
//! run one protocol implementation.
//!
//! The handler feeds it what happened (a client message, a host decision, the time) and carries
//! out the actions each call returns: one call into Rust per client message. Frames from the
//! engine never pass through it. Timers are the core's deadlines: a `SessionTimer` action says
//! when the next one is due (only when it moved), and the handler then calls `handle_timeout`.

use std::sync::Arc;
use std::time::Instant;

use fraiseql_transport::protocol::{Action, Cause, ConnectOutcome, Session, SubscribePayload};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use crate::protocol_values::{self, json_loads, json_string};

/// Send this text message.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SessionSend", frozen, get_all)]
pub struct SessionSend {
    text: Py<PyString>,
}

/// Close the socket with this code and reason (at most 123 bytes); the session's last action.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SessionClose", frozen, get_all)]
pub struct SessionClose {
    code: u16,
    reason: String,
}

/// Ask the host about `connection_init` (`on_connect`); answer with a `connect_*` method.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SessionAuthenticate", frozen, get_all)]
pub struct SessionAuthenticate {
    payload: Py<PyAny>,
}

/// Register a subscription; answer with `subscribe_accept` or `subscribe_reject`.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SessionSubscribe", frozen, get_all)]
pub struct SessionSubscribe {
    id: Py<PyAny>,
    query: Py<PyAny>,
    operation_name: Py<PyAny>,
    variables: Py<PyAny>,
}

/// The client completed a subscription: free it in the engine.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SessionComplete", frozen, get_all)]
pub struct SessionComplete {
    id: String,
}

/// Why the next action (a close, or a subscribe's `error`) happens: a limit or expired
/// credentials, for counters and logs.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SessionReport", frozen, get_all)]
pub struct SessionReport {
    cause: &'static str,
    subscription_id: Py<PyAny>,
}

/// The next deadline moved: call `handle_timeout` in `delay` seconds (`None`: no deadline).
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "SessionTimer", frozen, get_all)]
pub struct SessionTimer {
    delay: Option<f64>,
}

/// One connection's graphql-transport-ws state machine.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "ProtocolSession")]
pub struct ProtocolSession {
    session: Session,
    /// The deadline the driver was last told of.
    announced_deadline: Option<Instant>,
}

impl ProtocolSession {
    /// The actions the last input produced, then a `SessionTimer` if the deadline moved.
    fn actions<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let actions = PyList::empty(py);
        while let Some(action) = self.session.poll_action() {
            actions.append(action_object(py, action)?)?;
        }
        let deadline = self.session.next_deadline();
        if deadline != self.announced_deadline {
            self.announced_deadline = deadline;
            actions.append(Bound::new(py, SessionTimer { delay: delay(deadline) })?)?;
        }
        Ok(actions)
    }

    fn subscribe_decided<'py>(
        &mut self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
        result: Result<(), Vec<serde_json::Value>>,
    ) -> PyResult<Bound<'py, PyList>> {
        match protocol_values::subscription_id(id)? {
            Ok(id) => self.session.subscribe_decided(&id, result),
            Err(literal) => self.session.not_unicode_subscribe_decided(&literal, result),
        }
        self.actions(py)
    }
}

fn delay(deadline: Option<Instant>) -> Option<f64> {
    deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()).as_secs_f64())
}

fn optional<'py>(py: Python<'py>, value: Option<Bound<'py, PyAny>>) -> Py<PyAny> {
    value.map_or_else(|| py.None(), Bound::unbind)
}

fn action_object(py: Python<'_>, action: Action) -> PyResult<Bound<'_, PyAny>> {
    Ok(match action {
        Action::Send(text) => Bound::new(py, SessionSend { text: PyString::new(py, &text).unbind() })?.into_any(),
        Action::Close { code, reason } => Bound::new(py, SessionClose { code, reason })?.into_any(),
        Action::Authenticate { payload } => {
            let payload = payload.map(|payload| json_loads(py, payload.as_str())).transpose()?;
            Bound::new(py, SessionAuthenticate { payload: optional(py, payload) })?.into_any()
        }
        Action::Subscribe { id, payload } => {
            let SubscribePayload { query, operation_name, variables, .. } = payload;
            let subscribe = SessionSubscribe {
                id: json_string(py, &id)?.unbind(),
                query: json_string(py, &query)?.unbind(),
                operation_name: optional(py, operation_name.map(|name| json_string(py, &name)).transpose()?),
                variables: optional(py, variables.map(|variables| json_loads(py, variables.as_str())).transpose()?),
            };
            Bound::new(py, subscribe)?.into_any()
        }
        Action::Complete { id } => Bound::new(py, SessionComplete { id })?.into_any(),
        Action::Report(cause) => {
            let subscription_id = match &cause {
                Cause::SubscriptionsPerConnection { id } => Some(json_string(py, id)?),
                _ => None,
            };
            let report = SessionReport { cause: cause.name(), subscription_id: optional(py, subscription_id) };
            Bound::new(py, report)?.into_any()
        }
    })
}

#[pymethods]
impl ProtocolSession {
    /// A connection just accepted: its `connection_init` timer runs from now. Limits as in
    /// `SubscriptionConfig`; `read_while_connecting`: whether messages are taken while the host
    /// decides on `connection_init` (a driver that answers a plain `on_connect` before it reads
    /// on keeps the default).
    #[new]
    #[pyo3(signature = (
        *, connection_init_timeout, keepalive_interval, keepalive_timeout,
        max_subscriptions_per_connection, max_message_size, max_messages_per_second,
        max_subscribes_per_second, read_while_connecting=true,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        connection_init_timeout: f64,
        keepalive_interval: Option<f64>,
        keepalive_timeout: f64,
        max_subscriptions_per_connection: usize,
        max_message_size: usize,
        max_messages_per_second: Option<f64>,
        max_subscribes_per_second: Option<f64>,
        read_while_connecting: bool,
    ) -> PyResult<Self> {
        let config = protocol_values::protocol_config(
            py,
            connection_init_timeout,
            keepalive_interval,
            keepalive_timeout,
            max_subscriptions_per_connection,
            max_message_size,
            max_messages_per_second,
            max_subscribes_per_second,
            read_while_connecting,
        )?;
        let session = Session::new(Arc::new(config), Instant::now());
        Ok(Self { announced_deadline: session.next_deadline(), session })
    }

    /// A text message from the client.
    fn receive<'py>(&mut self, text: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyList>> {
        // A WebSocket text message is UTF-8: a str with lone surrogates comes from no socket.
        self.session.handle_text(&text.to_string_lossy(), Instant::now());
        self.actions(text.py())
    }

    /// A binary message from the client.
    fn receive_binary<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.session.handle_binary();
        self.actions(py)
    }

    /// A message the WebSocket layer refused as larger than `max_message_size`.
    fn receive_oversized<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.session.handle_oversized();
        self.actions(py)
    }

    /// `on_connect` accepted: `connection_ack` (with `ack_payload`, a JSON value, if given); the
    /// credentials expire after `expires_in` seconds, if given (none left: at once).
    #[pyo3(signature = (ack_payload=None, expires_in=None))]
    fn connect_accept<'py>(
        &mut self,
        py: Python<'py>,
        ack_payload: Option<&Bound<'py, PyAny>>,
        expires_in: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let outcome = ConnectOutcome::Accept {
            ack_payload: protocol_values::ack_payload(ack_payload)?,
            expires_in: protocol_values::expires_in(expires_in)?,
        };
        self.session.connect_decided(outcome, Instant::now());
        self.actions(py)
    }

    /// `on_connect` refused: close 4403 "Forbidden" or "Forbidden: <reason>".
    #[pyo3(signature = (reason=None))]
    fn connect_refuse<'py>(&mut self, py: Python<'py>, reason: Option<String>) -> PyResult<Bound<'py, PyList>> {
        self.session.connect_decided(ConnectOutcome::Refuse { reason }, Instant::now());
        self.actions(py)
    }

    /// The host closes the connection with its own code (4000..=4999) and reason.
    fn connect_close<'py>(&mut self, py: Python<'py>, code: u16, reason: String) -> PyResult<Bound<'py, PyList>> {
        let code = protocol_values::host_close_code(code)?;
        self.session.connect_decided(ConnectOutcome::Close { code, reason }, Instant::now());
        self.actions(py)
    }

    /// The host failed on `connection_init`: close 4500.
    fn connect_fail<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.session.connect_decided(ConnectOutcome::Failed, Instant::now());
        self.actions(py)
    }

    /// The subscription `id` (as the `SessionSubscribe` gave it) is registered.
    fn subscribe_accept<'py>(&mut self, id: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        self.subscribe_decided(id.py(), id, Ok(()))
    }

    /// The subscription `id` is refused: an `error` message with these GraphQL formatted errors.
    fn subscribe_reject<'py>(
        &mut self,
        id: &Bound<'py, PyAny>,
        errors: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let errors = protocol_values::graphql_errors(errors)?;
        self.subscribe_decided(id.py(), id, Err(errors))
    }

    /// The engine ended subscription `id` with an `error` frame (sent): the id is free again.
    fn subscription_ended(&mut self, id: &str) {
        self.session.subscription_ended(id);
    }

    /// Whether `id` is a subscription of the client's (registered, or waiting for the host):
    /// the frames of any other id are of one the client completed.
    fn has_subscription(&self, id: &str) -> bool {
        self.session.has_subscription(id)
    }

    /// The deadline of the last `SessionTimer` came (a late or early call is harmless).
    fn handle_timeout<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.session.handle_timeout(Instant::now());
        self.actions(py)
    }

    /// Server shutdown: close 1001 "Going away".
    fn shutdown<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.session.shutdown();
        self.actions(py)
    }

    /// An unexpected failure of the driver or the host: close 4500 "Internal server error".
    fn internal_error<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        self.session.internal_error();
        self.actions(py)
    }

    /// Seconds until the next deadline (`None`: none).
    #[getter]
    fn next_deadline(&self) -> Option<f64> {
        delay(self.session.next_deadline())
    }

    /// False while a subscribe waits for the host's answer, and once closed: read no client
    /// message meanwhile.
    #[getter]
    fn wants_input(&self) -> bool {
        self.session.wants_input()
    }

    #[getter]
    fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    fn __repr__(&self) -> String {
        format!("<ProtocolSession closed={}>", self.session.is_closed())
    }
}
