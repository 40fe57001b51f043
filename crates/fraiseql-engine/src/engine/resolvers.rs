//! Resolver jobs: a group's host-side resolver run once per event, its outcome, and the
//! delivery of results in publish order (results may finish out of order). What a failure does
//! to the subscriptions is the [`ResolverErrorPolicy`].

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::Instant;

use serde_json::{Map, Value};

use super::groups::{Group, GroupId};
use super::publish::Unseen;
use super::{Engine, Inner};
use crate::error::GraphQLError;
use crate::event::Event;
use crate::shape;

/// A host-side resolver, known to the engine only by this number.
pub type ResolverId = u64;

/// How a resolver job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolverOutcome {
    Value(Value),
    /// The resolver raised or returned something unusable. The message is client-facing; the
    /// extensions (for example a `code`) are the application's, when its exception carried some.
    Failed {
        message: String,
        extensions: Map<String, Value>,
    },
    TimedOut {
        seconds: f64,
    },
    Cancelled,
    /// The resolver said this event is not for these subscribers (a Python filter): no frame.
    Skip,
}

impl ResolverOutcome {
    /// A failure with a client-facing message and the default code (`RESOLVER_ERROR`).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed { message: message.into(), extensions: Map::new() }
    }
}

/// What a failed resolver (raised, timed out, unusable result) does to its subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolverErrorPolicy {
    /// GraphQL's ExecuteSubscriptionEvent: a field error of that one event. The subscribers get
    /// a `next` whose payload has `errors` and `data` after null propagation; the stream goes on.
    #[default]
    FieldError,
    /// The subscriptions end with an `error` message (and are freed once it is taken).
    EndStream,
}

impl ResolverErrorPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "field_error" => Some(Self::FieldError),
            "end_stream" => Some(Self::EndStream),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FieldError => "field_error",
            Self::EndStream => "end_stream",
        }
    }
}

impl Engine {
    /// Resolver ids no subscription uses any more; the host may drop them. An id released and
    /// attached again since is not returned.
    pub fn take_released_resolvers(&self) -> Vec<ResolverId> {
        let mut released = std::mem::take(&mut *self.inner.released_resolvers.lock());
        if !released.is_empty() {
            let registry = self.inner.registry.read();
            released.retain(|id| !registry.resolver_refs.contains_key(id));
        }
        released
    }

    pub(super) fn job_for(&self, group_id: GroupId, group: &Group, event: &Arc<Event>) -> Option<ResolverJob> {
        // One pass: members refused by visibility or filter, and visible members not yet ended.
        let (mut unseen, mut live) = (Unseen::default(), 0usize);
        for member in &group.members {
            if unseen.note(member.sight(event)) && !member.terminated.load(Relaxed) {
                live += 1;
            }
        }
        unseen.record(&self.inner.metrics);
        if live == 0 {
            return None;
        }
        let seq = {
            let mut order = group.order.lock();
            // Results wait here for earlier ones: as many as a connection may queue, then the
            // event is dropped for this group (counted as overflow), so a hung resolver cannot
            // make the buffer grow without bound.
            if order.next_seq - order.next_to_deliver >= self.inner.config.max_queued_frames as u64 {
                drop(order);
                self.inner.metrics.frames_dropped_overflow.fetch_add(live as u64, Relaxed);
                return None;
            }
            order.next_seq += 1;
            order.next_seq - 1
        };
        self.inner.pending_jobs.fetch_add(1, Relaxed);
        Some(ResolverJob {
            engine: Arc::downgrade(&self.inner),
            group: group_id,
            seq,
            event: event.clone(),
            resolver: group.key.resolver.unwrap_or_default(),
            variables: group.variables.clone(),
            root_field: group.root_field.clone(),
            started: Instant::now(),
            finished: false,
        })
    }

    fn finish_job(&self, job: &ResolverJob, outcome: ResolverOutcome) {
        let inner = &*self.inner;
        inner.pending_jobs.fetch_sub(1, Relaxed);
        inner.metrics.resolver_calls.fetch_add(1, Relaxed);
        inner.metrics.resolver_duration.record(job.started.elapsed());
        match outcome {
            ResolverOutcome::Value(_) | ResolverOutcome::Skip => {}
            ResolverOutcome::TimedOut { .. } => {
                inner.metrics.resolver_timeouts.fetch_add(1, Relaxed);
            }
            ResolverOutcome::Failed { .. } | ResolverOutcome::Cancelled => {
                inner.metrics.resolver_errors.fetch_add(1, Relaxed);
            }
        }
        let mut to_wake = Vec::new();
        {
            let registry = inner.registry.read();
            let Some(group) = registry.groups.get(&job.group) else { return };
            let mut order = group.order.lock();
            order.finished.insert(job.seq, (job.event.clone(), outcome));
            loop {
                let next = order.next_to_deliver;
                let Some((event, outcome)) = order.finished.remove(&next) else { break };
                order.next_to_deliver += 1;
                match outcome {
                    ResolverOutcome::Value(value) => {
                        self.fan_out(group, &event, &mut to_wake, || shape::next_payload(&group.plan, &value));
                    }
                    ResolverOutcome::Skip => {}
                    failure => {
                        let error = resolver_error(group, failure);
                        match inner.config.resolver_errors {
                            ResolverErrorPolicy::FieldError => {
                                self.fan_out(group, &event, &mut to_wake, || {
                                    shape::field_error_payload(&group.plan, &error)
                                });
                            }
                            ResolverErrorPolicy::EndStream => self.fail_members(group, &event, &error, &mut to_wake),
                        }
                    }
                }
            }
        }
        self.wake(to_wake);
    }
}

/// A group's resolver to run for one event. Finish it with [`ResolverJob::finish`]; a job that
/// is dropped unfinished counts as cancelled, so delivery order never stalls behind it.
pub struct ResolverJob {
    engine: Weak<Inner>,
    group: GroupId,
    seq: u64,
    event: Arc<Event>,
    pub resolver: ResolverId,
    pub variables: Arc<Map<String, Value>>,
    pub root_field: Arc<str>,
    started: Instant,
    finished: bool,
}

impl std::fmt::Debug for ResolverJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolverJob").field("group", &self.group).field("seq", &self.seq).finish_non_exhaustive()
    }
}

impl ResolverJob {
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The group this job computes a result for (its results are delivered in order).
    pub fn group_id(&self) -> u64 {
        self.group
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }

    pub fn finish(mut self, outcome: ResolverOutcome) {
        self.finish_inner(outcome);
    }

    fn finish_inner(&mut self, outcome: ResolverOutcome) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        if let Some(inner) = self.engine.upgrade() {
            Engine { inner }.finish_job(self, outcome);
        }
    }
}

impl Drop for ResolverJob {
    fn drop(&mut self) {
        self.finish_inner(ResolverOutcome::Cancelled);
    }
}

/// The GraphQL error of a failed resolver, at the root field's path (its alias, if any).
fn resolver_error(group: &Group, outcome: ResolverOutcome) -> GraphQLError {
    let root_field = &group.root_field;
    let (message, code, extensions) = match outcome {
        ResolverOutcome::Failed { message, extensions } => (message, "RESOLVER_ERROR", extensions),
        ResolverOutcome::TimedOut { seconds } => {
            (format!("Resolver for \"{root_field}\" timed out after {seconds} s."), "RESOLVER_TIMEOUT", Map::new())
        }
        ResolverOutcome::Cancelled => {
            (format!("Resolver for \"{root_field}\" was cancelled."), "RESOLVER_CANCELLED", Map::new())
        }
        ResolverOutcome::Value(_) | ResolverOutcome::Skip => (String::new(), "INTERNAL", Map::new()),
    };
    let mut error = group.plan.root_field_error(message);
    error.extensions = extensions;
    if !error.extensions.contains_key("code") {
        error = error.with_code(code);
    }
    error
}
