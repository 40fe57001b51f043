//! The engine's settings ([`EngineConfig`]), each with a safe default.

use super::ResolverErrorPolicy;
use crate::document::{DocumentLimits, DEFAULT_DOCUMENT_CACHE_BYTES};
use crate::event::ScopeFields;
use crate::queue::OverflowPolicy;
use crate::schema::SchemaModel;

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
