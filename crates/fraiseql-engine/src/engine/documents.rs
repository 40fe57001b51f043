//! The engine's documents: the schema they are validated against, inspecting one without
//! registering it, and the state of the document cache.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Engine;
use crate::error::EngineResult;
use crate::schema::SchemaModel;

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

impl Engine {
    /// Replaces the schema documents are validated against (`None`: no schema). Subscriptions
    /// already registered keep the plan they were compiled with.
    pub fn set_schema(&self, schema: Option<SchemaModel>) {
        self.inner.documents.set_schema(schema);
    }

    pub fn schema(&self) -> Option<SchemaModel> {
        self.inner.documents.schema()
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
}
