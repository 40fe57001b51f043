//! Compiled operations by document text and operation name, bounded by count and by the bytes
//! they hold (least recently used evicted first): thousands of clients send the same document,
//! and nobody may grow the cache without limit, neither with many documents nor with large ones.

use std::num::NonZeroUsize;
use std::sync::Arc;

use parking_lot::Mutex;

use super::estimate::block;
use super::{CompiledOperation, DocumentLimits};
use crate::error::EngineResult;
use crate::schema::SchemaModel;

/// The default byte budget of the cache.
pub const DEFAULT_DOCUMENT_CACHE_BYTES: usize = 64 * 1024 * 1024;

type DocumentKey = (Box<str>, Option<Box<str>>);

/// Per entry, besides the operation and its key's text: the LRU's node and hash-table slot.
const ENTRY_OVERHEAD: usize = 128;

/// What one entry costs the cache: the compiled operation, the document text it is keyed by
/// and the cache's own bookkeeping.
fn entry_bytes(key: &DocumentKey, operation: &CompiledOperation) -> usize {
    let (query, operation_name) = key;
    operation.estimated_bytes()
        + block(query.len())
        + operation_name.as_ref().map_or(0, |name| block(name.len()))
        + ENTRY_OVERHEAD
}

struct Entries {
    lru: lru::LruCache<DocumentKey, Arc<CompiledOperation>>,
    /// The sum of `entry_bytes` over `lru`.
    bytes: usize,
}

impl Entries {
    fn forget(&mut self, key: &DocumentKey, operation: &CompiledOperation) {
        self.bytes = self.bytes.saturating_sub(entry_bytes(key, operation));
    }
}

/// Compiled operations by document text and operation name (see the module's documentation).
pub struct DocumentCache {
    entries: Mutex<Entries>,
    max_bytes: usize,
    /// The schema and its generation: a document compiled against an older generation is
    /// not cached (the schema changed while it was compiled).
    schema: Mutex<(Option<SchemaModel>, u64)>,
    limits: DocumentLimits,
}

impl DocumentCache {
    pub fn new(capacity: usize) -> Self {
        Self::with_schema(capacity, None, DocumentLimits::default())
    }

    /// A cache whose documents are validated against `schema` and `limits`.
    pub fn with_schema(capacity: usize, schema: Option<SchemaModel>, limits: DocumentLimits) -> Self {
        let capacity = NonZeroUsize::new(capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            entries: Mutex::new(Entries { lru: lru::LruCache::new(capacity), bytes: 0 }),
            max_bytes: DEFAULT_DOCUMENT_CACHE_BYTES,
            schema: Mutex::new((schema, 0)),
            limits,
        }
    }

    /// Bounds the estimated bytes of the cached entries (see
    /// [`CompiledOperation::estimated_bytes`]); an entry larger than this is not cached.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Replaces the schema; documents compiled against the old one are forgotten.
    pub fn set_schema(&self, schema: Option<SchemaModel>) {
        let mut current = self.schema.lock();
        *current = (schema, current.1 + 1);
        // Cleared while the schema lock is held: a concurrent put sees the new generation.
        let mut entries = self.entries.lock();
        entries.lru.clear();
        entries.bytes = 0;
    }

    pub fn schema(&self) -> Option<SchemaModel> {
        self.schema.lock().0.clone()
    }

    pub fn get_or_compile(&self, query: &str, operation_name: Option<&str>) -> EngineResult<Arc<CompiledOperation>> {
        let key = (Box::from(query), operation_name.map(Box::from));
        if let Some(found) = self.entries.lock().lru.get(&key) {
            return Ok(found.clone());
        }
        // Compile outside the lock: a slow document must not stall other subscribers.
        let (schema, generation) = self.schema.lock().clone();
        let compiled = Arc::new(CompiledOperation::compile_with(query, operation_name, schema.as_ref(), self.limits)?);
        let current = self.schema.lock();
        if current.1 == generation {
            self.put(key, compiled.clone());
        }
        drop(current);
        Ok(compiled)
    }

    fn put(&self, key: DocumentKey, operation: Arc<CompiledOperation>) {
        let bytes = entry_bytes(&key, &operation);
        if bytes > self.max_bytes {
            return;
        }
        let mut entries = self.entries.lock();
        entries.bytes += bytes;
        // Either the same document compiled concurrently, or the least recently used one when
        // the count is at capacity.
        if let Some((replaced_key, replaced)) = entries.lru.push(key, operation) {
            entries.forget(&replaced_key, &replaced);
        }
        while entries.bytes > self.max_bytes {
            // The entry just put is the most recently used and fits on its own: it stays.
            let Some((evicted_key, evicted)) = entries.lru.pop_lru() else { break };
            entries.forget(&evicted_key, &evicted);
        }
    }

    /// Whether the document is compiled and cached. Compiles nothing and leaves the order of
    /// eviction as it is: a host uses it to decide where a compilation should run.
    pub fn contains(&self, query: &str, operation_name: Option<&str>) -> bool {
        let key = (Box::from(query), operation_name.map(Box::from));
        self.entries.lock().lru.contains(&key)
    }

    pub fn len(&self) -> usize {
        self.entries.lock().lru.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The estimated bytes the cached entries hold (at most [`Self::max_bytes`]).
    pub fn bytes(&self) -> usize {
        self.entries.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_cache_reuses_and_bounds() {
        let cache = DocumentCache::new(2);
        let first = cache.get_or_compile("subscription { a }", None).unwrap();
        let again = cache.get_or_compile("subscription { a }", None).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        cache.get_or_compile("subscription { b }", None).unwrap();
        cache.get_or_compile("subscription { c }", None).unwrap();
        assert_eq!(cache.len(), 2);
    }
}
