//! Delivery: frames leave the connection queues for their writers. Arming a writer, draining
//! and popping frames (freeing subscriptions whose terminal frame was taken) and waking
//! writers: through a connection's own waker, or the ready list and the ready notifier.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::{Engine, SubscriptionRef};
use crate::error::{EngineError, EngineResult};
use crate::queue::{Connection, QueuedFrame, WaitState};

/// Called when connections become ready while none were. It must return at once and never
/// wait for anything (it may run while engine locks are held): a pipe write is the model.
pub type ReadyNotifier = Arc<dyn Fn() + Send + Sync>;

impl Engine {
    /// Installs the function that wakes the host when writers have frames to send.
    pub fn set_ready_notifier(&self, notifier: Option<ReadyNotifier>) {
        *self.inner.notifier.write() = notifier;
    }

    /// Arms the connection's writer: it will be woken by the next frame, unless frames are
    /// already waiting or the connection is closed.
    pub fn arm(&self, connection_id: &str) -> EngineResult<WaitState> {
        match self.connection(connection_id) {
            Some(connection) => Ok(connection.arm()),
            None => Err(EngineError::ConnectionNotFound { connection_id: connection_id.to_owned() }),
        }
    }

    /// The connections woken since the last call (their writers should drain them now).
    pub fn take_ready(&self) -> Vec<Arc<Connection>> {
        std::mem::take(&mut *self.inner.ready.lock())
    }

    /// Takes up to `max` queued frames of a connection, oldest first.
    pub fn drain(&self, connection_id: &str) -> EngineResult<Vec<QueuedFrame>> {
        self.drain_at_most(connection_id, usize::MAX)
    }

    pub fn drain_at_most(&self, connection_id: &str, max: usize) -> EngineResult<Vec<QueuedFrame>> {
        let connection = self
            .connection(connection_id)
            .ok_or_else(|| EngineError::ConnectionNotFound { connection_id: connection_id.to_owned() })?;
        let frames = connection.drain(max);
        self.inner.metrics.frames_delivered.fetch_add(frames.len() as u64, Relaxed);
        self.release_terminated(&frames);
        Ok(frames)
    }

    /// Takes the next frame of one subscription, if any.
    pub fn next_frame(&self, subscription: SubscriptionRef<'_>) -> EngineResult<Option<QueuedFrame>> {
        let (key, connection) = {
            let registry = self.inner.registry.read();
            let key = registry.find(subscription)?;
            (key, registry.subscriptions[&key].connection.clone())
        };
        let frame = connection.pop_for(key);
        if let Some(frame) = &frame {
            self.inner.metrics.frames_delivered.fetch_add(1, Relaxed);
            self.release_terminated(std::slice::from_ref(frame));
        }
        Ok(frame)
    }

    /// Frees the subscriptions whose terminal frame was just taken.
    fn release_terminated(&self, frames: &[QueuedFrame]) {
        if !frames.iter().any(QueuedFrame::is_terminal) {
            return;
        }
        let mut registry = self.inner.registry.write();
        for frame in frames.iter().filter(|frame| frame.is_terminal()) {
            if registry.subscriptions.contains_key(&frame.subscription) {
                self.remove_subscription(&mut registry, frame.subscription);
                self.inner.metrics.subscriptions_terminated_by_error.fetch_add(1, Relaxed);
            }
        }
    }

    pub(super) fn wake(&self, mut connections: Vec<Arc<Connection>>) {
        // Connections with a waker of their own wake their writer directly; the rest go through
        // the ready list (the Python host's path).
        connections.retain(|connection| match connection.waker() {
            Some(waker) => {
                waker.wake();
                false
            }
            None => true,
        });
        if connections.is_empty() {
            return;
        }
        let was_empty = {
            let mut ready = self.inner.ready.lock();
            let was_empty = ready.is_empty();
            ready.extend(connections);
            was_empty
        };
        if was_empty {
            let notifier = self.inner.notifier.read().clone();
            if let Some(notify) = notifier {
                notify();
            }
        }
    }
}
