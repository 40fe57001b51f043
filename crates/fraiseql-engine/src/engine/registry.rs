//! The registry: connections, subscriptions (by key, by client id, per connection), groups
//! and the channel index, behind the engine's one `RwLock`. Finding a subscription, making a
//! connection exist, and giving memory back after a wave of completions.

use std::sync::Arc;

use super::groups::{Group, GroupId, GroupKey};
use super::{EngineConfig, FastMap, ResolverId, SubscriptionRef};
use crate::error::{EngineError, EngineResult};
use crate::memory;
use crate::queue::{Connection, SubscriptionKey};

#[derive(Debug)]
pub(super) struct SubscriptionEntry {
    pub(super) connection: Arc<Connection>,
    pub(super) id: Arc<str>,
    pub(super) group: GroupId,
    pub(super) index_in_group: usize,
}

#[derive(Debug)]
pub(super) struct ConnectionEntry {
    pub(super) connection: Arc<Connection>,
    pub(super) subscriptions: FastMap<Arc<str>, SubscriptionKey>,
    /// Opened explicitly (kept while empty) rather than created by a first registration.
    pub(super) explicit: bool,
}

/// The subscriptions using one client id: nearly always one, so no allocation for it.
#[derive(Debug)]
pub(super) enum IdKeys {
    One(SubscriptionKey),
    Many(Vec<SubscriptionKey>),
}

impl IdKeys {
    fn as_slice(&self) -> &[SubscriptionKey] {
        match self {
            IdKeys::One(key) => std::slice::from_ref(key),
            IdKeys::Many(keys) => keys,
        }
    }

    pub(super) fn add(&mut self, key: SubscriptionKey) {
        match self {
            IdKeys::One(first) => *self = IdKeys::Many(vec![*first, key]),
            IdKeys::Many(keys) => keys.push(key),
        }
    }

    /// Removes `key`; true when none is left.
    pub(super) fn remove(&mut self, key: SubscriptionKey) -> bool {
        match self {
            IdKeys::One(only) => *only == key,
            IdKeys::Many(keys) => {
                keys.retain(|other| *other != key);
                if let [last] = keys.as_slice() {
                    *self = IdKeys::One(*last);
                }
                keys_empty(self)
            }
        }
    }
}

fn keys_empty(keys: &IdKeys) -> bool {
    matches!(keys, IdKeys::Many(keys) if keys.is_empty())
}

#[derive(Debug, Default)]
pub(super) struct Registry {
    pub(super) connections: FastMap<Arc<str>, ConnectionEntry>,
    pub(super) subscriptions: FastMap<SubscriptionKey, SubscriptionEntry>,
    pub(super) by_id: FastMap<Arc<str>, IdKeys>,
    pub(super) groups: FastMap<GroupId, Group>,
    pub(super) group_index: FastMap<GroupKey, GroupId>,
    pub(super) channels: FastMap<Arc<str>, Vec<GroupId>>,
    pub(super) resolver_refs: FastMap<ResolverId, usize>,
    pub(super) next_key: u64,
    /// Most subscriptions alive since memory was last given back to the system.
    pub(super) high_water: usize,
    /// A large wave is draining: give memory back once more when it is gone entirely.
    pub(super) draining_wave: bool,
}

impl Registry {
    pub(super) fn connection_or_insert(
        &mut self,
        id: &Arc<str>,
        explicit: bool,
        config: &EngineConfig,
    ) -> Arc<Connection> {
        let entry = self.connections.entry(id.clone()).or_insert_with(|| ConnectionEntry {
            connection: Arc::new(Connection::new(id.clone(), config.max_queued_frames, config.overflow)),
            subscriptions: FastMap::default(),
            explicit,
        });
        entry.explicit |= explicit;
        entry.connection.clone()
    }

    pub(super) fn find(&self, subscription: SubscriptionRef<'_>) -> EngineResult<SubscriptionKey> {
        let not_found = || EngineError::SubscriptionNotFound {
            subscription_id: subscription.subscription_id.to_owned(),
            connection_id: subscription.connection_id.map(str::to_owned),
        };
        match subscription.connection_id {
            Some(connection_id) => self
                .connections
                .get(connection_id)
                .and_then(|entry| entry.subscriptions.get(subscription.subscription_id))
                .copied()
                .ok_or_else(not_found),
            None => match self.by_id.get(subscription.subscription_id).map(IdKeys::as_slice) {
                Some([key]) => Ok(*key),
                Some(keys) if keys.len() > 1 => Err(EngineError::AmbiguousSubscription {
                    subscription_id: subscription.subscription_id.to_owned(),
                    connections: keys.len(),
                }),
                _ => Err(not_found()),
            },
        }
    }

    /// True once live subscriptions fell to a quarter of a high-water mark of at least
    /// [`memory::WAVE_SIZE`]: the moment to give the freed memory back to the system.
    pub(super) fn wave_ended(&mut self) -> bool {
        let live = self.subscriptions.len();
        if self.high_water >= memory::WAVE_SIZE && live * 4 <= self.high_water {
            self.high_water = live;
            self.draining_wave = live > 0;
            return true;
        }
        if self.draining_wave && live == 0 {
            self.draining_wave = false;
            return true;
        }
        false
    }

    /// Gives memory back after a wave of completions (hash maps never shrink by themselves).
    pub(super) fn shrink(&mut self) {
        fn shrink_map<K: std::hash::Hash + Eq, V>(map: &mut FastMap<K, V>) {
            if map.capacity() > 1024 && map.len() * 4 < map.capacity() {
                map.shrink_to_fit();
            }
        }
        shrink_map(&mut self.connections);
        shrink_map(&mut self.subscriptions);
        shrink_map(&mut self.by_id);
        shrink_map(&mut self.groups);
        shrink_map(&mut self.group_index);
        shrink_map(&mut self.channels);
    }
}
