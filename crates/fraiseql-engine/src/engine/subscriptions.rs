//! Subscriptions: registering one (into the group of its identical peers), completing it,
//! moving it to another group when its resolver changes, and the channel it listens on.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::groups::{GroupKey, Member};
use super::registry::{IdKeys, Registry, SubscriptionEntry};
use super::{Engine, ResolverId};
use crate::error::{EngineError, EngineResult};
use crate::event::SecurityContext;
use crate::filter::{Filter, FilterInputs};
use crate::memory;
use crate::queue::SubscriptionKey;
use crate::rate::TokenBucket;

/// Everything needed to register one subscription.
#[derive(Debug, Clone, Default)]
pub struct Registration<'a> {
    pub connection_id: &'a str,
    pub subscription_id: &'a str,
    pub query: &'a str,
    pub operation_name: Option<&'a str>,
    pub variables: Map<String, Value>,
    pub context: SecurityContext,
    /// Overrides the channel (by default the root field's name).
    pub channel: Option<&'a str>,
    /// Attached at registration, so no event can reach the subscription without it.
    pub resolver: Option<ResolverId>,
    /// A row-level filter and what it sees of the subscriber (context, arguments).
    pub filter: Option<(Arc<Filter>, Arc<FilterInputs>)>,
}

/// Which subscription a call is about: its client id, and its connection when several
/// connections use the same id.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionRef<'a> {
    pub subscription_id: &'a str,
    pub connection_id: Option<&'a str>,
}

impl Engine {
    /// Registers a subscription under the client's id; returns the channel it listens on.
    pub fn register(&self, registration: Registration<'_>) -> EngineResult<Arc<str>> {
        let inner = &*self.inner;
        let operation = inner.documents.get_or_compile(registration.query, registration.operation_name)?;
        let variables = operation.coerce_variables(&registration.variables)?;
        let variables_key: Arc<str> =
            Arc::from(serde_json::to_string(&variables).map_err(|e| EngineError::Config(e.to_string()))?);
        let channel: Arc<str> = Arc::from(registration.channel.unwrap_or(&operation.root_field));
        let group_key = GroupKey {
            operation: operation.id,
            variables: variables_key,
            channel: channel.clone(),
            resolver: registration.resolver,
        };
        // Binding the plan is the only costly step: done outside the write lock, once per group.
        let existing_group = inner.registry.read().group_index.get(&group_key).copied();
        let plan = match existing_group {
            Some(_) => None,
            None => Some(Arc::new(operation.bind(&variables)?)),
        };
        let connection_id: Arc<str> = Arc::from(registration.connection_id);
        let subscription_id: Arc<str> = Arc::from(registration.subscription_id);

        let mut registry = inner.registry.write();
        if registry
            .connections
            .get(&connection_id)
            .is_some_and(|entry| entry.subscriptions.contains_key(&subscription_id))
        {
            return Err(EngineError::DuplicateSubscription {
                connection_id: connection_id.to_string(),
                subscription_id: subscription_id.to_string(),
            });
        }
        let connection = registry.connection_or_insert(&connection_id, false, &inner.config);
        registry.next_key += 1;
        let key = registry.next_key;
        let member = Member {
            key,
            id: subscription_id.clone(),
            connection: connection.clone(),
            context: registration.context,
            filter: registration.filter.and_then(|(filter, inputs)| match filter.specialize(&inputs) {
                Filter::Always(true) => None,
                specialized => Some(Box::new(specialized)),
            }),
            rate: inner.config.max_frames_per_second.map(|rate| TokenBucket::new(rate, rate)),
            terminated: AtomicBool::new(false),
        };
        let group = match registry.group_index.get(&group_key).copied() {
            Some(group) => group,
            None => {
                let plan = match plan {
                    Some(plan) => plan,
                    // Another registration removed the group we saw: bind now (rare).
                    None => Arc::new(operation.bind(&variables)?),
                };
                registry.insert_group(group_key, plan, Arc::new(variables), operation.root_field.clone())
            }
        };
        let index_in_group = registry.add_member(group, member);
        registry
            .subscriptions
            .insert(key, SubscriptionEntry { connection, id: subscription_id.clone(), group, index_in_group });
        match registry.by_id.get_mut(&subscription_id) {
            Some(keys) => keys.add(key),
            None => {
                registry.by_id.insert(subscription_id.clone(), IdKeys::One(key));
            }
        }
        registry.high_water = registry.high_water.max(registry.subscriptions.len());
        if let Some(entry) = registry.connections.get_mut(&connection_id) {
            entry.subscriptions.insert(subscription_id, key);
        }
        inner.metrics.subscriptions_registered.fetch_add(1, Relaxed);
        Ok(channel)
    }

    /// Removes a subscription completely: index entries, group membership, queued frames.
    pub fn complete(&self, subscription: SubscriptionRef<'_>) -> EngineResult<()> {
        let mut registry = self.inner.registry.write();
        let key = registry.find(subscription)?;
        self.remove_subscription(&mut registry, key);
        let trim = registry.wave_ended();
        drop(registry);
        self.inner.metrics.subscriptions_completed.fetch_add(1, Relaxed);
        if trim {
            memory::release_free_memory();
        }
        Ok(())
    }

    /// Attaches (or with `None` detaches) a resolver to a subscription. The subscription moves
    /// to the group of subscriptions sharing that resolver and security context.
    pub fn set_resolver(&self, subscription: SubscriptionRef<'_>, resolver: Option<ResolverId>) -> EngineResult<()> {
        let mut registry = self.inner.registry.write();
        let key = registry.find(subscription)?;
        let entry = &registry.subscriptions[&key];
        let old_group = entry.group;
        let group = &registry.groups[&old_group];
        if group.key.resolver == resolver {
            return Ok(());
        }
        let new_key = GroupKey { resolver, ..group.key.clone() };
        let (plan, variables, root_field) = (group.plan.clone(), group.variables.clone(), group.root_field.clone());
        let member = registry.remove_member(key);
        if let Some(released) = registry.release_group_if_empty(old_group) {
            self.inner.released_resolvers.lock().push(released);
        }
        let new_group = match registry.group_index.get(&new_key).copied() {
            Some(group) => group,
            None => registry.insert_group(new_key, plan, variables, root_field),
        };
        let index = registry.add_member(new_group, member);
        if let Some(entry) = registry.subscriptions.get_mut(&key) {
            entry.group = new_group;
            entry.index_in_group = index;
        }
        Ok(())
    }

    /// The channel a subscription listens on.
    pub fn channel_of(&self, subscription: SubscriptionRef<'_>) -> EngineResult<Arc<str>> {
        let registry = self.inner.registry.read();
        let key = registry.find(subscription)?;
        Ok(registry.groups[&registry.subscriptions[&key].group].key.channel.clone())
    }

    pub(super) fn remove_subscription(&self, registry: &mut Registry, key: SubscriptionKey) {
        let Some(entry) = registry.subscriptions.get(&key) else { return };
        let (group, connection, id) = (entry.group, entry.connection.clone(), entry.id.clone());
        registry.remove_member(key);
        if let Some(released) = registry.release_group_if_empty(group) {
            self.inner.released_resolvers.lock().push(released);
        }
        registry.subscriptions.remove(&key);
        if registry.by_id.get_mut(&id).is_some_and(|keys| keys.remove(key)) {
            registry.by_id.remove(&id);
        }
        let unsent = connection.purge(key);
        self.inner.metrics.frames_dropped_unsent.fetch_add(unsent as u64, Relaxed);
        let mut close_implicit = false;
        if let Some(entry) = registry.connections.get_mut(&connection.id) {
            entry.subscriptions.remove(&id);
            close_implicit = entry.subscriptions.is_empty() && !entry.explicit;
            if entry.subscriptions.is_empty() {
                entry.subscriptions.shrink_to_fit();
            }
        }
        if close_implicit {
            registry.connections.remove(&connection.id);
            if connection.close() {
                self.wake(vec![connection]);
            }
        }
        registry.shrink();
    }
}
