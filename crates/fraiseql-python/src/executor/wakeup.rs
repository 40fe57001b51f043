//! Waking the application's asyncio loop: the socket pair the engine's ready notifier writes
//! to, its reader installed on the loop, and the futures of writers waiting for frames,
//! settled with frames or `ConnectionClosedError`.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use fraiseql_engine::WaitState;
use pyo3::exceptions::PyRuntimeError;
use pyo3::intern;
use pyo3::prelude::*;

use super::PySubscriptionExecutor;
use crate::errors::{attached, connection_closed_error, new_error};
use crate::resolvers::BRIDGE_MODULE;

/// The socket pair through which the engine wakes the application's loop.
pub(super) struct Wakeup {
    pub(super) reader: UnixStream,
    pub(super) writer: Arc<UnixStream>,
}

impl Wakeup {
    pub(super) fn new() -> std::io::Result<Self> {
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

/// The loop running in this thread; `RuntimeError` naming `what` otherwise.
pub(super) fn running_loop_or_error<'py>(py: Python<'py>, what: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import(intern!(py, "asyncio"))?.call_method0(intern!(py, "get_running_loop")).map_err(|_| {
        PyRuntimeError::new_err(format!("{what}() must be called from a coroutine running on an asyncio loop"))
    })
}

impl PySubscriptionExecutor {
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

    pub(super) fn ensure_reader(slf: &Bound<'_, Self>, event_loop: &Bound<'_, PyAny>) -> PyResult<()> {
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

    /// `wait_for_frames`: a future of the connection's frames, settled now or when it is woken.
    pub(super) fn frames_future<'py>(slf: &Bound<'py, Self>, connection_id: &str) -> PyResult<Bound<'py, PyAny>> {
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

    /// `_on_frames_ready`: settles the waiting writers of the connections the engine woke.
    pub(super) fn settle_ready_writers(slf: &Bound<'_, Self>) -> PyResult<()> {
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
}
