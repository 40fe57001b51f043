//! Groups: subscriptions whose results are identical (same operation, variables, channel and
//! resolver) share one shaping plan and one resolver run per event. Their members, the channel
//! index of groups, and the registry's bookkeeping when members come and go.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::{Map, Value};

use super::registry::Registry;
use super::{ResolverId, ResolverOutcome};
use crate::document::ShapePlan;
use crate::event::{Event, SecurityContext};
use crate::filter::Filter;
use crate::queue::{Connection, SubscriptionKey};
use crate::rate::TokenBucket;

pub(super) type GroupId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct GroupKey {
    pub(super) operation: u64,
    pub(super) variables: Arc<str>,
    pub(super) channel: Arc<str>,
    pub(super) resolver: Option<ResolverId>,
}

#[derive(Debug)]
pub(super) struct Member {
    pub(super) key: SubscriptionKey,
    pub(super) id: Arc<str>,
    pub(super) connection: Arc<Connection>,
    pub(super) context: SecurityContext,
    /// The subscription's row-level filter, specialized to its context and arguments (`None`:
    /// no filter, or one that lets everything through for this subscriber).
    pub(super) filter: Option<Box<Filter>>,
    /// Frames per second this subscription may get (`max_frames_per_second`).
    pub(super) rate: Option<TokenBucket>,
    /// Set once an `error` ended it: it gets nothing more while that frame waits to be taken.
    pub(super) terminated: AtomicBool,
}

#[derive(Debug, Default)]
pub(super) struct OrderState {
    pub(super) next_seq: u64,
    pub(super) next_to_deliver: u64,
    pub(super) finished: BTreeMap<u64, (Arc<Event>, ResolverOutcome)>,
}

#[derive(Debug)]
pub(super) struct Group {
    pub(super) key: GroupKey,
    pub(super) index_in_channel: usize,
    pub(super) plan: Arc<ShapePlan>,
    pub(super) variables: Arc<Map<String, Value>>,
    pub(super) root_field: Arc<str>,
    pub(super) members: Vec<Member>,
    /// Resolver results can finish out of order; they are delivered in publish order.
    pub(super) order: Mutex<OrderState>,
}

impl Registry {
    pub(super) fn insert_group(
        &mut self,
        key: GroupKey,
        plan: Arc<ShapePlan>,
        variables: Arc<Map<String, Value>>,
        root_field: Arc<str>,
    ) -> GroupId {
        self.next_key += 1;
        let id = self.next_key;
        let channel_groups = self.channels.entry(key.channel.clone()).or_default();
        channel_groups.push(id);
        let index_in_channel = channel_groups.len() - 1;
        if let Some(resolver) = key.resolver {
            *self.resolver_refs.entry(resolver).or_default() += 1;
        }
        self.group_index.insert(key.clone(), id);
        self.groups.insert(
            id,
            Group { key, index_in_channel, plan, variables, root_field, members: Vec::new(), order: Mutex::default() },
        );
        id
    }

    pub(super) fn add_member(&mut self, group: GroupId, member: Member) -> usize {
        let members = &mut self.groups.get_mut(&group).expect("group of a live subscription").members;
        members.push(member);
        members.len() - 1
    }

    /// Takes a subscription out of its group (swap-remove, fixing the moved member's index).
    pub(super) fn remove_member(&mut self, key: SubscriptionKey) -> Member {
        let entry = &self.subscriptions[&key];
        let (group_id, index) = (entry.group, entry.index_in_group);
        let members = &mut self.groups.get_mut(&group_id).expect("group of a live subscription").members;
        let member = members.swap_remove(index);
        if let Some(moved) = members.get(index) {
            let moved_key = moved.key;
            if let Some(moved_entry) = self.subscriptions.get_mut(&moved_key) {
                moved_entry.index_in_group = index;
            }
        }
        member
    }

    /// Frees a group with no member left; returns its resolver when nothing else uses it.
    pub(super) fn release_group_if_empty(&mut self, group_id: GroupId) -> Option<ResolverId> {
        if !self.groups.get(&group_id).is_some_and(|group| group.members.is_empty()) {
            return None;
        }
        let group = self.groups.remove(&group_id)?;
        self.group_index.remove(&group.key);
        if let Some(channel_groups) = self.channels.get_mut(&group.key.channel) {
            channel_groups.swap_remove(group.index_in_channel);
            if let Some(moved) = channel_groups.get(group.index_in_channel).copied() {
                if let Some(moved_group) = self.groups.get_mut(&moved) {
                    moved_group.index_in_channel = group.index_in_channel;
                }
            }
            if channel_groups.is_empty() {
                self.channels.remove(&group.key.channel);
            }
        }
        let resolver = group.key.resolver?;
        let refs = self.resolver_refs.get_mut(&resolver)?;
        *refs -= 1;
        if *refs == 0 {
            self.resolver_refs.remove(&resolver);
            return Some(resolver);
        }
        None
    }
}
