//! The one place where engine errors and panics become Python exceptions, and the one helper
//! that runs engine work with the GIL released.

use std::panic::{catch_unwind, AssertUnwindSafe};

use fraiseql_bus::BusError;
use fraiseql_engine::EngineError;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PyType};

use crate::convert;

const ERRORS_MODULE: &str = "fraiseql.subscriptions.errors";

/// An exception class of `fraiseql.subscriptions.errors`, looked up once.
fn exception_class<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyType>>, name: &str) -> Bound<'py, PyType> {
    let found = cell.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        Ok(py.import(ERRORS_MODULE)?.getattr(name)?.cast_into::<PyType>()?.unbind())
    });
    match found {
        Ok(class) => class.bind(py).clone(),
        // The package is always importable beside its extension; keep a clear fallback anyway.
        Err(_) => py.get_type::<PyRuntimeError>(),
    }
}

macro_rules! exception_classes {
    ($($function:ident => $name:literal),* $(,)?) => {
        $(
            pub fn $function(py: Python<'_>) -> Bound<'_, PyType> {
                static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
                exception_class(py, &CELL, $name)
            }
        )*
    };
}

exception_classes! {
    graphql_document_error => "GraphQLDocumentError",
    duplicate_subscription_error => "DuplicateSubscriptionError",
    subscription_not_found_error => "SubscriptionNotFoundError",
    ambiguous_subscription_error => "AmbiguousSubscriptionError",
    connection_not_found_error => "ConnectionNotFoundError",
    connection_closed_error => "ConnectionClosedError",
    invalid_event_error => "InvalidEventError",
    configuration_error => "ConfigurationError",
    internal_engine_error => "InternalEngineError",
    bus_error => "BusError",
    bus_connection_error => "BusConnectionError",
    publish_timeout_error => "PublishTimeoutError",
    bus_closed_error => "BusClosedError",
}

/// An instance of `class(message)` as a `PyErr`.
pub fn new_error(class: Bound<'_, PyType>, message: String) -> PyErr {
    PyErr::from_type(class, message)
}

/// An error of a layer below the binding, as the matching exception of
/// `fraiseql.subscriptions.errors` (the one place where they are converted).
pub trait IntoPyError {
    fn into_py_error(self, py: Python<'_>) -> PyErr;
}

impl IntoPyError for EngineError {
    fn into_py_error(self, py: Python<'_>) -> PyErr {
        to_py_err(py, self)
    }
}

impl IntoPyError for BusError {
    fn into_py_error(self, py: Python<'_>) -> PyErr {
        let message = self.to_string();
        match self {
            BusError::Connect(_) => new_error(bus_connection_error(py), message),
            BusError::PublishTimeout { .. } => new_error(publish_timeout_error(py), message),
            BusError::Closed => new_error(bus_closed_error(py), message),
            BusError::Command(_) => new_error(bus_error(py), message),
            BusError::Config(_) => new_error(configuration_error(py), message),
        }
    }
}

/// Converts an engine error to the matching exception of `fraiseql.subscriptions.errors`.
pub fn to_py_err(py: Python<'_>, error: EngineError) -> PyErr {
    let message = error.to_string();
    match error {
        EngineError::Document(errors) => {
            let formatted = PyList::empty(py);
            for error in &errors {
                if let Ok(object) = convert::to_python(py, &error.to_json()) {
                    let _ = formatted.append(object);
                }
            }
            match graphql_document_error(py).call1((message.clone(), formatted)) {
                Ok(instance) => PyErr::from_value(instance),
                Err(_) => PyRuntimeError::new_err(message),
            }
        }
        EngineError::DuplicateSubscription { .. } => new_error(duplicate_subscription_error(py), message),
        EngineError::SubscriptionNotFound { .. } => new_error(subscription_not_found_error(py), message),
        EngineError::AmbiguousSubscription { .. } => new_error(ambiguous_subscription_error(py), message),
        EngineError::ConnectionNotFound { .. } => new_error(connection_not_found_error(py), message),
        EngineError::ConnectionClosed { .. } => new_error(connection_closed_error(py), message),
        EngineError::InvalidEvent(_) => new_error(invalid_event_error(py), message),
        EngineError::Config(_) => new_error(configuration_error(py), message),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Runs engine (or bus) work with the GIL released. A panic becomes `InternalEngineError`, an
/// engine or bus error its exception.
pub fn detached<T, E, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send,
    E: IntoPyError + Send,
    F: FnOnce() -> Result<T, E> + Send,
{
    let outcome = py.detach(|| catch_unwind(AssertUnwindSafe(work)));
    finish(py, outcome)
}

/// Runs short engine work with the GIL held (no point in releasing it for a few hundred
/// nanoseconds). Panics and errors are converted as in [`detached`].
pub fn attached<T, E, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    E: IntoPyError,
    F: FnOnce() -> Result<T, E>,
{
    finish(py, catch_unwind(AssertUnwindSafe(work)))
}

fn finish<T, E: IntoPyError>(py: Python<'_>, outcome: std::thread::Result<Result<T, E>>) -> PyResult<T> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.into_py_error(py)),
        Err(payload) => Err(new_error(
            internal_engine_error(py),
            format!("internal engine error (please report it): {}", panic_message(payload.as_ref())),
        )),
    }
}
