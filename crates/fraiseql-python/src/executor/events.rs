//! Publishing from Python: an event's data and scope converted, then published to the engine
//! (resolvers run at once) or through the bus; and what the bus leaves for Python (log notes,
//! settled async publishes, resolver jobs of events read from the bus).

use std::sync::Arc;

use fraiseql_engine::{EventScope, ScopeKey};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};

use super::wakeup::running_loop_or_error;
use super::PySubscriptionExecutor;
use crate::convert;
use crate::errors::{attached, detached, IntoPyError};
use crate::resolvers::BRIDGE_MODULE;

pub(super) fn scope_key(value: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<ScopeKey>> {
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

impl PySubscriptionExecutor {
    /// `publish_event`: to the bus when there is one, else to the engine, running resolver jobs.
    pub(super) fn publish(
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

    /// `publish_event_async`: a future settled once the bus stored the event (at once in memory).
    pub(super) fn publish_future<'py>(
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

    /// Takes what the bus left for Python: log notes, settled async publishes, and the resolver
    /// jobs of events read from the bus (run as `publish_event` runs them, on this thread's loop
    /// when there is one).
    pub(super) fn process_inbox(slf: &Bound<'_, Self>) -> PyResult<()> {
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
}
