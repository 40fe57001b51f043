//! GraphQL documents: parsed and validated once (cold path), then bound to a subscription's
//! variables into a [`ShapePlan`] that the hot path follows for every event.
//!
//! Parsing and the schema-independent validation rules come from `apollo-compiler`. Without a
//! schema, type conditions are matched against the value's `__typename`; the schema issue
//! replaces that with exact type information.
//!
//! One concept per file:
//! - `compile`: parsing, validation and selecting the subscription operation ([`CompiledOperation`]);
//! - `selection`: the selection tree a compiled operation keeps, independent of variables;
//! - `variables`: variable definitions, their coercion and the root field's arguments;
//! - `plan`: binding variables into the [`ShapePlan`] the writer follows (see `shape`);
//! - `limits`: what a document may ask for ([`DocumentLimits`]) and the errors beyond it;
//! - `errors`: the parser's and validator's diagnostics as GraphQL errors;
//! - `cache`: compiled documents, bounded by count and bytes; `estimate`: their size.

mod cache;
mod compile;
mod errors;
mod estimate;
mod limits;
mod plan;
mod selection;
mod variables;

pub use cache::{DocumentCache, DEFAULT_DOCUMENT_CACHE_BYTES};
pub use compile::CompiledOperation;
pub use limits::DocumentLimits;
pub use plan::ShapePlan;
pub(crate) use plan::{FieldShape, LeafKind, ObjectPlan, OutputType, ScalarFormat, TypedField};
