//! What the bus tests share: a sink that records what it gets, unique names, waiting.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use fraiseql_bus::{BusEvent, BusNote, EventSink};
use parking_lot::{Condvar, Mutex};
use serde_json::json;

/// Generous bound for anything that should happen "soon" (never an assertion on speed).
pub const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<BusEvent>>,
    notes: Mutex<Vec<BusNote>>,
    changed: Condvar,
}

impl EventSink for Recorder {
    fn deliver(&self, event: BusEvent) {
        self.events.lock().push(event);
        self.changed.notify_all();
    }

    fn note(&self, note: BusNote) {
        self.notes.lock().push(note);
    }
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn events(&self) -> Vec<BusEvent> {
        self.events.lock().clone()
    }

    pub fn notes(&self) -> Vec<&'static str> {
        self.notes.lock().iter().map(|note| note.event).collect()
    }

    /// Waits until at least `count` events arrived (panics after [`PATIENCE`]).
    pub fn wait_for(&self, count: usize) -> Vec<BusEvent> {
        let deadline = Instant::now() + PATIENCE;
        let mut events = self.events.lock();
        while events.len() < count {
            if self.changed.wait_until(&mut events, deadline).timed_out() {
                panic!("only {} of {count} events arrived", events.len());
            }
        }
        events.clone()
    }
}

/// Waits until `condition` holds (panics after [`PATIENCE`]).
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000_000)
}

/// An event of publisher `who`, numbered `n`.
pub fn event(who: &str, n: usize) -> BusEvent {
    BusEvent {
        event_type: "test".to_owned(),
        channel: "room:lobby".to_owned(),
        data: json!({"who": who, "n": n}),
        tenant: None,
        user: None,
        global: false,
    }
}

/// Checks that `events` hold each publisher's `0..count` exactly once, in order.
pub fn assert_complete_and_ordered(events: &[BusEvent], publishers: &[&str], count: usize) {
    for who in publishers {
        let numbers: Vec<u64> = events
            .iter()
            .filter(|event| event.data["who"] == *who)
            .map(|event| event.data["n"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (0..count as u64).collect::<Vec<_>>(), "the events of {who}");
    }
    assert_eq!(events.len(), publishers.len() * count, "no other event, no duplicate");
}
