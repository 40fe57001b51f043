//! Python resolvers as the engine runs them: the table of registered callables, and one job
//! (one event for one group of identical subscriptions) carried from the engine to Python and
//! back.
//!
//! How a job runs: an `async def` resolver becomes a task on the application's loop; a sync one
//! runs in a worker thread when the event was published from the loop (one call at a time per
//! group, `_loop_bridge.SyncResolverRunner`), else in the publishing thread. Python code never
//! runs while a Rust lock is held: a callable's signature is read before the table is locked.

use std::collections::HashMap;
use std::time::Instant;

use fraiseql_engine::{EngineError, ResolverId, ResolverJob, ResolverOutcome};
use parking_lot::Mutex;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};

use crate::convert;
use crate::errors::{attached, detached};
use crate::executor::PySubscriptionExecutor;

pub(crate) const BRIDGE_MODULE: &str = "fraiseql.subscriptions._loop_bridge";
const RESOLVERS_MODULE: &str = "fraiseql.subscriptions._resolvers";

/// A registered callable and how to call it, read once from its signature.
pub(crate) struct ResolverEntry {
    callable: Py<PyAny>,
    /// Called `(event, variables)`, else `(event)`.
    takes_variables: bool,
    /// `async def`: its awaitable runs as a task on the loop.
    is_async: bool,
}

/// Callables registered as resolvers, by engine resolver id and by object identity (the same
/// callable object always gets the same id, so its subscriptions can share work).
#[derive(Default)]
pub(crate) struct ResolverTable {
    by_identity: HashMap<usize, ResolverId>,
    entries: HashMap<ResolverId, ResolverEntry>,
    next_id: ResolverId,
}

impl ResolverTable {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Where sync resolvers run when the event is published from a running asyncio loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SyncResolvers {
    /// In a worker thread, so the loop never waits for them.
    Thread,
    /// In the publishing thread (for resolvers that only reshape data: no thread hand-off).
    Inline,
}

impl SyncResolvers {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "thread" => Some(Self::Thread),
            "inline" => Some(Self::Inline),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Thread => "thread",
            Self::Inline => "inline",
        }
    }
}

/// How this executor runs resolvers.
pub(crate) struct ResolverSettings {
    pub(crate) timeout: Option<f64>,
    pub(crate) sync_resolvers: SyncResolvers,
    pub(crate) threads: usize,
    /// Calls slower than this (seconds) are logged, once per field and interval.
    pub(crate) slow_after: Option<f64>,
    /// Whether clients see the text of the exceptions resolvers raise (by default they see
    /// which field failed; the exception goes to the log).
    pub(crate) expose_errors: bool,
}

/// A resolver's job while its Python call runs (an async task or a worker thread).
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", frozen)]
pub struct PendingResolution {
    job: Mutex<Option<ResolverJob>>,
}

impl PendingResolution {
    pub(crate) fn take(&self) -> Option<ResolverJob> {
        self.job.lock().take()
    }
}

/// `(takes_variables, is_async)` of a callable, or the `TypeError` saying why it cannot be a
/// resolver.
fn call_shape(py: Python<'_>, resolver: &Bound<'_, PyAny>) -> PyResult<(bool, bool)> {
    static CALL_SHAPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    CALL_SHAPE.import(py, RESOLVERS_MODULE, "call_shape")?.call1((resolver,))?.extract()
}

fn bridge(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import(BRIDGE_MODULE)
}

/// The outcome of a resolver that raised `error`, which is logged with its traceback (once per
/// field and interval). An exception carrying GraphQL `extensions` (a graphql-core
/// `GraphQLError`, or any exception with a `message` and an `extensions` dict) is meant for the
/// client and keeps its message and extensions. Any other gives `Resolver for "users" failed.`:
/// exception text can hold anything (SQL, paths, other users' data), so it reaches clients only
/// with `expose_errors` (`Resolver for "users" raised ValueError: boom`).
fn failure_outcome(py: Python<'_>, root_field: &str, error: &PyErr, expose_errors: bool) -> ResolverOutcome {
    let value = error.value(py);
    if let Ok(bridge) = bridge(py) {
        let _ = bridge.call_method1(intern!(py, "log_resolver_error"), (root_field, value));
    }
    if let Some(outcome) = graphql_error_outcome(value) {
        return outcome;
    }
    if !expose_errors {
        return ResolverOutcome::failed(format!("Resolver for \"{root_field}\" failed."));
    }
    let kind = error.get_type(py).name().map(|name| name.to_string()).unwrap_or_else(|_| "Exception".to_owned());
    let detail = value.str().map(|text| text.to_string()).unwrap_or_default();
    if detail.is_empty() {
        ResolverOutcome::failed(format!("Resolver for \"{root_field}\" raised {kind}."))
    } else {
        ResolverOutcome::failed(format!("Resolver for \"{root_field}\" raised {kind}: {detail}"))
    }
}

/// Logs why a resolver's result could not be converted (once per field and interval).
fn log_unusable_result(py: Python<'_>, root_field: &str, error: &PyErr) {
    if let Ok(bridge) = bridge(py) {
        let _ = bridge.call_method1(intern!(py, "log_resolver_error"), (root_field, error.value(py)));
    }
}

fn graphql_error_outcome(value: &Bound<'_, PyAny>) -> Option<ResolverOutcome> {
    let py = value.py();
    let extensions = value.getattr(intern!(py, "extensions")).ok()?;
    let extensions = extensions.cast::<PyDict>().ok()?;
    let message: String = value.getattr(intern!(py, "message")).ok()?.extract().ok()?;
    let extensions = convert::to_json_object(extensions, "the error's extensions").ok()?;
    Some(ResolverOutcome::Failed { message, extensions })
}

impl PySubscriptionExecutor {
    /// See [`failure_outcome`].
    pub(crate) fn failure_outcome(&self, py: Python<'_>, root_field: &str, error: &PyErr) -> ResolverOutcome {
        failure_outcome(py, root_field, error, self.resolver_settings.expose_errors)
    }

    /// Forgets the resolvers no subscription uses any more (dropping them outside the lock).
    /// The table lock is held while the engine says which ids are free, so an id being attached
    /// again by another thread (which holds the same lock) is never dropped.
    pub(crate) fn prune_resolvers(&self) {
        let mut dropped = Vec::new();
        {
            let mut table = self.resolvers.lock();
            for id in self.engine.take_released_resolvers() {
                if let Some(entry) = table.entries.remove(&id) {
                    table.by_identity.retain(|_, other| *other != id);
                    dropped.push(entry);
                }
            }
        }
        drop(dropped);
    }

    /// Runs `attach` with the engine id of `resolver` (added to the table if new) while the
    /// table lock is held, so a concurrent prune cannot drop a resolver being attached; a new
    /// entry is taken back out when `attach` fails. The lock is held with the GIL, but no Python
    /// code runs under it (the signature of a new callable is read before): a Rust lock is never
    /// held across a GIL release.
    pub(crate) fn with_resolver_id<T>(
        &self,
        py: Python<'_>,
        resolver: &Bound<'_, PyAny>,
        attach: impl FnOnce(ResolverId) -> Result<T, EngineError>,
    ) -> PyResult<T> {
        let identity = resolver.as_ptr() as usize;
        let mut shape = None;
        loop {
            if shape.is_none() && !self.resolvers.lock().by_identity.contains_key(&identity) {
                shape = Some(call_shape(py, resolver)?);
            }
            let mut table = self.resolvers.lock();
            let (id, inserted) = match (table.by_identity.get(&identity), shape) {
                (Some(id), _) => (*id, false),
                // Pruned since it was looked up: read its signature, then look again.
                (None, None) => continue,
                (None, Some((takes_variables, is_async))) => {
                    table.next_id += 1;
                    let id = table.next_id;
                    table.by_identity.insert(identity, id);
                    let entry = ResolverEntry { callable: resolver.clone().unbind(), takes_variables, is_async };
                    table.entries.insert(id, entry);
                    (id, true)
                }
            };
            let outcome = attached(py, || attach(id));
            if outcome.is_err() && inserted {
                table.by_identity.remove(&identity);
                let unused = table.entries.remove(&id);
                drop(table);
                drop(unused); // decref outside the lock
            }
            return outcome;
        }
    }

    pub(crate) fn finish(&self, py: Python<'_>, job: ResolverJob, outcome: ResolverOutcome) -> PyResult<()> {
        detached(py, move || {
            job.finish(outcome);
            Ok::<_, EngineError>(())
        })?;
        self.prune_resolvers();
        Ok(())
    }

    /// A resolver's return value as the engine's outcome (`unusable` when it cannot be converted;
    /// `SKIP`: no frame for this event).
    pub(crate) fn outcome_of_result(&self, root_field: &str, result: &Bound<'_, PyAny>) -> ResolverOutcome {
        static SKIP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        if SKIP.import(result.py(), RESOLVERS_MODULE, "SKIP").is_ok_and(|skip| result.is(skip)) {
            return ResolverOutcome::Skip;
        }
        match convert::to_json_with(result, "the resolver result", &self.serializers) {
            Ok(value) => ResolverOutcome::Value(value),
            Err(error) if self.resolver_settings.expose_errors => ResolverOutcome::failed(format!(
                "Resolver for \"{root_field}\" returned an unusable result: {}",
                error.value(result.py())
            )),
            Err(error) => {
                // The conversion's message names the value; it goes to the log only.
                log_unusable_result(result.py(), root_field, &error);
                ResolverOutcome::failed(format!("Resolver for \"{root_field}\" returned an unusable result."))
            }
        }
    }

    /// Calls the group's resolver for one event: in this thread, in a worker thread, or as a
    /// task on the loop (see the module's documentation). Every path finishes the job exactly
    /// once, whatever the resolver does.
    pub(crate) fn run_job(slf: &Bound<'_, Self>, job: ResolverJob, event: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let root_field = job.root_field.clone();
        let entry = this
            .resolvers
            .lock()
            .entries
            .get(&job.resolver)
            .map(|entry| (entry.callable.clone_ref(py), entry.takes_variables, entry.is_async));
        let Some((callable, takes_variables, is_async)) = entry else {
            let outcome = ResolverOutcome::failed(format!("Resolver for \"{root_field}\" is no longer registered."));
            return this.finish(py, job, outcome);
        };
        let args = if takes_variables {
            match convert::object_to_python(py, &job.variables) {
                Ok(variables) => PyTuple::new(py, [event.clone(), variables.into_any()])?,
                Err(error) => return this.finish(py, job, this.failure_outcome(py, &root_field, &error)),
            }
        } else {
            PyTuple::new(py, [event.clone()])?
        };
        let settings = &this.resolver_settings;
        if !is_async && settings.sync_resolvers == SyncResolvers::Thread {
            if let Some(event_loop) = running_loop(py)? {
                return Self::run_in_thread(slf, job, &event_loop, &callable, &args);
            }
        }
        let started = Instant::now();
        let result = match callable.bind(py).call1(&args) {
            Ok(result) => result,
            Err(error) => return this.finish(py, job, this.failure_outcome(py, &root_field, &error)),
        };
        if result.hasattr(intern!(py, "__await__")).unwrap_or(false) {
            return Self::run_on_loop(slf, job, &result);
        }
        let seconds = started.elapsed().as_secs_f64();
        if let Some(threshold) = settings.slow_after {
            if seconds > threshold {
                bridge(py)?.call_method1(intern!(py, "note_duration"), (&*root_field, seconds, threshold))?;
            }
        }
        let outcome = match settings.timeout {
            // A sync resolver cannot be interrupted; a late result is discarded.
            Some(timeout) if seconds > timeout => {
                bridge(py)?.call_method1(intern!(py, "log_resolver_timeout"), (&*root_field,))?;
                ResolverOutcome::TimedOut { seconds: timeout }
            }
            _ => this.outcome_of_result(&root_field, &result),
        };
        this.finish(py, job, outcome)
    }

    /// An awaitable result: a task on the running loop, the attached one, or a private one.
    fn run_on_loop(slf: &Bound<'_, Self>, job: ResolverJob, awaitable: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let root_field = job.root_field.clone();
        let pending = Bound::new(py, PendingResolution { job: Mutex::new(Some(job)) })?;
        let attached_loop = this.attached_loop.lock().as_ref().map(|l| l.clone_ref(py));
        let settings = &this.resolver_settings;
        let scheduled = bridge(py).and_then(|bridge| {
            bridge.call_method1(
                intern!(py, "schedule"),
                (slf, &pending, awaitable, settings.timeout, attached_loop, &*root_field, settings.slow_after),
            )
        });
        this.settle_if_not_started(py, &pending, &root_field, scheduled)
    }

    /// A sync resolver of an event published on the loop: in a worker thread, in its group's lane.
    fn run_in_thread(
        slf: &Bound<'_, Self>,
        job: ResolverJob,
        event_loop: &Bound<'_, PyAny>,
        callable: &Py<PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        let py = slf.py();
        let this = slf.get();
        let root_field = job.root_field.clone();
        let lane = job.group_id();
        let pending = Bound::new(py, PendingResolution { job: Mutex::new(Some(job)) })?;
        let settings = &this.resolver_settings;
        let submitted = this.sync_runner(py).and_then(|runner| {
            runner.call_method1(
                intern!(py, "submit"),
                (event_loop, slf, &pending, callable, args, settings.timeout, lane, &*root_field, settings.slow_after),
            )
        });
        this.settle_if_not_started(py, &pending, &root_field, submitted)
    }

    /// When handing a job to Python failed, the job fails with that error (never left unfinished).
    fn settle_if_not_started(
        &self,
        py: Python<'_>,
        pending: &Bound<'_, PendingResolution>,
        root_field: &str,
        started: PyResult<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if let Err(error) = started {
            if let Some(job) = pending.get().take() {
                self.finish(py, job, self.failure_outcome(py, root_field, &error))?;
            }
        }
        Ok(())
    }

    /// This executor's `SyncResolverRunner`, created on first use.
    fn sync_runner<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyAny>> {
        self.sync_runner
            .get_or_try_init(py, || {
                let runner = bridge(py)?.getattr(intern!(py, "SyncResolverRunner"))?;
                Ok::<_, PyErr>(runner.call1((self.resolver_settings.threads,))?.unbind())
            })
            .map(|runner| runner.bind(py))
    }

    /// An async or threaded resolver returned `result`.
    pub(crate) fn resolution_succeeded(
        &self,
        py: Python<'_>,
        pending: &Bound<'_, PendingResolution>,
        result: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let Some(job) = pending.get().take() else { return Ok(()) };
        let root_field = job.root_field.clone();
        let outcome = self.outcome_of_result(&root_field, result);
        self.finish(py, job, outcome)
    }

    /// An async or threaded resolver raised `error`, was cancelled, or timed out.
    pub(crate) fn resolution_failed(
        &self,
        py: Python<'_>,
        pending: &Bound<'_, PendingResolution>,
        error: Option<&Bound<'_, PyAny>>,
        timed_out: bool,
    ) -> PyResult<()> {
        let Some(job) = pending.get().take() else { return Ok(()) };
        let outcome = if timed_out {
            ResolverOutcome::TimedOut { seconds: self.resolver_settings.timeout.unwrap_or_default() }
        } else {
            static CANCELLED: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();
            let cancelled = CANCELLED.import(py, "asyncio", "CancelledError")?;
            match error {
                Some(error) if error.is_instance(cancelled)? => ResolverOutcome::Cancelled,
                Some(error) => self.failure_outcome(py, &job.root_field, &PyErr::from_value(error.clone())),
                None => ResolverOutcome::Cancelled,
            }
        };
        self.finish(py, job, outcome)
    }
}

/// The asyncio loop running in this thread, if any.
fn running_loop(py: Python<'_>) -> PyResult<Option<Bound<'_, PyAny>>> {
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let running = GET_RUNNING_LOOP.import(py, "asyncio", "_get_running_loop")?.call0()?;
    Ok(if running.is_none() { None } else { Some(running) })
}
