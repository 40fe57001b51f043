//! Queued frames as Python bytes: each the text of one graphql-transport-ws message.

use fraiseql_engine::QueuedFrame;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::PySubscriptionExecutor;
use crate::errors::detached;

fn frames_to_list<'py>(py: Python<'py>, frames: &[QueuedFrame]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    for frame in frames {
        list.append(frame_bytes(py, frame)?)?;
    }
    Ok(list)
}

pub(super) fn frame_bytes<'py>(py: Python<'py>, frame: &QueuedFrame) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, frame.len(), |buffer| {
        frame.write_into(buffer);
        Ok(())
    })
}

impl PySubscriptionExecutor {
    pub(super) fn drain_to_list<'py>(
        &self,
        py: Python<'py>,
        connection_id: &str,
        max: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let frames = detached(py, || self.engine.drain_at_most(connection_id, max))?;
        self.prune_resolvers();
        frames_to_list(py, &frames)
    }
}
