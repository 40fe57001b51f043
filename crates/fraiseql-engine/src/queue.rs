//! One bounded queue of pre-serialized frames per connection.
//!
//! A frame is kept as two shared slices: the subscription's envelope head
//! (`{"id":"<id>","type":"next","payload":`) and the payload serialized once for its whole group.
//! The bytes are joined only when the frame leaves the queue, so queueing a frame costs two
//! reference-count increments and no allocation.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// What happens when a frame arrives at a full connection queue. Every drop is counted in
/// the `frames_dropped_overflow` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Drop the oldest queued frame to make room: a slow client sees the freshest data.
    #[default]
    DropOldest,
    /// Drop the arriving frame: a slow client sees the oldest data, then a gap.
    DropNewest,
}

impl OverflowPolicy {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "drop_oldest" => Some(Self::DropOldest),
            "drop_newest" => Some(Self::DropNewest),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DropOldest => "drop_oldest",
            Self::DropNewest => "drop_newest",
        }
    }
}

/// Engine-internal identity of a subscription (never shown to clients).
pub type SubscriptionKey = u64;

/// Which graphql-transport-ws message a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    Next,
    /// An `error`: the subscription's last frame; taking it frees the subscription.
    Error,
}

/// One queued message. The envelope is written around the shared body only when the frame
/// leaves the queue, so queueing stores two reference counts and no new bytes.
#[derive(Debug, Clone)]
pub struct QueuedFrame {
    pub subscription: SubscriptionKey,
    pub kind: FrameKind,
    id: Arc<str>,
    body: Arc<[u8]>,
}

const HEAD_START: &[u8] = b"{\"id\":";
const FRAME_TAIL: &[u8] = b"}";

fn type_part(kind: FrameKind) -> &'static [u8] {
    match kind {
        FrameKind::Next => b",\"type\":\"next\",\"payload\":",
        FrameKind::Error => b",\"type\":\"error\",\"payload\":",
    }
}

/// The id as a JSON string (only for the rare ids that need escaping).
fn quoted_id(id: &str) -> Vec<u8> {
    serde_json::to_vec(id).unwrap_or_default()
}

/// Ids almost never need escaping; those are written as they are, with no allocation.
fn plain_id(id: &str) -> bool {
    id.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

impl QueuedFrame {
    pub fn new(subscription: SubscriptionKey, kind: FrameKind, id: Arc<str>, body: Arc<[u8]>) -> Self {
        Self { subscription, kind, id, body }
    }

    pub fn is_terminal(&self) -> bool {
        self.kind == FrameKind::Error
    }

    /// The client's id of the subscription this frame belongs to.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn id_len(&self) -> usize {
        if plain_id(&self.id) {
            self.id.len() + 2
        } else {
            quoted_id(&self.id).len()
        }
    }

    pub fn len(&self) -> usize {
        HEAD_START.len() + self.id_len() + type_part(self.kind).len() + self.body.len() + FRAME_TAIL.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the whole frame into `out`, which must be exactly [`Self::len`] bytes long.
    pub fn write_into(&self, out: &mut [u8]) {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(HEAD_START);
        if plain_id(&self.id) {
            put(b"\"");
            put(self.id.as_bytes());
            put(b"\"");
        } else {
            put(&quoted_id(&self.id));
        }
        put(type_part(self.kind));
        put(&self.body);
        put(FRAME_TAIL);
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.len()];
        self.write_into(&mut out);
        out
    }
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushOutcome {
    pub queued: bool,
    pub dropped: bool,
    /// The connection's writer was waiting and must now be woken.
    pub wake: bool,
}

/// What a writer that wants to wait finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitState {
    /// Frames are queued: drain them now.
    Ready,
    /// Nothing queued: the writer will be woken by the next frame (or by close).
    Armed,
    /// Closed and empty.
    Closed,
}

#[derive(Debug)]
struct QueueState {
    frames: VecDeque<QueuedFrame>,
    waiting: bool,
    closed: bool,
}

/// Wakes the one task that writes a connection's frames (a native transport's writer), instead
/// of the engine-wide ready list. Same rules as the ready notifier: it returns at once and never
/// waits (it may run while engine locks are held).
#[derive(Clone)]
pub struct ConnectionWaker(Arc<dyn Fn() + Send + Sync>);

impl ConnectionWaker {
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(wake))
    }

    pub fn wake(&self) {
        (self.0)();
    }
}

impl fmt::Debug for ConnectionWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectionWaker")
    }
}

/// A connection as the hot path sees it: its id and its frame queue.
#[derive(Debug)]
pub struct Connection {
    pub id: Arc<str>,
    capacity: usize,
    policy: OverflowPolicy,
    state: Mutex<QueueState>,
    /// Set once, by the transport that owns the connection's socket; read on every wake.
    waker: OnceLock<ConnectionWaker>,
}

impl Connection {
    pub fn new(id: Arc<str>, capacity: usize, policy: OverflowPolicy) -> Self {
        Self {
            id,
            capacity: capacity.max(1),
            policy,
            state: Mutex::new(QueueState { frames: VecDeque::new(), waiting: false, closed: false }),
            waker: OnceLock::new(),
        }
    }

    /// Gives the connection its own waker; false when it already had one (that one stays).
    pub fn set_waker(&self, waker: ConnectionWaker) -> bool {
        self.waker.set(waker).is_ok()
    }

    pub fn waker(&self) -> Option<&ConnectionWaker> {
        self.waker.get()
    }

    pub fn push(&self, frame: QueuedFrame) -> PushOutcome {
        let mut state = self.state.lock();
        if state.closed {
            return PushOutcome::default();
        }
        let mut outcome = PushOutcome { queued: true, ..PushOutcome::default() };
        if state.frames.len() >= self.capacity {
            // An `error` frame ends its subscription and frees it when taken: it is never the
            // one dropped, so a subscription cannot be left ended but never freed.
            let drop_arriving = self.policy == OverflowPolicy::DropNewest && !frame.is_terminal();
            if drop_arriving {
                return PushOutcome { queued: false, dropped: true, wake: false };
            }
            // With only error frames queued (at most one per subscription), all are kept.
            if let Some(index) = state.frames.iter().position(|queued| !queued.is_terminal()) {
                state.frames.remove(index);
                outcome.dropped = true;
            }
        }
        state.frames.push_back(frame);
        if state.waiting {
            state.waiting = false;
            outcome.wake = true;
        }
        outcome
    }

    /// Takes up to `max` frames, oldest first.
    pub fn drain(&self, max: usize) -> Vec<QueuedFrame> {
        let mut state = self.state.lock();
        let count = max.min(state.frames.len());
        state.frames.drain(..count).collect()
    }

    /// Takes the oldest frame of one subscription.
    pub fn pop_for(&self, subscription: SubscriptionKey) -> Option<QueuedFrame> {
        let mut state = self.state.lock();
        let index = state.frames.iter().position(|frame| frame.subscription == subscription)?;
        state.frames.remove(index)
    }

    /// Forgets every queued frame of a subscription (it was completed); returns how many.
    pub fn purge(&self, subscription: SubscriptionKey) -> usize {
        let mut state = self.state.lock();
        let before = state.frames.len();
        if state.frames.iter().any(|frame| frame.subscription == subscription) {
            state.frames.retain(|frame| frame.subscription != subscription);
        }
        let purged = before - state.frames.len();
        if state.frames.is_empty() && state.frames.capacity() > 64 {
            state.frames.shrink_to_fit();
        }
        purged
    }

    pub fn arm(&self) -> WaitState {
        let mut state = self.state.lock();
        if !state.frames.is_empty() {
            WaitState::Ready
        } else if state.closed {
            WaitState::Closed
        } else {
            state.waiting = true;
            WaitState::Armed
        }
    }

    /// Marks the connection closed, drops its frames and says whether a writer was waiting.
    pub fn close(&self) -> bool {
        let mut state = self.state.lock();
        state.closed = true;
        state.frames = VecDeque::new();
        std::mem::take(&mut state.waiting)
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().closed
    }

    pub fn queued(&self) -> usize {
        self.state.lock().frames.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(subscription: SubscriptionKey, body: &str) -> QueuedFrame {
        QueuedFrame::new(subscription, FrameKind::Next, Arc::from("s"), Arc::from(body.as_bytes()))
    }

    fn bodies(frames: Vec<QueuedFrame>) -> Vec<String> {
        frames.iter().map(|f| String::from_utf8(f.to_vec()).unwrap()).collect()
    }

    #[test]
    fn frames_join_envelope_and_body() {
        assert_eq!(frame(1, "{}").to_vec(), b"{\"id\":\"s\",\"type\":\"next\",\"payload\":{}}");
        let odd = QueuedFrame::new(1, FrameKind::Error, Arc::from("a\"b\n"), Arc::from(&b"[]"[..]));
        assert_eq!(odd.len(), odd.to_vec().len());
        assert_eq!(odd.to_vec(), b"{\"id\":\"a\\\"b\\n\",\"type\":\"error\",\"payload\":[]}");
        assert!(odd.is_terminal());
    }

    #[test]
    fn drop_oldest_keeps_the_newest_frames() {
        let connection = Connection::new(Arc::from("c"), 2, OverflowPolicy::DropOldest);
        assert!(!connection.push(frame(1, "1")).dropped);
        connection.push(frame(1, "2"));
        let outcome = connection.push(frame(1, "3"));
        assert!(outcome.queued && outcome.dropped);
        assert_eq!(
            bodies(connection.drain(10)),
            [frame(1, "2"), frame(1, "3")].map(|f| String::from_utf8(f.to_vec()).unwrap())
        );
    }

    #[test]
    fn drop_newest_refuses_the_arriving_frame() {
        let connection = Connection::new(Arc::from("c"), 1, OverflowPolicy::DropNewest);
        connection.push(frame(1, "1"));
        let outcome = connection.push(frame(1, "2"));
        assert!(!outcome.queued && outcome.dropped);
        assert_eq!(connection.drain(10).len(), 1);
    }

    #[test]
    fn error_frames_are_never_dropped_by_overflow() {
        for policy in [OverflowPolicy::DropOldest, OverflowPolicy::DropNewest] {
            let connection = Connection::new(Arc::from("c"), 2, policy);
            connection.push(QueuedFrame::new(1, FrameKind::Error, Arc::from("a"), Arc::from(&b"[]"[..])));
            connection.push(frame(2, "x"));
            let outcome = connection.push(QueuedFrame::new(3, FrameKind::Error, Arc::from("b"), Arc::from(&b"[]"[..])));
            assert!(outcome.queued && outcome.dropped, "{policy:?}: a next frame made room");
            connection.push(frame(2, "y"));
            let kept: Vec<bool> = connection.drain(10).iter().map(QueuedFrame::is_terminal).collect();
            assert_eq!(kept.iter().filter(|terminal| **terminal).count(), 2, "{policy:?}: {kept:?}");
        }
    }

    #[test]
    fn pop_for_and_purge_select_one_subscription() {
        let connection = Connection::new(Arc::from("c"), 10, OverflowPolicy::DropOldest);
        connection.push(frame(1, "a"));
        connection.push(frame(2, "b"));
        connection.push(frame(1, "c"));
        assert_eq!(connection.pop_for(2).unwrap().to_vec(), frame(2, "b").to_vec());
        assert!(connection.pop_for(2).is_none());
        connection.purge(1);
        assert_eq!(connection.queued(), 0);
    }

    #[test]
    fn waiting_writer_is_woken_once() {
        let connection = Connection::new(Arc::from("c"), 10, OverflowPolicy::DropOldest);
        assert_eq!(connection.arm(), WaitState::Armed);
        assert!(connection.push(frame(1, "a")).wake);
        assert!(!connection.push(frame(1, "b")).wake, "one wake per wait");
        assert_eq!(connection.arm(), WaitState::Ready);
        connection.drain(usize::MAX);
        assert_eq!(connection.arm(), WaitState::Armed);
        assert!(connection.close(), "close wakes the waiting writer");
        assert_eq!(connection.arm(), WaitState::Closed);
        assert!(!connection.push(frame(1, "x")).queued);
    }
}
