//! Connections: opened explicitly (optionally with a waker of their own) or by a first
//! registration, and closed with every subscription they hold.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use super::Engine;
use crate::error::{EngineError, EngineResult};
use crate::memory;
use crate::queue::{Connection, ConnectionWaker, SubscriptionKey};

impl Engine {
    /// Makes a connection exist (and stay while it has no subscription) until closed.
    pub fn open_connection(&self, connection_id: &str) {
        let connection_id: Arc<str> = Arc::from(connection_id);
        self.inner.registry.write().connection_or_insert(&connection_id, true, &self.inner.config);
    }

    /// Opens a connection (as [`Engine::open_connection`]) whose writer is woken through `waker`
    /// rather than the ready list and the ready notifier: a transport with one task per
    /// connection wakes exactly that task. A connection keeps the first waker it was given.
    pub fn open_connection_with_waker(&self, connection_id: &str, waker: ConnectionWaker) -> EngineResult<()> {
        let connection_id: Arc<str> = Arc::from(connection_id);
        let connection = self.inner.registry.write().connection_or_insert(&connection_id, true, &self.inner.config);
        if connection.set_waker(waker) {
            Ok(())
        } else {
            Err(EngineError::Config(format!("connection {connection_id:?} already has a waker")))
        }
    }

    /// Closes a connection: frees every subscription of it and wakes its writer. Returns how
    /// many subscriptions were freed; closing an unknown connection frees none.
    pub fn close_connection(&self, connection_id: &str) -> usize {
        let mut registry = self.inner.registry.write();
        let Some(entry) = registry.connections.get(connection_id) else { return 0 };
        let keys: Vec<SubscriptionKey> = entry.subscriptions.values().copied().collect();
        let connection = entry.connection.clone();
        for key in &keys {
            self.remove_subscription(&mut registry, *key);
        }
        registry.connections.remove(connection_id);
        registry.shrink();
        let trim = registry.wave_ended();
        drop(registry);
        if trim {
            memory::release_free_memory();
        }
        self.inner.metrics.subscriptions_completed.fetch_add(keys.len() as u64, Relaxed);
        if connection.close() {
            self.wake(vec![connection]);
        }
        keys.len()
    }

    pub(super) fn connection(&self, connection_id: &str) -> Option<Arc<Connection>> {
        self.inner.registry.read().connections.get(connection_id).map(|entry| entry.connection.clone())
    }
}
