//! The seed's protocol data classes: a subscribe payload and a graphql-transport-ws message.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// The payload of a `subscribe` message.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "PySubscriptionPayload")]
pub struct PySubscriptionPayload {
    #[pyo3(get, set)]
    query: String,
    #[pyo3(get, set)]
    operation_name: Option<String>,
    #[pyo3(get, set)]
    variables: Py<PyDict>,
    #[pyo3(get, set)]
    extensions: Option<Py<PyDict>>,
}

#[pymethods]
impl PySubscriptionPayload {
    #[new]
    #[pyo3(signature = (query, operation_name=None, variables=None, extensions=None))]
    fn new(
        py: Python<'_>,
        query: String,
        operation_name: Option<String>,
        variables: Option<Py<PyDict>>,
        extensions: Option<Py<PyDict>>,
    ) -> Self {
        Self { query, operation_name, variables: variables.unwrap_or_else(|| PyDict::new(py).unbind()), extensions }
    }

    fn __repr__(&self) -> String {
        format!("PySubscriptionPayload(query={:?}, operation_name={:?})", self.query, self.operation_name)
    }
}

/// One graphql-transport-ws message: `type`, optional `id`, optional `payload`.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "PyGraphQLMessage")]
pub struct PyGraphQLMessage {
    #[pyo3(get, set)]
    type_: String,
    #[pyo3(get, set)]
    id: Option<String>,
    payload: Option<Py<PyAny>>,
}

fn check_payload(payload: Option<Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
    match payload {
        None => Ok(None),
        Some(value) if value.is_none() => Ok(None),
        Some(value) if value.is_instance_of::<PyDict>() || value.is_instance_of::<PyList>() => Ok(Some(value.unbind())),
        Some(value) => Err(PyTypeError::new_err(format!(
            "message payload must be a dict, a list or None, not {}",
            value.get_type().name()?
        ))),
    }
}

#[pymethods]
impl PyGraphQLMessage {
    /// `PyGraphQLMessage()` builds an empty message to fill in (`msg.type_ = "connection_ack"`).
    #[new]
    #[pyo3(signature = (type_=String::new(), id=None, payload=None), text_signature = "(type_='', id=None, payload=None)")]
    fn new(type_: String, id: Option<String>, payload: Option<Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(Self { type_, id, payload: check_payload(payload)? })
    }

    /// Builds a message from a decoded JSON object; refuses one without a string `type`.
    #[staticmethod]
    fn from_dict(data: &Bound<'_, PyAny>) -> PyResult<Self> {
        let data = data.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "a message must be a dict, not {}",
                data.get_type().name().map(|n| n.to_string()).unwrap_or_default()
            ))
        })?;
        let type_ = match data.get_item("type")? {
            None => return Err(PyValueError::new_err("message has no \"type\"")),
            Some(value) => value
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("message \"type\" must be a string"))?
                .to_str()?
                .to_owned(),
        };
        let id = match data.get_item("id")? {
            None => None,
            Some(value) if value.is_none() => None,
            Some(value) => Some(
                value
                    .cast::<PyString>()
                    .map_err(|_| PyTypeError::new_err("message \"id\" must be a string"))?
                    .to_str()?
                    .to_owned(),
            ),
        };
        Ok(Self { type_, id, payload: check_payload(data.get_item("payload")?)? })
    }

    /// The message as a dict, leaving out an absent `id` or `payload`; `ValueError` while
    /// `type_` is still empty.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        if self.type_.is_empty() {
            return Err(PyValueError::new_err("the message has no type yet: set type_ first"));
        }
        let dict = PyDict::new(py);
        dict.set_item("type", &self.type_)?;
        if let Some(id) = &self.id {
            dict.set_item("id", id)?;
        }
        if let Some(payload) = &self.payload {
            dict.set_item("payload", payload.bind(py))?;
        }
        Ok(dict)
    }

    #[getter]
    fn payload(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.payload.as_ref().map(|payload| payload.clone_ref(py))
    }

    #[setter]
    fn set_payload(&mut self, payload: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        self.payload = check_payload(payload)?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("PyGraphQLMessage(type_={:?}, id={:?})", self.type_, self.id)
    }
}
