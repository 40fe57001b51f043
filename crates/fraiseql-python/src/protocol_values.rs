//! Values crossing between Python and the graphql-transport-ws core (`fraiseql_transport::protocol`),
//! shared by its two drivers in this binding (`native.rs`, `protocol_session.rs`): the client's
//! JSON read as the Python handler always read it (`json.loads`), the host's answers as the core
//! takes them, and the protocol's limits from `SubscriptionConfig`.

use std::time::Duration;

use fraiseql_transport::protocol::{JsonString, ProtocolConfig};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use serde_json::Value;

use crate::convert;
use crate::errors::{configuration_error, new_error};

/// The client's JSON text read as Python reads it (`json.loads`: integers of any size, `1e400` as
/// infinity, lone surrogates). Once per `connection_init` or `subscribe`, never per frame.
pub fn json_loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    static LOADS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let loads = LOADS.get_or_try_init(py, || py.import("json")?.getattr("loads").map(Bound::unbind))?;
    loads.bind(py).call1((text,))
}

/// A client's JSON string as a `str` (with lone surrogates if the client's JSON had them).
pub fn json_string<'py>(py: Python<'py>, text: &JsonString) -> PyResult<Bound<'py, PyAny>> {
    match text {
        JsonString::Text(text) => Ok(PyString::new(py, text).into_any()),
        JsonString::NotUnicode(literal) => json_loads(py, literal.as_str()),
    }
}

/// A subscription id given back by Python: its text, or (lone surrogates, which a Rust string
/// cannot hold) `Err` with its JSON string literal.
pub fn subscription_id(id: &Bound<'_, PyAny>) -> PyResult<Result<String, String>> {
    let id = id.cast::<PyString>().map_err(|_| PyValueError::new_err("a subscription id is a str"))?;
    if let Ok(text) = id.to_str() {
        return Ok(Ok(text.to_owned()));
    }
    static DUMPS: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();
    let py = id.py();
    let dumps = DUMPS.get_or_try_init(py, || py.import("json")?.getattr("dumps").map(Bound::unbind))?;
    Ok(Err(dumps.bind(py).call1((id,))?.extract()?))
}

/// `connection_ack`'s payload: any JSON value, `None` for none.
pub fn ack_payload(payload: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Value>> {
    payload.filter(|payload| !payload.is_none()).map(|payload| convert::to_json(payload, "ack_payload")).transpose()
}

/// The credentials' lifetime in seconds (none left: at once).
pub fn expires_in(seconds: Option<f64>) -> PyResult<Option<Duration>> {
    seconds
        .map(|seconds| {
            Duration::try_from_secs_f64(seconds.max(0.0))
                .map_err(|_| PyValueError::new_err(format!("expires_in must be a number of seconds, not {seconds}")))
        })
        .transpose()
}

/// A host's own close code for `connection_init` (4000..=4999).
pub fn host_close_code(code: u16) -> PyResult<u16> {
    if (4000..=4999).contains(&code) {
        Ok(code)
    } else {
        Err(PyValueError::new_err(format!("close code must be within 4000..=4999, not {code}")))
    }
}

/// The GraphQL formatted errors of an `error` message.
pub fn graphql_errors(errors: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    match convert::to_json(errors, "errors")? {
        Value::Array(errors) => Ok(errors),
        _ => Err(PyValueError::new_err("errors must be a list of GraphQL formatted errors")),
    }
}

/// A positive number of seconds (`ConfigurationError` otherwise).
pub fn seconds(py: Python<'_>, name: &str, value: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|duration| !duration.is_zero())
        .ok_or_else(|| new_error(configuration_error(py), format!("{name} must be a positive number of seconds")))
}

fn positive_rate(py: Python<'_>, name: &str, value: Option<f64>) -> PyResult<Option<f64>> {
    match value {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => {
            Err(new_error(configuration_error(py), format!("{name} must be positive or None, not {rate}")))
        }
        other => Ok(other),
    }
}

/// The protocol's limits and timers, as `SubscriptionConfig` names them (`ConfigurationError`
/// for a value the core cannot take).
#[allow(clippy::too_many_arguments)]
pub fn protocol_config(
    py: Python<'_>,
    connection_init_timeout: f64,
    keepalive_interval: Option<f64>,
    keepalive_timeout: f64,
    max_subscriptions_per_connection: usize,
    max_message_size: usize,
    max_messages_per_second: Option<f64>,
    max_subscribes_per_second: Option<f64>,
    read_while_connecting: bool,
) -> PyResult<ProtocolConfig> {
    Ok(ProtocolConfig {
        connection_init_timeout: seconds(py, "connection_init_timeout", connection_init_timeout)?,
        keepalive_interval: keepalive_interval
            .map(|interval| seconds(py, "keepalive_interval", interval))
            .transpose()?,
        keepalive_timeout: seconds(py, "keepalive_timeout", keepalive_timeout)?,
        max_subscriptions_per_connection: max_subscriptions_per_connection.max(1),
        max_message_size,
        max_messages_per_second: positive_rate(py, "max_messages_per_second", max_messages_per_second)?,
        max_subscribes_per_second: positive_rate(py, "max_subscribes_per_second", max_subscribes_per_second)?,
        read_while_connecting,
    })
}
