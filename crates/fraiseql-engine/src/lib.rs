//! FraiseQL subscription engine: the pure-Rust core behind the Python package.
//!
//! The path of an event: [`Engine::publish`] looks up the groups of subscriptions on the
//! event's channel ([`engine`]), filters members by their security context ([`event`]),
//! shapes and serializes the result once per group ([`document`], [`shape`]) and queues a
//! frame per member on its connection ([`queue`]), waking the connection's writer.

pub mod document;
pub mod engine;
pub mod error;
pub mod event;
pub mod filter;
pub mod memory;
pub mod metrics;
pub mod queue;
pub mod rate;
pub mod schema;
pub mod shape;

pub use document::{CompiledOperation, DocumentCache, DocumentLimits, ShapePlan, DEFAULT_DOCUMENT_CACHE_BYTES};
pub use engine::{
    Engine, EngineConfig, OperationInfo, PublishOutcome, ReadyNotifier, Registration, ResolverErrorPolicy, ResolverId,
    ResolverJob, ResolverOutcome, SubscriptionRef,
};
pub use error::{EngineError, EngineResult, GraphQLError, Location, PathSegment};
pub use event::{EventScope, ScopeFields, ScopeKey, SecurityContext};
pub use filter::{Filter, FilterInputs};
pub use metrics::{MetricsSnapshot, LATENCY_BUCKET_BOUNDS_NS};
pub use queue::{ConnectionWaker, FrameKind, OverflowPolicy, QueuedFrame, WaitState};
pub use schema::SchemaModel;
