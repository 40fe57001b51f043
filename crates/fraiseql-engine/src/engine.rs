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
//!
//! One concept per file; [`Engine`]'s methods are spread over them:
//! - `config`: [`EngineConfig`];
//! - `registry`: the registry of connections and subscriptions, and finding a subscription;
//! - `groups`: groups of identical subscriptions, their members and the channel index;
//! - `subscriptions`: registering, completing and moving subscriptions between groups;
//! - `connections`: opening and closing connections;
//! - `documents`: the schema, inspecting documents, the document cache;
//! - `publish`: publishing an event and fanning its frames out to a group's members;
//! - `resolvers`: resolver jobs, their outcomes and ordered delivery of their results;
//! - `delivery`: frame queues to writers: arming, draining, waking (wakers, the ready list);
//! - `stats`: the metrics snapshot.

mod config;
mod connections;
mod delivery;
mod documents;
mod groups;
mod publish;
mod registry;
mod resolvers;
mod stats;
mod subscriptions;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use ahash::RandomState;
use parking_lot::{Mutex, RwLock};

pub use config::EngineConfig;
pub use delivery::ReadyNotifier;
pub use documents::OperationInfo;
pub use publish::PublishOutcome;
pub use resolvers::{ResolverErrorPolicy, ResolverId, ResolverJob, ResolverOutcome};
pub use subscriptions::{Registration, SubscriptionRef};

use crate::document::DocumentCache;
use crate::metrics::Metrics;
use crate::queue::Connection;
use registry::Registry;

type FastMap<K, V> = HashMap<K, V, RandomState>;

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
}
