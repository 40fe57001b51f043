//! `CompiledFilter`: a row-level filter compiled once, shared by the subscriptions of a field.

use std::sync::Arc;

use fraiseql_engine::Filter;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert;

/// A row-level filter, compiled from its JSON spec (see `fraiseql.subscriptions.filters`).
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "CompiledFilter", frozen)]
pub struct CompiledFilter {
    pub(crate) filter: Arc<Filter>,
    spec: serde_json::Value,
}

#[pymethods]
impl CompiledFilter {
    /// Compiles `spec`; `ValueError` saying what is wrong with it.
    #[new]
    fn new(spec: &Bound<'_, PyAny>) -> PyResult<Self> {
        let spec = convert::to_json(spec, "the filter")?;
        let filter =
            Filter::compile(&spec).map_err(|error| PyValueError::new_err(format!("invalid filter: {error}")))?;
        Ok(Self { filter: Arc::new(filter), spec })
    }

    /// The spec it was compiled from.
    #[getter]
    fn spec<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        convert::to_python(py, &self.spec)
    }

    fn __repr__(&self) -> String {
        format!("CompiledFilter({})", self.spec)
    }
}
