//! An executor's distributed bus: events read from Redis or PostgreSQL go straight into the
//! engine on a bus thread (no GIL: frames of subscriptions without resolver are queued there),
//! and what needs Python waits in an inbox until the application's loop (or the next executor
//! call of a plain script) takes it: resolver jobs, settled async publishes, log notes.
//!
//! Bus threads never touch a Python object: a publish future is known to them by a number, and
//! they wake the loop through the same socket as the writers.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use fraiseql_bus::{Bus, BusError, BusEvent, BusNote, EventSink};
use fraiseql_engine::engine::ReadyNotifier;
use fraiseql_engine::{Engine, EventScope, ResolverJob};
use parking_lot::Mutex;

/// Events whose resolver jobs wait for Python, at most; beyond that their jobs are dropped
/// (their subscribers get a `RESOLVER_CANCELLED` field error) and counted.
const MAX_WAITING_EVENTS: usize = 10_000;
/// Log notes waiting for Python, at most (the oldest are dropped first).
const MAX_NOTES: usize = 256;

/// What bus threads leave for Python.
#[derive(Default)]
pub(crate) struct Inbox {
    /// The resolver jobs of one event each (they share the event).
    jobs: Mutex<VecDeque<Vec<ResolverJob>>>,
    notes: Mutex<VecDeque<BusNote>>,
    /// Async publishes that settled: `(token, outcome)`.
    settled: Mutex<Vec<(u64, Result<(), BusError>)>>,
    pub(crate) jobs_dropped: AtomicU64,
    pub(crate) invalid_events: AtomicU64,
}

impl Inbox {
    pub(crate) fn take_jobs(&self) -> VecDeque<Vec<ResolverJob>> {
        std::mem::take(&mut *self.jobs.lock())
    }

    pub(crate) fn take_notes(&self) -> VecDeque<BusNote> {
        std::mem::take(&mut *self.notes.lock())
    }

    pub(crate) fn take_settled(&self) -> Vec<(u64, Result<(), BusError>)> {
        std::mem::take(&mut *self.settled.lock())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.lock().is_empty() && self.notes.lock().is_empty() && self.settled.lock().is_empty()
    }
}

/// Delivers what the bus reads into the engine.
struct Sink {
    engine: Engine,
    inbox: Arc<Inbox>,
    wake: ReadyNotifier,
}

impl EventSink for Sink {
    fn deliver(&self, event: BusEvent) {
        let scope = EventScope {
            tenant: event.tenant.as_deref().map(Arc::from),
            user: event.user.as_deref().map(Arc::from),
            global: event.global,
        };
        match self.engine.publish(&event.event_type, &event.channel, event.data, scope) {
            Ok(outcome) if !outcome.jobs.is_empty() => {
                let mut jobs = self.inbox.jobs.lock();
                if jobs.len() >= MAX_WAITING_EVENTS {
                    // Dropped jobs finish as cancelled: their subscribers are told, in order.
                    self.inbox.jobs_dropped.fetch_add(outcome.jobs.len() as u64, Relaxed);
                    drop(jobs);
                    drop(outcome);
                    return;
                }
                jobs.push_back(outcome.jobs);
                drop(jobs);
                (self.wake)();
            }
            Ok(_) => {}
            // An event with a malformed tenant or user field (written by another program).
            Err(_) => {
                self.inbox.invalid_events.fetch_add(1, Relaxed);
            }
        }
    }

    fn note(&self, note: BusNote) {
        let mut notes = self.inbox.notes.lock();
        if notes.len() >= MAX_NOTES {
            notes.pop_front();
        }
        notes.push_back(note);
        drop(notes);
        (self.wake)();
    }
}

/// A running bus and its inbox.
pub(crate) struct BusLink {
    pub(crate) bus: Bus,
    pub(crate) inbox: Arc<Inbox>,
    wake: ReadyNotifier,
    next_token: AtomicU64,
}

impl BusLink {
    /// Connects (blocking for at most the connect timeout: call it with the GIL released).
    pub(crate) fn start(
        config: fraiseql_bus::BusConfig,
        options: fraiseql_bus::BusOptions,
        engine: Engine,
        wake: ReadyNotifier,
    ) -> Result<Self, BusError> {
        let inbox = Arc::new(Inbox::default());
        let sink = Arc::new(Sink { engine, inbox: inbox.clone(), wake: wake.clone() });
        let bus = Bus::start(config, options, sink)?;
        Ok(Self { bus, inbox, wake, next_token: AtomicU64::new(1) })
    }

    /// Starts publishing `event`; its outcome lands in the inbox under the returned token.
    pub(crate) fn publish_later(&self, event: BusEvent) -> u64 {
        let token = self.next_token.fetch_add(1, Relaxed);
        let inbox = self.inbox.clone();
        let wake = self.wake.clone();
        self.bus.publish_then(event, move |outcome| {
            inbox.settled.lock().push((token, outcome));
            wake();
        });
        token
    }
}
