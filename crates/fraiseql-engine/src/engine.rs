//! The engine: the subscription registry, the channel index, event dispatch and resolver jobs.
//!
//! Subscriptions whose results are identical (same operation, variables and resolver) form a
//! *group*. An event is shaped and serialized once per
//! group; each member only adds its envelope. Publishing walks the groups indexed under the
//! event's channel, so its cost is proportional to the matching subscriptions only.
//!
//! Locking: one `RwLock` over the registry (publishers share it; register/complete take it
//! briefly for writing), a mutex per group for resolver ordering and one per connection queue,
//! always taken in that order. The engine never calls back into a host language and never
//! blocks on anything but these locks; the ready notifier it calls must not block either.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Weak};
use std::time::Instant;

use ahash::RandomState;
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};

use crate::document::{DocumentCache, DocumentLimits, ShapePlan, DEFAULT_DOCUMENT_CACHE_BYTES};
use crate::error::{EngineError, EngineResult, GraphQLError};
use crate::event::{Event, EventScope, ScopeFields, SecurityContext};
use crate::filter::{Filter, FilterInputs};
use crate::memory;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::queue::{
    Connection, ConnectionWaker, FrameKind, OverflowPolicy, PushOutcome, QueuedFrame, SubscriptionKey, WaitState,
};
use crate::rate::TokenBucket;
use crate::schema::SchemaModel;
use crate::shape;

type FastMap<K, V> = HashMap<K, V, RandomState>;

/// A host-side resolver, known to the engine only by this number.
pub type ResolverId = u64;
type GroupId = u64;

/// Called when connections become ready while none were. It must return at once and never
/// wait for anything (it may run while engine locks are held): a pipe write is the model.
pub type ReadyNotifier = Arc<dyn Fn() + Send + Sync>;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Frames kept per connection before the overflow policy applies.
    pub max_queued_frames: usize,
    pub overflow: OverflowPolicy,
    pub document_cache_size: usize,
    /// Estimated bytes the cached documents may hold (see `CompiledOperation::estimated_bytes`);
    /// least recently used documents are evicted beyond it, and a larger document is not cached.
    pub document_cache_bytes: usize,
    pub scope_fields: ScopeFields,
    /// Validate documents against this schema (every rule) and coerce variables to its types.
    pub schema: Option<SchemaModel>,
    pub document_limits: DocumentLimits,
    pub resolver_errors: ResolverErrorPolicy,
    /// Frames per second each subscription may get (a token bucket with a burst of as many);
    /// the excess is dropped and counted (`frames_dropped_rate`). `None`: no limit.
    pub max_frames_per_second: Option<f64>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_queued_frames: 1000,
            overflow: OverflowPolicy::DropOldest,
            document_cache_size: 1000,
            document_cache_bytes: DEFAULT_DOCUMENT_CACHE_BYTES,
            scope_fields: ScopeFields::default(),
            schema: None,
            document_limits: DocumentLimits::default(),
            resolver_errors: ResolverErrorPolicy::default(),
            max_frames_per_second: None,
        }
    }
}

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

/// What a subscription document asks for, as a server needs to know before registering it.
#[derive(Debug, Clone, PartialEq)]
pub struct OperationInfo {
    pub root_field: Arc<str>,
    pub response_key: Arc<str>,
    pub operation_name: Option<String>,
    /// The root field's arguments, variables substituted.
    pub arguments: Map<String, Value>,
    /// The variables with defaults applied.
    pub variables: Map<String, Value>,
}

/// Which subscription a call is about: its client id, and its connection when several
/// connections use the same id.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionRef<'a> {
    pub subscription_id: &'a str,
    pub connection_id: Option<&'a str>,
}

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

/// The result of one publish call.
#[derive(Debug, Default)]
pub struct PublishOutcome {
    /// Frames queued during the call (groups without resolver).
    pub frames_queued: usize,
    /// One job per group with a resolver that has at least one member allowed to see the event.
    pub jobs: Vec<ResolverJob>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct GroupKey {
    operation: u64,
    variables: Arc<str>,
    channel: Arc<str>,
    resolver: Option<ResolverId>,
}

#[derive(Debug)]
struct Member {
    key: SubscriptionKey,
    id: Arc<str>,
    connection: Arc<Connection>,
    context: SecurityContext,
    /// The subscription's row-level filter, specialized to its context and arguments (`None`:
    /// no filter, or one that lets everything through for this subscriber).
    filter: Option<Box<Filter>>,
    /// Frames per second this subscription may get (`max_frames_per_second`).
    rate: Option<TokenBucket>,
    /// Set once an `error` ended it: it gets nothing more while that frame waits to be taken.
    terminated: AtomicBool,
}

/// Whether a member may see an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sight {
    Visible,
    /// Another tenant's, or targeted at another user.
    OutOfScope,
    /// Refused by the subscription's filter.
    Filtered,
}

impl Member {
    #[inline]
    fn sight(&self, event: &Event) -> Sight {
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
struct Unseen {
    out_of_scope: u64,
    filtered: u64,
}

impl Unseen {
    /// True for a visible member; counts the others.
    fn note(&mut self, sight: Sight) -> bool {
        match sight {
            Sight::Visible => return true,
            Sight::OutOfScope => self.out_of_scope += 1,
            Sight::Filtered => self.filtered += 1,
        }
        false
    }

    fn record(&self, metrics: &Metrics) {
        metrics.events_filtered_out.fetch_add(self.out_of_scope, Relaxed);
        metrics.events_filtered_by_filter.fetch_add(self.filtered, Relaxed);
    }
}

#[derive(Debug, Default)]
struct OrderState {
    next_seq: u64,
    next_to_deliver: u64,
    finished: BTreeMap<u64, (Arc<Event>, ResolverOutcome)>,
}

#[derive(Debug)]
struct Group {
    key: GroupKey,
    index_in_channel: usize,
    plan: Arc<ShapePlan>,
    variables: Arc<Map<String, Value>>,
    root_field: Arc<str>,
    members: Vec<Member>,
    /// Resolver results can finish out of order; they are delivered in publish order.
    order: Mutex<OrderState>,
}

#[derive(Debug)]
struct SubscriptionEntry {
    connection: Arc<Connection>,
    id: Arc<str>,
    group: GroupId,
    index_in_group: usize,
}

#[derive(Debug)]
struct ConnectionEntry {
    connection: Arc<Connection>,
    subscriptions: FastMap<Arc<str>, SubscriptionKey>,
    /// Opened explicitly (kept while empty) rather than created by a first registration.
    explicit: bool,
}

/// The subscriptions using one client id: nearly always one, so no allocation for it.
#[derive(Debug)]
enum IdKeys {
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

    fn add(&mut self, key: SubscriptionKey) {
        match self {
            IdKeys::One(first) => *self = IdKeys::Many(vec![*first, key]),
            IdKeys::Many(keys) => keys.push(key),
        }
    }

    /// Removes `key`; true when none is left.
    fn remove(&mut self, key: SubscriptionKey) -> bool {
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
struct Registry {
    connections: FastMap<Arc<str>, ConnectionEntry>,
    subscriptions: FastMap<SubscriptionKey, SubscriptionEntry>,
    by_id: FastMap<Arc<str>, IdKeys>,
    groups: FastMap<GroupId, Group>,
    group_index: FastMap<GroupKey, GroupId>,
    channels: FastMap<Arc<str>, Vec<GroupId>>,
    resolver_refs: FastMap<ResolverId, usize>,
    next_key: u64,
    /// Most subscriptions alive since memory was last given back to the system.
    high_water: usize,
    /// A large wave is draining: give memory back once more when it is gone entirely.
    draining_wave: bool,
}

struct Inner {
    config: EngineConfig,
    documents: DocumentCache,
    registry: RwLock<Registry>,
    ready: Mutex<Vec<Arc<Connection>>>,
    notifier: RwLock<Option<ReadyNotifier>>,
    released_resolvers: Mutex<Vec<ResolverId>>,
    pending_jobs: AtomicU64,
    metrics: Metrics,
}

/// The subscription engine. Cheap to clone (shared state); safe to use from many threads.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new(EngineConfig::default())
    }
}

impl Engine {
    pub fn new(config: EngineConfig) -> Self {
        let documents =
            DocumentCache::with_schema(config.document_cache_size, config.schema.clone(), config.document_limits)
                .with_max_bytes(config.document_cache_bytes);
        Self {
            inner: Arc::new(Inner {
                config,
                documents,
                registry: RwLock::new(Registry::default()),
                ready: Mutex::new(Vec::new()),
                notifier: RwLock::new(None),
                released_resolvers: Mutex::new(Vec::new()),
                pending_jobs: AtomicU64::new(0),
                metrics: Metrics::default(),
            }),
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Replaces the schema documents are validated against (`None`: no schema). Subscriptions
    /// already registered keep the plan they were compiled with.
    pub fn set_schema(&self, schema: Option<SchemaModel>) {
        self.inner.documents.set_schema(schema);
    }

    pub fn schema(&self) -> Option<SchemaModel> {
        self.inner.documents.schema()
    }

    /// Installs the function that wakes the host when writers have frames to send.
    pub fn set_ready_notifier(&self, notifier: Option<ReadyNotifier>) {
        *self.inner.notifier.write() = notifier;
    }

    /// Parses and validates a document (cached) and says what it subscribes to, without
    /// registering anything.
    pub fn inspect(
        &self,
        query: &str,
        operation_name: Option<&str>,
        variables: &Map<String, Value>,
    ) -> EngineResult<OperationInfo> {
        let operation = self.inner.documents.get_or_compile(query, operation_name)?;
        let variables = operation.coerce_variables(variables)?;
        Ok(OperationInfo {
            root_field: operation.root_field.clone(),
            response_key: operation.root_response_key().clone(),
            operation_name: operation.operation_name.clone(),
            arguments: operation.root_arguments(&variables),
            variables,
        })
    }

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

    fn job_for(&self, group_id: GroupId, group: &Group, event: &Arc<Event>) -> Option<ResolverJob> {
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

    /// Queues a `next` frame to every member allowed to see `event`; its payload is made by
    /// `payload_of` once, and only if some member receives it.
    fn fan_out(
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
    fn fail_members(&self, group: &Group, event: &Event, error: &GraphQLError, to_wake: &mut Vec<Arc<Connection>>) {
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

    /// The channel a subscription listens on.
    pub fn channel_of(&self, subscription: SubscriptionRef<'_>) -> EngineResult<Arc<str>> {
        let registry = self.inner.registry.read();
        let key = registry.find(subscription)?;
        Ok(registry.groups[&registry.subscriptions[&key].group].key.channel.clone())
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        let inner = &*self.inner;
        let (connections, subscriptions, groups) = {
            let registry = inner.registry.read();
            (registry.connections.len(), registry.subscriptions.len(), registry.groups.len())
        };
        let m = &inner.metrics;
        MetricsSnapshot {
            active_connections: connections as u64,
            active_subscriptions: subscriptions as u64,
            active_groups: groups as u64,
            pending_resolver_jobs: inner.pending_jobs.load(Relaxed),
            events_published: m.events_published.load(Relaxed),
            frames_queued: m.frames_queued.load(Relaxed),
            frames_delivered: m.frames_delivered.load(Relaxed),
            frames_dropped_overflow: m.frames_dropped_overflow.load(Relaxed),
            frames_dropped_unsent: m.frames_dropped_unsent.load(Relaxed),
            frames_dropped_rate: m.frames_dropped_rate.load(Relaxed),
            events_filtered_by_filter: m.events_filtered_by_filter.load(Relaxed),
            events_filtered_out: m.events_filtered_out.load(Relaxed),
            payloads_serialized: m.payloads_serialized.load(Relaxed),
            resolver_calls: m.resolver_calls.load(Relaxed),
            resolver_errors: m.resolver_errors.load(Relaxed),
            resolver_timeouts: m.resolver_timeouts.load(Relaxed),
            subscriptions_registered: m.subscriptions_registered.load(Relaxed),
            subscriptions_completed: m.subscriptions_completed.load(Relaxed),
            subscriptions_terminated_by_error: m.subscriptions_terminated_by_error.load(Relaxed),
            publish_latency: m.publish_latency.snapshot(),
            resolver_duration: m.resolver_duration.snapshot(),
        }
    }

    pub fn cached_documents(&self) -> usize {
        self.inner.documents.len()
    }

    /// The estimated bytes the cached documents hold (at most `document_cache_bytes`).
    pub fn cached_document_bytes(&self) -> usize {
        self.inner.documents.bytes()
    }

    /// Whether a document is compiled and cached (`inspect` and `register` would not compile
    /// it). Compiles nothing and does not refresh the document's place in the eviction order.
    pub fn is_document_cached(&self, query: &str, operation_name: Option<&str>) -> bool {
        self.inner.documents.contains(query, operation_name)
    }

    fn connection(&self, connection_id: &str) -> Option<Arc<Connection>> {
        self.inner.registry.read().connections.get(connection_id).map(|entry| entry.connection.clone())
    }

    fn remove_subscription(&self, registry: &mut Registry, key: SubscriptionKey) {
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

    fn wake(&self, mut connections: Vec<Arc<Connection>>) {
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

impl Registry {
    fn connection_or_insert(&mut self, id: &Arc<str>, explicit: bool, config: &EngineConfig) -> Arc<Connection> {
        let entry = self.connections.entry(id.clone()).or_insert_with(|| ConnectionEntry {
            connection: Arc::new(Connection::new(id.clone(), config.max_queued_frames, config.overflow)),
            subscriptions: FastMap::default(),
            explicit,
        });
        entry.explicit |= explicit;
        entry.connection.clone()
    }

    fn find(&self, subscription: SubscriptionRef<'_>) -> EngineResult<SubscriptionKey> {
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

    fn insert_group(
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

    fn add_member(&mut self, group: GroupId, member: Member) -> usize {
        let members = &mut self.groups.get_mut(&group).expect("group of a live subscription").members;
        members.push(member);
        members.len() - 1
    }

    /// Takes a subscription out of its group (swap-remove, fixing the moved member's index).
    fn remove_member(&mut self, key: SubscriptionKey) -> Member {
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
    fn release_group_if_empty(&mut self, group_id: GroupId) -> Option<ResolverId> {
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

    /// True once live subscriptions fell to a quarter of a high-water mark of at least
    /// [`memory::WAVE_SIZE`]: the moment to give the freed memory back to the system.
    fn wave_ended(&mut self) -> bool {
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
    fn shrink(&mut self) {
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

/// Queues one frame of `body` for a member, noting its connection when a writer must wake.
fn push_to(member: &Member, kind: FrameKind, body: &Arc<[u8]>, to_wake: &mut Vec<Arc<Connection>>) -> PushOutcome {
    let pushed = member.connection.push(QueuedFrame::new(member.key, kind, member.id.clone(), body.clone()));
    if pushed.wake {
        to_wake.push(member.connection.clone());
    }
    pushed
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
