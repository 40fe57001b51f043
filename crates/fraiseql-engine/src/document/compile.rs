//! Compiling a document: parsing, validation (every rule with a schema, the
//! schema-independent ones and NoUndefinedVariables without) and selecting its one
//! subscription operation with its single root field.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use apollo_compiler::ast::{self, Definition, OperationType, Selection};
use apollo_compiler::parser::SourceMap;
use apollo_compiler::Node;

use super::errors::{diagnostics, located};
use super::estimate;
use super::limits::{limit_error, DocumentLimits};
use super::selection::{merge_repeated_fields, CompileContext, Level, RawField, RawSelection};
use super::variables::{const_value, TypedDocument, VariableDefinition};
use crate::error::{EngineError, EngineResult, GraphQLError};
use crate::schema::SchemaModel;

/// One subscription operation of a document, validated and ready to bind.
#[derive(Debug)]
pub struct CompiledOperation {
    /// Unique per compilation; groups of identical subscriptions are keyed by it.
    pub id: u64,
    pub operation_name: Option<String>,
    /// The name of the subscription's single root field (its default channel).
    pub root_field: Arc<str>,
    pub(super) variables: Vec<VariableDefinition>,
    pub(super) root: RawField,
    /// With a schema: what coercing variables to their types needs.
    pub(super) typed: Option<TypedDocument>,
    pub(super) limits: DocumentLimits,
    /// See [`CompiledOperation::estimated_bytes`].
    pub(super) estimated_bytes: usize,
}

const BUILT_IN_DIRECTIVE_ERRORS: [&str; 2] =
    ["cannot find directive `@skip` in this document", "cannot find directive `@include` in this document"];

static NEXT_OPERATION_ID: AtomicU64 = AtomicU64::new(1);

impl CompiledOperation {
    /// Parses and validates `query` without a schema and selects its subscription operation.
    pub fn compile(query: &str, operation_name: Option<&str>) -> EngineResult<Self> {
        Self::compile_with(query, operation_name, None, DocumentLimits::default())
    }

    /// Parses and validates `query` (against `schema` when given: every validation rule of the
    /// specification) and selects its subscription operation.
    pub fn compile_with(
        query: &str,
        operation_name: Option<&str>,
        schema: Option<&SchemaModel>,
        limits: DocumentLimits,
    ) -> EngineResult<Self> {
        if query.len() > limits.max_size {
            return Err(limit_error(format!("The document is larger than {} bytes.", limits.max_size)));
        }
        let document = match ast::Document::parse(query, "subscription.graphql") {
            Ok(document) => document,
            Err(with_errors) => return Err(EngineError::Document(diagnostics(&with_errors.errors))),
        };
        let executable = match schema {
            Some(schema) => match document.to_executable_validate(schema.valid()) {
                Ok(executable) => Some(executable),
                Err(with_errors) => return Err(EngineError::Document(diagnostics(&with_errors.errors))),
            },
            None => None,
        };
        if executable.is_some() {
            // Already validated with every rule, types included.
        } else if let Err(errors) = document.validate_standalone_executable() {
            // Without a schema the built-in directives are unknown to the validator.
            let errors: Vec<GraphQLError> = diagnostics(&errors)
                .into_iter()
                .filter(|error| !BUILT_IN_DIRECTIVE_ERRORS.contains(&error.message.as_str()))
                .collect();
            if !errors.is_empty() {
                return Err(EngineError::Document(errors));
            }
        }
        let operation = select_operation(&document, operation_name)?;
        if executable.is_none() {
            check_variable_usage(&document, operation)?;
        }
        if operation.operation_type != OperationType::Subscription {
            let kind = match operation.operation_type {
                OperationType::Query => "query",
                OperationType::Mutation => "mutation",
                OperationType::Subscription => "subscription",
            };
            return Err(EngineError::Document(vec![located(
                format!("Operation is a {kind}, not a subscription."),
                operation.line_column_range(&document.sources),
            )]));
        }
        let fragments: Vec<&Node<ast::FragmentDefinition>> = document
            .definitions
            .iter()
            .filter_map(|definition| match definition {
                Definition::FragmentDefinition(fragment) => Some(fragment),
                _ => None,
            })
            .collect();
        let typed = match (schema, &executable) {
            (Some(schema), Some(executable)) => {
                let operation = executable
                    .operations
                    .get(operation_name)
                    .map_err(|error| EngineError::Document(vec![GraphQLError::new(error.message().to_string())]))?;
                Some(TypedDocument::new(schema.clone(), operation, &executable.sources))
            }
            _ => None,
        };
        // Only `typed` is kept of the validated document.
        drop(executable);
        let schema_valid = typed.as_ref().map(|typed| typed.schema.valid());
        let root_type = schema_valid
            .and_then(|schema| schema.schema_definition.subscription.as_ref())
            .map(|root| root.name.to_string());
        let context = CompileContext {
            fragments: &fragments,
            sources: &document.sources,
            count: Cell::new(0),
            aliases: Cell::new(0),
            names: RefCell::default(),
            schema: schema_valid,
            limits,
        };
        let mut root_selections = context.selections(&operation.selection_set, 0, root_type.as_deref(), Level::Root)?;
        let root = single_root_field(&mut root_selections, operation, &document.sources)?;
        let variables = operation
            .variables
            .iter()
            .map(|definition| VariableDefinition {
                name: definition.name.to_string(),
                type_text: definition.ty.to_string(),
                non_null: definition.ty.is_non_null(),
                default: definition.default_value.as_ref().map(|value| const_value(value)),
            })
            .collect();
        let mut compiled = Self {
            id: NEXT_OPERATION_ID.fetch_add(1, Ordering::Relaxed),
            operation_name: operation.name.as_ref().map(ToString::to_string),
            root_field: root.name.clone(),
            variables,
            root,
            typed,
            limits,
            estimated_bytes: 0,
        };
        compiled.estimated_bytes = estimate::operation_bytes(&compiled);
        Ok(compiled)
    }

    /// A conservative estimate of the memory this operation holds once compiled: itself in its
    /// `Arc`, and every block it owns, each rounded up and charged the allocator's bookkeeping
    /// (see the `estimate` module). The schema is shared and not counted. Computed once, when
    /// compiled; the document cache is bounded by it.
    pub fn estimated_bytes(&self) -> usize {
        self.estimated_bytes
    }

    /// The root field's response key (its alias, or its name).
    pub fn root_response_key(&self) -> &Arc<str> {
        &self.root.response_key
    }
}

fn select_operation<'d>(
    document: &'d ast::Document,
    operation_name: Option<&str>,
) -> EngineResult<&'d Node<ast::OperationDefinition>> {
    let mut operations = document.definitions.iter().filter_map(|definition| match definition {
        Definition::OperationDefinition(operation) => Some(operation),
        _ => None,
    });
    match operation_name {
        Some(name) => {
            operations.find(|operation| operation.name.as_ref().is_some_and(|own| own.as_str() == name)).ok_or_else(
                || EngineError::Document(vec![GraphQLError::new(format!("Unknown operation named \"{name}\"."))]),
            )
        }
        None => {
            let first = operations.next();
            match (first, operations.next()) {
                (Some(operation), None) => Ok(operation),
                (None, _) => Err(EngineError::Document(vec![GraphQLError::new("Must provide an operation.")])),
                (Some(_), Some(_)) => Err(EngineError::Document(vec![GraphQLError::new(
                    "Must provide operation name if query contains multiple operations.",
                )])),
            }
        }
    }
}

/// The specification's NoUndefinedVariables rule for one operation (fragments it spreads
/// included), which apollo-compiler's schema-less validation does not check.
fn check_variable_usage(document: &ast::Document, operation: &Node<ast::OperationDefinition>) -> EngineResult<()> {
    let mut used = Vec::new();
    let mut visited_fragments = Vec::new();
    collect_variable_uses(document, &operation.directives, &operation.selection_set, &mut used, &mut visited_fragments);
    let defined: Vec<&str> = operation.variables.iter().map(|variable| variable.name.as_str()).collect();
    let mut errors = Vec::new();
    let mut reported = Vec::new();
    for name in &used {
        if !defined.contains(&name.as_str()) && !reported.contains(name) {
            reported.push(name.clone());
            errors.push(located(
                format!("Variable \"${name}\" is not defined."),
                operation.line_column_range(&document.sources),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Document(errors))
    }
}

fn collect_variable_uses(
    document: &ast::Document,
    directives: &ast::DirectiveList,
    selections: &[Selection],
    used: &mut Vec<String>,
    visited_fragments: &mut Vec<String>,
) {
    for directive in directives.iter() {
        for argument in &directive.arguments {
            value_variables(&argument.value, used);
        }
    }
    for selection in selections {
        match selection {
            Selection::Field(field) => {
                for argument in &field.arguments {
                    value_variables(&argument.value, used);
                }
                collect_variable_uses(document, &field.directives, &field.selection_set, used, visited_fragments);
            }
            Selection::InlineFragment(fragment) => {
                collect_variable_uses(document, &fragment.directives, &fragment.selection_set, used, visited_fragments);
            }
            Selection::FragmentSpread(spread) => {
                collect_variable_uses(document, &spread.directives, &[], used, visited_fragments);
                let name = spread.fragment_name.as_str();
                if visited_fragments.iter().any(|seen| seen == name) {
                    continue;
                }
                visited_fragments.push(name.to_owned());
                let fragment = document.definitions.iter().find_map(|definition| match definition {
                    Definition::FragmentDefinition(fragment) if fragment.name == spread.fragment_name => Some(fragment),
                    _ => None,
                });
                if let Some(fragment) = fragment {
                    collect_variable_uses(
                        document,
                        &fragment.directives,
                        &fragment.selection_set,
                        used,
                        visited_fragments,
                    );
                }
            }
        }
    }
}

fn value_variables(value: &ast::Value, used: &mut Vec<String>) {
    match value {
        ast::Value::Variable(name) => used.push(name.to_string()),
        ast::Value::List(items) => items.iter().for_each(|item| value_variables(item, used)),
        ast::Value::Object(fields) => fields.iter().for_each(|(_, item)| value_variables(item, used)),
        _ => {}
    }
}

/// A subscription operation must select exactly one root field (skip/include not allowed there).
fn single_root_field(
    selections: &mut Vec<RawSelection>,
    operation: &Node<ast::OperationDefinition>,
    sources: &SourceMap,
) -> EngineResult<RawField> {
    let mut fields = Vec::new();
    flatten_root(std::mem::take(selections), &mut fields);
    let mut keys: Vec<&Arc<str>> = fields.iter().map(|field| &field.response_key).collect();
    keys.dedup();
    let name = operation
        .name
        .as_ref()
        .map_or_else(|| "Anonymous Subscription".to_owned(), |n| format!("Subscription \"{n}\""));
    if keys.len() != 1 {
        return Err(EngineError::Document(vec![located(
            format!("{name} must select only one top level field."),
            operation.line_column_range(sources),
        )]));
    }
    if fields.iter().any(|field| !field.conditions.is_empty()) {
        return Err(EngineError::Document(vec![located(
            format!("{name} must not use @skip or @include on its root field."),
            operation.line_column_range(sources),
        )]));
    }
    if fields.iter().any(|field| field.name.starts_with("__")) {
        return Err(EngineError::Document(vec![located(
            format!("{name} must not select an introspection field at its root."),
            operation.line_column_range(sources),
        )]));
    }
    // Several selections of the same root key merge into one.
    let mut merged = fields.remove(0);
    if !fields.is_empty() {
        for field in fields {
            merged.selections.extend(field.selections);
        }
        merged.selections = merge_repeated_fields(std::mem::take(&mut merged.selections));
    }
    Ok(merged)
}

fn flatten_root(selections: Vec<RawSelection>, fields: &mut Vec<RawField>) {
    for selection in selections {
        match selection {
            RawSelection::Field(field) => fields.push(field),
            RawSelection::Fragment { selections, .. } => flatten_root(selections, fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::errors::tests::messages;
    use crate::error::EngineError;

    #[test]
    fn compiles_root_field_and_operation_name() {
        let op = CompiledOperation::compile("subscription OnUser { users { id } }", None).unwrap();
        assert_eq!(&*op.root_field, "users");
        assert_eq!(op.operation_name.as_deref(), Some("OnUser"));
        let aliased = CompiledOperation::compile("subscription { u: users { id } }", None).unwrap();
        assert_eq!(&*aliased.root_field, "users");
    }

    #[test]
    fn refuses_syntax_errors_with_locations() {
        let errors = match CompiledOperation::compile("subscription { users { id }", None) {
            Err(EngineError::Document(errors)) => errors,
            other => panic!("{other:?}"),
        };
        assert!(!errors.is_empty());
        assert!(!errors[0].locations.is_empty());
    }

    #[test]
    fn refuses_non_subscriptions_and_unknown_operations() {
        assert_eq!(
            messages(CompiledOperation::compile("query { users { id } }", None)),
            ["Operation is a query, not a subscription."]
        );
        assert_eq!(
            messages(CompiledOperation::compile("subscription A { a } subscription B { b }", Some("C"))),
            ["Unknown operation named \"C\"."]
        );
        assert_eq!(
            messages(CompiledOperation::compile("subscription A { a } subscription B { b }", None)),
            ["Must provide operation name if query contains multiple operations."]
        );
        let chosen = CompiledOperation::compile("query A { a } subscription B { b }", Some("B")).unwrap();
        assert_eq!(&*chosen.root_field, "b");
    }

    #[test]
    fn refuses_several_root_fields() {
        let errors = messages(CompiledOperation::compile("subscription { a b }", None));
        assert!(errors.iter().any(|m| m.contains("must select only one top level field")), "{errors:?}");
    }

    #[test]
    fn refuses_undefined_fragments_and_variables() {
        assert!(!messages(CompiledOperation::compile("subscription { a { ...F } }", None)).is_empty());
        assert_eq!(
            messages(CompiledOperation::compile("subscription { a(x: $v) { id } }", None)),
            ["Variable \"$v\" is not defined."]
        );
        assert_eq!(
            messages(CompiledOperation::compile("subscription($v: Int, $w: Int) { a(x: $v) { id } }", None)),
            ["unused variable: `$w`"]
        );
        let through_fragment = "subscription($v: Boolean!) { a { ...F } } fragment F on A { id @skip(if: $v) }";
        assert!(CompiledOperation::compile(through_fragment, None).is_ok());
    }
}
