//! Publishing: an event reaches the groups indexed under its channel; members that may see it
//! (tenant/user scope, row-level filter, rate limit) get a frame of the payload serialized once
//! per group. Groups with a resolver come back as jobs (see `resolvers`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::groups::{Group, Member};
use super::{Engine, ResolverJob};
use crate::error::{EngineResult, GraphQLError};
use crate::event::{Event, EventScope};
use crate::metrics::Metrics;
use crate::queue::{Connection, FrameKind, PushOutcome, QueuedFrame};
use crate::shape;

/// The result of one publish call.
#[derive(Debug, Default)]
pub struct PublishOutcome {
    /// Frames queued during the call (groups without resolver).
    pub frames_queued: usize,
    /// One job per group with a resolver that has at least one member allowed to see the event.
    pub jobs: Vec<ResolverJob>,
}

/// Whether a member may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sight {
    Visible,
    /// Another tenant's, or targeted at another user.
    OutOfScope,
    /// Refused by the subscription's filter.
    Filtered,
}

impl Member {
    #[inline]
    pub(super) fn sight(&self, event: &Event) -> Sight {
        if !self.context.can_see(&event.scope) {
            return Sight::OutOfScope;
        }
        match &self.filter {
            Some(filter) if !filter.matches_event(&event.data) => Sight::Filtered,
            _ => Sight::Visible,
        }
    }
}

/// Counts of members an event did not reach, by reason.
#[derive(Debug, Default)]
pub(super) struct Unseen {
    out_of_scope: u64,
    filtered: u64,
}

impl Unseen {
    /// True for a visible member; counts the others.
    pub(super) fn note(&mut self, sight: Sight) -> bool {
        match sight {
            Sight::Visible => return true,
            Sight::OutOfScope => self.out_of_scope += 1,
            Sight::Filtered => self.filtered += 1,
        }
        false
    }

    pub(super) fn record(&self, metrics: &Metrics) {
        metrics.events_filtered_out.fetch_add(self.out_of_scope, Relaxed);
        metrics.events_filtered_by_filter.fetch_add(self.filtered, Relaxed);
    }
}

impl Engine {
    /// Publishes one event. Groups without resolver get their frames queued before this returns;
    /// groups with a resolver come back as jobs for the host to run.
    pub fn publish(
        &self,
        event_type: &str,
        channel: &str,
        data: Value,
        scope: EventScope,
    ) -> EngineResult<PublishOutcome> {
        let started = Instant::now();
        let inner = &*self.inner;
        let scope = inner.config.scope_fields.resolve(&data, scope)?;
        let event = Arc::new(Event {
            event_type: Arc::from(event_type),
            channel: Arc::from(channel),
            data,
            scope,
            published_at: started,
        });
        inner.metrics.events_published.fetch_add(1, Relaxed);
        let mut outcome = PublishOutcome::default();
        let mut to_wake = Vec::new();
        {
            let registry = inner.registry.read();
            if let Some(groups) = registry.channels.get(channel) {
                for group_id in groups {
                    let group = &registry.groups[group_id];
                    if group.key.resolver.is_some() {
                        if let Some(job) = self.job_for(*group_id, group, &event) {
                            outcome.jobs.push(job);
                        }
                    } else {
                        outcome.frames_queued +=
                            self.fan_out(group, &event, &mut to_wake, || shape::next_payload(&group.plan, &event.data));
                    }
                }
            }
        }
        self.wake(to_wake);
        inner.metrics.publish_latency.record(started.elapsed());
        Ok(outcome)
    }

    /// Queues a `next` frame to every member allowed to see `event`; its payload is made by
    /// `payload_of` once, and only if some member receives it.
    pub(super) fn fan_out(
        &self,
        group: &Group,
        event: &Event,
        to_wake: &mut Vec<Arc<Connection>>,
        payload_of: impl FnOnce() -> Vec<u8>,
    ) -> usize {
        let metrics = &self.inner.metrics;
        let mut payload_of = Some(payload_of);
        let mut payload: Option<Arc<[u8]>> = None;
        let (mut queued, mut dropped, mut rate_limited, mut unseen) = (0u64, 0u64, 0u64, Unseen::default());
        for member in &group.members {
            if !unseen.note(member.sight(event)) || member.terminated.load(Relaxed) {
                continue;
            }
            if member.rate.as_ref().is_some_and(|bucket| !bucket.try_take()) {
                rate_limited += 1;
                continue;
            }
            let body = payload.get_or_insert_with(|| {
                metrics.payloads_serialized.fetch_add(1, Relaxed);
                Arc::from(payload_of.take().map(|make| make()).unwrap_or_default())
            });
            let pushed = push_to(member, FrameKind::Next, body, to_wake);
            queued += u64::from(pushed.queued);
            dropped += u64::from(pushed.dropped);
        }
        metrics.frames_queued.fetch_add(queued, Relaxed);
        metrics.frames_dropped_overflow.fetch_add(dropped, Relaxed);
        metrics.frames_dropped_rate.fetch_add(rate_limited, Relaxed);
        unseen.record(metrics);
        queued as usize
    }

    /// Ends every visible member's subscription with an `error` message carrying `error`. The
    /// subscription receives nothing more and is freed once that frame is taken.
    pub(super) fn fail_members(
        &self,
        group: &Group,
        event: &Event,
        error: &GraphQLError,
        to_wake: &mut Vec<Arc<Connection>>,
    ) {
        let body: Arc<[u8]> = Arc::from(shape::error_payload(std::slice::from_ref(error)));
        for member in &group.members {
            if member.sight(event) != Sight::Visible || member.terminated.swap(true, Relaxed) {
                continue;
            }
            let pushed = push_to(member, FrameKind::Error, &body, to_wake);
            self.inner.metrics.frames_queued.fetch_add(u64::from(pushed.queued), Relaxed);
            self.inner.metrics.frames_dropped_overflow.fetch_add(u64::from(pushed.dropped), Relaxed);
        }
    }
}

/// Queues one frame of `body` for a member, noting its connection when a writer must wake.
fn push_to(member: &Member, kind: FrameKind, body: &Arc<[u8]>, to_wake: &mut Vec<Arc<Connection>>) -> PushOutcome {
    let pushed = member.connection.push(QueuedFrame::new(member.key, kind, member.id.clone(), body.clone()));
    if pushed.wake {
        to_wake.push(member.connection.clone());
    }
    pushed
}
