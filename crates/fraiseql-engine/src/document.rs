//! GraphQL documents: parsed and validated once (cold path), then bound to a subscription's
//! variables into a [`ShapePlan`] that the hot path follows for every event.
//!
//! Parsing and the schema-independent validation rules come from `apollo-compiler`. Without a
//! schema, type conditions are matched against the value's `__typename`; the schema issue
//! replaces that with exact type information.

mod cache;
mod estimate;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use apollo_compiler::ast::{self, Definition, OperationType, Selection};
use apollo_compiler::executable;
use apollo_compiler::parser::{LineColumn, SourceMap, SourceSpan};
use apollo_compiler::schema::ExtendedType;
use apollo_compiler::validation::Valid;
use apollo_compiler::Node;
use serde_json::{Map, Value};

use crate::error::{EngineError, EngineResult, GraphQLError, Location};
use crate::schema::SchemaModel;

pub use cache::{DocumentCache, DEFAULT_DOCUMENT_CACHE_BYTES};

/// What a subscription document may ask for. Every limit has a safe default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    /// Bytes of document text.
    pub max_size: usize,
    /// Levels of nested selections (it also bounds the recursion of shaping over objects).
    pub max_depth: usize,
    /// Selections (fields and fragments, every fragment spread expanded), and fields of the
    /// shaping plan: fragments spread twice per level grow exponentially, so a kilobyte
    /// document could otherwise ask for gigabytes.
    pub max_selections: usize,
    /// Aliased fields (fragments expanded).
    pub max_aliases: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self { max_size: 32 * 1024, max_depth: 32, max_selections: 10_000, max_aliases: 100 }
    }
}

fn limit_error(message: String) -> EngineError {
    EngineError::Document(vec![GraphQLError::new(message).with_code("DOCUMENT_TOO_LARGE")])
}

fn too_many_selections(limit: usize) -> EngineError {
    limit_error(format!("The document selects too much: more than {limit} selections with its fragments expanded."))
}

/// A `@skip`/`@include` condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Condition {
    Skip(BoolArgument),
    Include(BoolArgument),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum BoolArgument {
    Literal(bool),
    Variable(String),
}

/// The document's selection, independent of variables, fragments inlined, repeated fields
/// merged (see [`merge_repeated_fields`]). This tree is what a cached document mostly holds.
#[derive(Debug, Clone)]
enum RawSelection {
    Field(RawField),
    Fragment { type_condition: Option<Arc<str>>, conditions: Box<[Condition]>, selections: Vec<RawSelection> },
}

#[derive(Debug, Clone)]
struct RawField {
    /// Shares the allocation of `name` unless aliased; names are interned per document.
    response_key: Arc<str>,
    name: Arc<str>,
    /// Only root-level fields keep their arguments: nothing below the root reads them.
    arguments: Box<[(String, Node<ast::Value>)]>,
    conditions: Box<[Condition]>,
    selections: Vec<RawSelection>,
    has_selection_set: bool,
    /// With a schema: the field's declared type (`None` for `__typename`).
    ty: Option<ast::Type>,
    location: Option<Location>,
}

#[derive(Debug, Clone)]
struct VariableDefinition {
    name: String,
    type_text: String,
    non_null: bool,
    default: Option<Value>,
}

/// One subscription operation of a document, validated and ready to bind.
#[derive(Debug)]
pub struct CompiledOperation {
    /// Unique per compilation; groups of identical subscriptions are keyed by it.
    pub id: u64,
    pub operation_name: Option<String>,
    /// The name of the subscription's single root field (its default channel).
    pub root_field: Arc<str>,
    variables: Vec<VariableDefinition>,
    root: RawField,
    /// With a schema: what coercing variables to their types needs.
    typed: Option<TypedDocument>,
    limits: DocumentLimits,
    /// See [`CompiledOperation::estimated_bytes`].
    estimated_bytes: usize,
}

/// The part of a schema-validated document that variable coercion reads. The validated
/// document itself is not kept: it holds the source text and every selection again, several
/// times the size of the plan.
#[derive(Debug)]
struct TypedDocument {
    schema: SchemaModel,
    /// The operation with its variable definitions only (no selections, no directives):
    /// `coerce_variable_values` reads nothing else.
    variables_operation: executable::Operation,
    /// Where each variable definition (and its named type) is, for the locations of coercion
    /// errors, which the source text is no longer there to answer.
    variable_locations: Vec<(SourceSpan, Location)>,
}

impl TypedDocument {
    fn new(schema: SchemaModel, operation: &executable::Operation, sources: &SourceMap) -> Self {
        let mut variable_locations = Vec::new();
        let mut record = |span: Option<SourceSpan>| {
            if let Some((span, position)) = span.and_then(|span| Some((span, span.line_column(sources)?))) {
                variable_locations.push((span, Location { line: position.line, column: position.column }));
            }
        };
        let variables = operation
            .variables
            .iter()
            .map(|definition| {
                record(definition.location());
                record(definition.ty.inner_named_type().location());
                let trimmed = ast::VariableDefinition {
                    name: definition.name.clone(),
                    ty: definition.ty.clone(),
                    default_value: definition.default_value.clone(),
                    directives: ast::DirectiveList::default(),
                };
                match definition.location() {
                    Some(span) => Node::new_parsed(trimmed, span),
                    None => Node::new(trimmed),
                }
            })
            .collect();
        let variables_operation = executable::Operation {
            operation_type: operation.operation_type,
            name: operation.name.clone(),
            variables,
            directives: executable::DirectiveList::default(),
            selection_set: executable::SelectionSet::new(operation.selection_set.ty.clone()),
        };
        variable_locations.shrink_to_fit();
        Self { schema, variables_operation, variable_locations }
    }

    fn location_of(&self, span: SourceSpan) -> Option<Location> {
        self.variable_locations.iter().find(|(known, _)| *known == span).map(|(_, location)| *location)
    }
}

/// What a subscription's events are shaped by: the operation with its variables applied.
#[derive(Debug)]
pub struct ShapePlan {
    pub root_field: Arc<str>,
    /// `{"data":{"<root response key>":` pre-rendered.
    pub(crate) data_head: Box<[u8]>,
    pub(crate) root_selection: Option<ObjectPlan>,
    /// With a schema: the root field's type and identity (results are then completed as the
    /// specification's CompleteValue does: leaf coercion, non-null propagation, `errors`).
    pub(crate) root_typed: Option<TypedField>,
    /// The root field's response key (its alias, if any) and position, for errors of the field.
    pub(crate) root_response_key: Arc<str>,
    pub(crate) root_location: Option<Location>,
}

impl ShapePlan {
    /// An error of the root field itself (its resolver failed), at the root field's path and
    /// location, as graphql-core reports a field resolver's exception.
    pub fn root_field_error(&self, message: impl Into<String>) -> GraphQLError {
        let mut error = GraphQLError::new(message)
            .with_path(vec![crate::error::PathSegment::Field(self.root_response_key.to_string())]);
        error.locations.extend(self.root_location);
        error
    }

    /// Whether the schema declares the root field non-null (a field error then makes `data` null).
    pub fn root_is_non_null(&self) -> bool {
        matches!(self.root_typed.as_ref().map(|field| &field.output), Some(OutputType::NonNull(_)))
    }
}

/// A field's output type, as the writer walks it.
#[derive(Debug)]
pub(crate) enum OutputType {
    NonNull(Box<OutputType>),
    List(Box<OutputType>),
    Leaf(LeafKind),
    Composite,
}

#[derive(Debug)]
pub(crate) enum LeafKind {
    Int,
    Float,
    String,
    Boolean,
    Id,
    Enum {
        name: Arc<str>,
        values: Vec<String>,
    },
    /// A custom scalar with a built-in format check (the value is sent as given when it fits).
    Formatted(ScalarFormat),
    /// Any other custom scalar: its value is sent as given.
    Custom,
}

/// The text formats of the built-in custom scalars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScalarFormat {
    DateTime,
    Date,
    Time,
    Uuid,
    Decimal,
}

impl ScalarFormat {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::DateTime => "DateTime",
            Self::Date => "Date",
            Self::Time => "Time",
            Self::Uuid => "UUID",
            Self::Decimal => "Decimal",
        }
    }
}

/// What error messages and paths need to know of a field.
#[derive(Debug)]
pub(crate) struct TypedField {
    pub(crate) output: OutputType,
    pub(crate) parent: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) response_key: Arc<str>,
    pub(crate) location: Option<Location>,
}

/// The fields to write for an object value, per runtime type when fragments have type conditions.
#[derive(Debug)]
pub(crate) struct ObjectPlan {
    /// Used when the value's `__typename` names none of `by_type` (unconditional fields only).
    pub(crate) other: Vec<FieldShape>,
    /// Used when the value carries no `__typename` (every fragment applies).
    pub(crate) untyped: Vec<FieldShape>,
    pub(crate) by_type: Vec<(Arc<str>, Vec<FieldShape>)>,
    /// With a schema: the field's named type, and whether it is abstract (its runtime type then
    /// comes from the value's `__typename`, and must be one of `by_type`).
    pub(crate) typed: Option<(Arc<str>, bool)>,
}

#[derive(Debug)]
pub(crate) struct FieldShape {
    /// `"<response key>":` pre-rendered.
    pub(crate) key_json: Box<[u8]>,
    pub(crate) name: Arc<str>,
    pub(crate) selection: Option<ObjectPlan>,
    /// With a schema: the field's type; `__typename` is then written from the runtime type.
    pub(crate) typed: Option<TypedField>,
    /// With a schema, for `__typename`: the runtime type's name as a JSON string.
    pub(crate) typename_literal: Option<Box<[u8]>>,
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

    /// Applies defaults to `variables` and checks that required ones are given; with a schema,
    /// coerces each value to its declared type as the specification's CoerceVariableValues does.
    pub fn coerce_variables(&self, variables: &Map<String, Value>) -> EngineResult<Map<String, Value>> {
        if let Some(typed) = &self.typed {
            let operation = &typed.variables_operation;
            // apollo-compiler has its own JSON map type: convert through serde (cold path).
            let values: apollo_compiler::response::JsonMap =
                serde_json::from_value(Value::Object(variables.clone()))
                    .map_err(|error| EngineError::Document(vec![GraphQLError::new(error.to_string())]))?;
            return match apollo_compiler::request::coerce_variable_values(typed.schema.valid(), operation, &values) {
                Ok(coerced) => match serde_json::to_value(coerced.into_inner()) {
                    Ok(Value::Object(map)) => Ok(map),
                    _ => Err(EngineError::Document(vec![GraphQLError::new("variables could not be coerced")])),
                },
                Err(error) => {
                    let mut graphql_error = GraphQLError::new(error.message().to_string());
                    graphql_error.locations.extend(error.location().and_then(|span| typed.location_of(span)));
                    Err(EngineError::Document(vec![graphql_error]))
                }
            };
        }
        let mut coerced = Map::new();
        let mut errors = Vec::new();
        for definition in &self.variables {
            match variables.get(&definition.name) {
                Some(Value::Null) | None if definition.default.is_none() && definition.non_null => {
                    errors.push(GraphQLError::new(format!(
                        "Variable \"${}\" of required type \"{}\" was not provided.",
                        definition.name, definition.type_text
                    )));
                }
                Some(value) => {
                    coerced.insert(definition.name.clone(), value.clone());
                }
                None => {
                    if let Some(default) = &definition.default {
                        coerced.insert(definition.name.clone(), default.clone());
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(coerced)
        } else {
            Err(EngineError::Document(errors))
        }
    }

    /// The root field's response key (its alias, or its name).
    pub fn root_response_key(&self) -> &Arc<str> {
        &self.root.response_key
    }

    /// The root field's arguments with the (coerced) variables substituted; with a schema, the
    /// field's declared defaults fill in the arguments the document leaves out.
    pub fn root_arguments(&self, variables: &Map<String, Value>) -> Map<String, Value> {
        let mut arguments: Map<String, Value> =
            self.root.arguments.iter().map(|(name, value)| (name.clone(), argument_value(value, variables))).collect();
        if let Some(typed) = &self.typed {
            let schema = typed.schema.valid();
            let definition = schema
                .schema_definition
                .subscription
                .as_ref()
                .and_then(|root| schema.type_field(root.name.as_str(), &self.root.name).ok());
            for argument in definition.iter().flat_map(|field| field.arguments.iter()) {
                if let (false, Some(default)) =
                    (arguments.contains_key(argument.name.as_str()), &argument.default_value)
                {
                    arguments.insert(argument.name.to_string(), const_value(default));
                }
            }
        }
        arguments
    }

    /// Evaluates `@skip`/`@include`, merges fields by response key and builds the shaping plan.
    pub fn bind(&self, variables: &Map<String, Value>) -> EngineResult<ShapePlan> {
        let schema = self.typed.as_ref().map(|typed| &typed.schema);
        let binder = Binder { variables, fields: Cell::new(0), schema, max_fields: self.limits.max_selections };
        let root_named = self.root.ty.as_ref().map(|ty| ty.inner_named_type().to_string());
        let root_selection = if self.root.has_selection_set {
            Some(binder.object_plan(&self.root.selections, root_named.as_deref())?)
        } else {
            None
        };
        let root_parent: Option<Arc<str>> = schema
            .and_then(|schema| schema.valid().schema_definition.subscription.as_ref())
            .map(|root| Arc::from(root.name.as_str()));
        let root_typed = match root_parent {
            Some(parent) => binder.typed_field(&self.root, self.root.ty.as_ref(), parent),
            None => None,
        };
        let mut data_head = b"{\"data\":{".to_vec();
        data_head.extend_from_slice(&json_key(&self.root.response_key));
        Ok(ShapePlan {
            root_field: self.root.name.clone(),
            data_head: data_head.into(),
            root_selection,
            root_typed,
            root_response_key: self.root.response_key.clone(),
            root_location: self.root.location,
        })
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

/// Merges the repeated fields of one selection set that GraphQL's field merging makes one
/// response field, so that `{ id id id … }` is planned once, not once per repeat. Only rewrites
/// after which `Binder::collect` collects exactly the same fields, sub-selections and order:
/// - a later field without sub-selections, with the response key and `@skip`/`@include`
///   conditions of an earlier one, adds nothing: whenever it is included, the earlier one was
///   collected before it;
/// - a later field with sub-selections joins the previous field of its response key when their
///   conditions match and no fragment lies between them (a fragment could add to that key's
///   sub-selections in between, and sub-selections are collected in document order).
fn merge_repeated_fields(selections: Vec<RawSelection>) -> Vec<RawSelection> {
    if selections.len() < 2 {
        return selections;
    }
    let mut kept: Vec<RawSelection> = Vec::with_capacity(selections.len());
    let mut seen: HashSet<(Arc<str>, Box<[Condition]>)> = HashSet::new();
    // The last kept field of each response key since the last fragment, by index in `kept`.
    let mut open: HashMap<Arc<str>, usize> = HashMap::new();
    let mut grown = Vec::new();
    for selection in selections {
        let field = match selection {
            RawSelection::Field(field) => field,
            fragment @ RawSelection::Fragment { .. } => {
                open.clear();
                kept.push(fragment);
                continue;
            }
        };
        let key = (field.response_key.clone(), field.conditions.clone());
        if field.selections.is_empty() && seen.contains(&key) {
            continue;
        }
        if !field.selections.is_empty() {
            if let Some(&index) = open.get(&field.response_key) {
                if let RawSelection::Field(previous) = &mut kept[index] {
                    if previous.has_selection_set && previous.conditions == field.conditions {
                        previous.selections.extend(field.selections);
                        grown.push(index);
                        continue;
                    }
                }
            }
        }
        open.insert(field.response_key.clone(), kept.len());
        seen.insert(key);
        kept.push(RawSelection::Field(field));
    }
    grown.sort_unstable();
    grown.dedup();
    for index in grown {
        // Each side was merged on its own; together they may repeat each other.
        if let RawSelection::Field(field) = &mut kept[index] {
            field.selections = merge_repeated_fields(std::mem::take(&mut field.selections));
        }
    }
    kept.shrink_to_fit();
    kept
}

fn flatten_root(selections: Vec<RawSelection>, fields: &mut Vec<RawField>) {
    for selection in selections {
        match selection {
            RawSelection::Field(field) => fields.push(field),
            RawSelection::Fragment { selections, .. } => flatten_root(selections, fields),
        }
    }
}

/// Whether a selection set holds the operation's root fields (directly or through fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Nested,
}

struct CompileContext<'a> {
    fragments: &'a [&'a Node<ast::FragmentDefinition>],
    sources: &'a SourceMap,
    /// Selections produced so far (fragments expanded), against the limit.
    count: Cell<usize>,
    aliases: Cell<usize>,
    /// Names and aliases of this document, one allocation each.
    names: RefCell<HashSet<Arc<str>>>,
    schema: Option<&'a Valid<apollo_compiler::Schema>>,
    limits: DocumentLimits,
}

impl CompileContext<'_> {
    fn intern(&self, name: &str) -> Arc<str> {
        let mut names = self.names.borrow_mut();
        if let Some(known) = names.get(name) {
            return known.clone();
        }
        let interned: Arc<str> = Arc::from(name);
        names.insert(interned.clone());
        interned
    }

    fn selections(
        &self,
        selections: &[Selection],
        depth: usize,
        parent: Option<&str>,
        level: Level,
    ) -> EngineResult<Vec<RawSelection>> {
        if depth > self.limits.max_depth {
            return Err(limit_error(format!("The document is nested deeper than {} levels.", self.limits.max_depth)));
        }
        let selections = selections
            .iter()
            .map(|selection| self.selection(selection, depth, parent, level))
            .collect::<EngineResult<Vec<_>>>()?;
        // The root fields are checked and merged by `single_root_field`, every one of them seen.
        Ok(match level {
            Level::Root => selections,
            Level::Nested => merge_repeated_fields(selections),
        })
    }

    fn selection(
        &self,
        selection: &Selection,
        depth: usize,
        parent: Option<&str>,
        level: Level,
    ) -> EngineResult<RawSelection> {
        self.count.set(self.count.get() + 1);
        if self.count.get() > self.limits.max_selections {
            return Err(too_many_selections(self.limits.max_selections));
        }
        if matches!(selection, Selection::Field(field) if field.alias.is_some()) {
            self.aliases.set(self.aliases.get() + 1);
            if self.aliases.get() > self.limits.max_aliases {
                return Err(limit_error(format!("The document uses more than {} aliases.", self.limits.max_aliases)));
            }
        }
        Ok(match selection {
            Selection::Field(field) => {
                // Validation guarantees the field exists on its parent type.
                let ty = match (self.schema, parent) {
                    (Some(schema), Some(parent)) if field.name != "__typename" => {
                        schema.type_field(parent, &field.name).ok().map(|definition| definition.ty.clone())
                    }
                    _ => None,
                };
                let child_parent = ty.as_ref().map(|ty| ty.inner_named_type().to_string());
                let arguments = match level {
                    Level::Root => field
                        .arguments
                        .iter()
                        .map(|argument| (argument.name.to_string(), argument.value.clone()))
                        .collect(),
                    Level::Nested => Box::default(),
                };
                let name = self.intern(field.name.as_str());
                RawSelection::Field(RawField {
                    response_key: field.alias.as_ref().map_or_else(|| name.clone(), |alias| self.intern(alias)),
                    name,
                    arguments,
                    conditions: self.conditions(&field.directives)?,
                    selections: self.selections(
                        &field.selection_set,
                        depth + 1,
                        child_parent.as_deref(),
                        Level::Nested,
                    )?,
                    has_selection_set: !field.selection_set.is_empty(),
                    ty,
                    location: field
                        .line_column_range(self.sources)
                        .map(|range| Location { line: range.start.line, column: range.start.column }),
                })
            }
            Selection::InlineFragment(fragment) => {
                let inner = fragment.type_condition.as_ref().map(|name| name.as_str()).or(parent);
                RawSelection::Fragment {
                    type_condition: fragment.type_condition.as_ref().map(|name| self.intern(name)),
                    conditions: self.conditions(&fragment.directives)?,
                    selections: self.selections(&fragment.selection_set, depth + 1, inner, level)?,
                }
            }
            Selection::FragmentSpread(spread) => {
                // Validation has already refused unknown fragments and cycles.
                let Some(fragment) = self.fragments.iter().find(|f| f.name == spread.fragment_name) else {
                    return Err(EngineError::Document(vec![located(
                        format!("Unknown fragment \"{}\".", spread.fragment_name),
                        spread.line_column_range(self.sources),
                    )]));
                };
                RawSelection::Fragment {
                    type_condition: Some(self.intern(&fragment.type_condition)),
                    conditions: self.conditions(&spread.directives)?,
                    selections: self.selections(
                        &fragment.selection_set,
                        depth + 1,
                        Some(fragment.type_condition.as_str()),
                        level,
                    )?,
                }
            }
        })
    }

    fn conditions(&self, directives: &ast::DirectiveList) -> EngineResult<Box<[Condition]>> {
        let mut conditions = Vec::new();
        for directive in directives.iter() {
            let make: fn(BoolArgument) -> Condition = match directive.name.as_str() {
                "skip" => Condition::Skip,
                "include" => Condition::Include,
                _ => continue,
            };
            let argument = match directive.specified_argument_by_name("if").map(|value| value.as_ref()) {
                Some(ast::Value::Boolean(value)) => BoolArgument::Literal(*value),
                Some(ast::Value::Variable(name)) => BoolArgument::Variable(name.to_string()),
                _ => {
                    return Err(EngineError::Document(vec![located(
                        format!("Directive \"@{}\" needs an argument \"if\" of type \"Boolean!\".", directive.name),
                        directive.line_column_range(self.sources),
                    )]))
                }
            };
            conditions.push(make(argument));
        }
        Ok(conditions.into())
    }
}

struct Binder<'a> {
    variables: &'a Map<String, Value>,
    /// Fields in the plan so far (one list per runtime type), against `max_fields`.
    fields: Cell<usize>,
    schema: Option<&'a SchemaModel>,
    max_fields: usize,
}

/// Which runtime type a field list is collected for.
#[derive(Clone, Copy)]
enum RuntimeType<'a> {
    /// The value has no `__typename`: every fragment applies.
    Untyped,
    /// The value's type matches none of the type conditions.
    Other,
    Named(&'a str),
}

impl Binder<'_> {
    fn included(&self, conditions: &[Condition]) -> EngineResult<bool> {
        for condition in conditions {
            let (argument, wanted) = match condition {
                Condition::Skip(argument) => (argument, false),
                Condition::Include(argument) => (argument, true),
            };
            let value = match argument {
                BoolArgument::Literal(value) => *value,
                BoolArgument::Variable(name) => match self.variables.get(name) {
                    Some(Value::Bool(value)) => *value,
                    _ => {
                        return Err(EngineError::Document(vec![GraphQLError::new(format!(
                            "Variable \"${name}\" used in @skip/@include must be a Boolean."
                        ))]))
                    }
                },
            };
            if value != wanted {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn object_plan(&self, selections: &[RawSelection], named: Option<&str>) -> EngineResult<ObjectPlan> {
        if let (Some(schema), Some(named)) = (self.schema, named) {
            return self.typed_object_plan(schema, selections, named);
        }
        let mut type_names = Vec::new();
        self.type_conditions(selections, &mut type_names)?;
        let untyped = self.field_shapes(selections, RuntimeType::Untyped, None)?;
        if type_names.is_empty() {
            return Ok(ObjectPlan { other: Vec::new(), untyped, by_type: Vec::new(), typed: None });
        }
        let other = self.field_shapes(selections, RuntimeType::Other, None)?;
        let by_type = type_names
            .iter()
            .map(|name| Ok((name.clone(), self.field_shapes(selections, RuntimeType::Named(name), None)?)))
            .collect::<EngineResult<_>>()?;
        Ok(ObjectPlan { other, untyped, by_type, typed: None })
    }

    /// One field list per possible runtime type of `named` (itself when it is an object type).
    fn typed_object_plan(
        &self,
        schema: &SchemaModel,
        selections: &[RawSelection],
        named: &str,
    ) -> EngineResult<ObjectPlan> {
        let valid = schema.valid();
        let (possible, is_abstract): (Vec<String>, bool) = match valid.types.get(named) {
            Some(ExtendedType::Object(_)) => (vec![named.to_owned()], false),
            Some(ExtendedType::Union(union)) => {
                (union.members.iter().map(|member| member.name.to_string()).collect(), true)
            }
            Some(ExtendedType::Interface(_)) => {
                let mut objects: Vec<String> = valid
                    .types
                    .iter()
                    .filter_map(|(name, ty)| match ty {
                        ExtendedType::Object(object)
                            if object.implements_interfaces.iter().any(|i| i.name == named) =>
                        {
                            Some(name.to_string())
                        }
                        _ => None,
                    })
                    .collect();
                objects.sort();
                (objects, true)
            }
            _ => (Vec::new(), false),
        };
        let by_type = possible
            .iter()
            .map(|name| {
                Ok((Arc::from(name.as_str()), self.field_shapes(selections, RuntimeType::Named(name), Some(name))?))
            })
            .collect::<EngineResult<_>>()?;
        Ok(ObjectPlan { other: Vec::new(), untyped: Vec::new(), by_type, typed: Some((Arc::from(named), is_abstract)) })
    }

    /// The type of a field for the writer (`None` without a schema, and for `__typename`).
    fn typed_field(&self, field: &RawField, ty: Option<&ast::Type>, parent: Arc<str>) -> Option<TypedField> {
        let schema = self.schema?;
        let ty = ty?;
        Some(TypedField {
            output: output_type(schema, ty),
            parent,
            name: field.name.clone(),
            response_key: field.response_key.clone(),
            location: field.location,
        })
    }

    fn type_conditions(&self, selections: &[RawSelection], names: &mut Vec<Arc<str>>) -> EngineResult<()> {
        for selection in selections {
            if let RawSelection::Fragment { type_condition, conditions, selections } = selection {
                if !self.included(conditions)? {
                    continue;
                }
                if let Some(name) = type_condition {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                self.type_conditions(selections, names)?;
            }
        }
        Ok(())
    }

    /// CollectFields of the specification: fields merged by response key, in first-seen order.
    fn field_shapes(
        &self,
        selections: &[RawSelection],
        runtime: RuntimeType<'_>,
        runtime_type: Option<&str>,
    ) -> EngineResult<Vec<FieldShape>> {
        let mut collected: Vec<(&RawField, Vec<&RawSelection>)> = Vec::new();
        self.collect(selections, runtime, &mut collected)?;
        self.fields.set(self.fields.get() + collected.len());
        if self.fields.get() > self.max_fields {
            return Err(too_many_selections(self.max_fields));
        }
        collected
            .into_iter()
            .map(|(field, sub_selections)| {
                // An object type may narrow an interface's field (`I.f: String`, `A.f: String!`):
                // with a runtime type, its own definition decides.
                let narrowed = match (self.schema, runtime_type) {
                    (Some(schema), Some(runtime)) if &*field.name != "__typename" => {
                        schema.valid().type_field(runtime, &field.name).ok().map(|definition| definition.ty.clone())
                    }
                    _ => None,
                };
                let field_type = narrowed.as_ref().or(field.ty.as_ref());
                let named = field_type.map(|ty| ty.inner_named_type().to_string());
                let selection = if field.has_selection_set {
                    let merged: Vec<RawSelection> = sub_selections.into_iter().cloned().collect();
                    Some(self.object_plan(&merged, named.as_deref())?)
                } else {
                    None
                };
                let typed = runtime_type.and_then(|parent| self.typed_field(field, field_type, Arc::from(parent)));
                let typename_literal = match runtime_type {
                    Some(parent) if &*field.name == "__typename" && self.schema.is_some() => {
                        Some(serde_json::to_vec(parent).unwrap_or_default().into())
                    }
                    _ => None,
                };
                Ok(FieldShape {
                    key_json: json_key(&field.response_key),
                    name: field.name.clone(),
                    selection,
                    typed,
                    typename_literal,
                })
            })
            .collect()
    }

    fn collect<'s>(
        &self,
        selections: &'s [RawSelection],
        runtime: RuntimeType<'_>,
        collected: &mut Vec<(&'s RawField, Vec<&'s RawSelection>)>,
    ) -> EngineResult<()> {
        for selection in selections {
            match selection {
                RawSelection::Field(field) => {
                    if !self.included(&field.conditions)? {
                        continue;
                    }
                    match collected.iter_mut().find(|(seen, _)| seen.response_key == field.response_key) {
                        Some((_, sub_selections)) => sub_selections.extend(field.selections.iter()),
                        None => collected.push((field, field.selections.iter().collect())),
                    }
                }
                RawSelection::Fragment { type_condition, conditions, selections } => {
                    if !self.included(conditions)? {
                        continue;
                    }
                    let applies = match (type_condition, runtime) {
                        (None, _) | (Some(_), RuntimeType::Untyped) => true,
                        (Some(_), RuntimeType::Other) => false,
                        (Some(condition), RuntimeType::Named(name)) => {
                            condition.as_ref() == name
                                || self.schema.is_some_and(|schema| schema.valid().is_subtype(condition, name))
                        }
                    };
                    if applies {
                        self.collect(selections, runtime, collected)?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn output_type(schema: &SchemaModel, ty: &ast::Type) -> OutputType {
    let named = |name: &ast::NamedType| -> OutputType {
        match schema.valid().types.get(name.as_str()) {
            Some(ExtendedType::Scalar(_)) => OutputType::Leaf(match name.as_str() {
                "Int" => LeafKind::Int,
                "Float" => LeafKind::Float,
                "String" => LeafKind::String,
                "Boolean" => LeafKind::Boolean,
                "ID" => LeafKind::Id,
                "DateTime" => LeafKind::Formatted(ScalarFormat::DateTime),
                "Date" => LeafKind::Formatted(ScalarFormat::Date),
                "Time" => LeafKind::Formatted(ScalarFormat::Time),
                "UUID" => LeafKind::Formatted(ScalarFormat::Uuid),
                "Decimal" => LeafKind::Formatted(ScalarFormat::Decimal),
                _ => LeafKind::Custom,
            }),
            Some(ExtendedType::Enum(definition)) => OutputType::Leaf(LeafKind::Enum {
                name: Arc::from(name.as_str()),
                values: definition.values.keys().map(ToString::to_string).collect(),
            }),
            _ => OutputType::Composite,
        }
    };
    match ty {
        ast::Type::Named(name) => named(name),
        ast::Type::NonNullNamed(name) => OutputType::NonNull(Box::new(named(name))),
        ast::Type::List(item) => OutputType::List(Box::new(output_type(schema, item))),
        ast::Type::NonNullList(item) => {
            OutputType::NonNull(Box::new(OutputType::List(Box::new(output_type(schema, item)))))
        }
    }
}

/// `"key":` as JSON bytes. GraphQL names never need escaping, but aliases go through serde anyway.
fn json_key(key: &str) -> Box<[u8]> {
    let mut bytes = serde_json::to_vec(key).unwrap_or_default();
    bytes.push(b':');
    bytes.into()
}

fn const_value(value: &ast::Value) -> Value {
    match value {
        ast::Value::Null | ast::Value::Variable(_) => Value::Null,
        ast::Value::Enum(name) => Value::String(name.to_string()),
        ast::Value::String(text) => Value::String(text.clone()),
        ast::Value::Boolean(value) => Value::Bool(*value),
        ast::Value::Int(int) => int
            .as_str()
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| int.try_to_f64().map(Value::from).unwrap_or(Value::Null)),
        ast::Value::Float(float) => float.try_to_f64().map(Value::from).unwrap_or(Value::Null),
        ast::Value::List(items) => Value::Array(items.iter().map(|item| const_value(item)).collect()),
        ast::Value::Object(fields) => {
            Value::Object(fields.iter().map(|(name, value)| (name.to_string(), const_value(value))).collect())
        }
    }
}

/// A literal argument value with variables replaced by their values (absent ones are null).
fn argument_value(value: &ast::Value, variables: &Map<String, Value>) -> Value {
    match value {
        ast::Value::Variable(name) => variables.get(name.as_str()).cloned().unwrap_or(Value::Null),
        ast::Value::List(items) => Value::Array(items.iter().map(|item| argument_value(item, variables)).collect()),
        ast::Value::Object(fields) => Value::Object(
            fields.iter().map(|(name, item)| (name.to_string(), argument_value(item, variables))).collect(),
        ),
        other => const_value(other),
    }
}

fn located(message: String, range: Option<std::ops::Range<LineColumn>>) -> GraphQLError {
    let mut error = GraphQLError::new(message);
    if let Some(range) = range {
        error.locations.push(Location { line: range.start.line, column: range.start.column });
    }
    error
}

/// Errors reported for one document, at most: a small hostile document (say a thousand unclosed
/// braces) must not make a large answer.
const MAX_DOCUMENT_ERRORS: usize = 20;

/// The diagnostics as GraphQL errors: repeats (same message and place) once, and at most
/// [`MAX_DOCUMENT_ERRORS`], the last saying how many more there were.
fn diagnostics(list: &apollo_compiler::validation::DiagnosticList) -> Vec<GraphQLError> {
    let mut errors: Vec<GraphQLError> = Vec::new();
    let mut more = 0usize;
    for diagnostic in list.iter() {
        let json = diagnostic.to_json();
        let mut error = GraphQLError::new(json.message);
        error.locations =
            json.locations.iter().map(|location| Location { line: location.line, column: location.column }).collect();
        if errors.iter().any(|seen| seen.message == error.message && seen.locations == error.locations) {
            continue;
        }
        if errors.len() < MAX_DOCUMENT_ERRORS {
            errors.push(error);
        } else {
            more += 1;
        }
    }
    if more > 0 {
        errors.push(GraphQLError::new(format!("Too many errors: {more} more not shown.")));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(result: EngineResult<CompiledOperation>) -> Vec<String> {
        match result {
            Err(EngineError::Document(errors)) => errors.into_iter().map(|e| e.message).collect(),
            other => panic!("expected a document error, got {other:?}"),
        }
    }

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
    fn a_hostile_document_gets_a_short_answer() {
        let unclosed = format!("subscription {{ a {}", "{ b ".repeat(500));
        let answer = messages(CompiledOperation::compile(&unclosed, None));
        assert!(answer.len() <= MAX_DOCUMENT_ERRORS + 1, "{} errors", answer.len());
        let distinct: std::collections::HashSet<&String> = answer.iter().collect();
        assert_eq!(distinct.len(), answer.len(), "each error once: {answer:?}");
        let many = (0..100).map(|index| format!("$v{index}: Int")).collect::<Vec<_>>().join(", ");
        let answer = messages(CompiledOperation::compile(&format!("subscription ({many}) {{ a }}"), None));
        assert_eq!(answer.len(), MAX_DOCUMENT_ERRORS + 1);
        assert_eq!(answer.last().unwrap(), "Too many errors: 80 more not shown.");
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

    #[test]
    fn coerces_variables_with_defaults_and_required_checks() {
        let op = CompiledOperation::compile(
            "subscription($room: String!, $n: Int = 3) { a(room: $room, n: $n) { id } }",
            None,
        )
        .unwrap();
        let missing = op.coerce_variables(&Map::new()).unwrap_err();
        assert!(missing.to_string().contains("\"$room\" of required type \"String!\""), "{missing}");
        let given = json!({"room": "r"}).as_object().unwrap().clone();
        assert_eq!(Value::Object(op.coerce_variables(&given).unwrap()), json!({"room": "r", "n": 3}));
    }

    #[test]
    fn root_arguments_substitute_variables() {
        let op = CompiledOperation::compile(
            "subscription($room: String!, $n: Int = 2) { m: messageAdded(room: $room, first: $n, tags: [\"a\", $room], f: {x: 1.5}) { id } }",
            None,
        )
        .unwrap();
        let variables = op.coerce_variables(json!({"room": "lobby"}).as_object().unwrap()).unwrap();
        assert_eq!(
            Value::Object(op.root_arguments(&variables)),
            json!({"room": "lobby", "first": 2, "tags": ["a", "lobby"], "f": {"x": 1.5}})
        );
        assert_eq!(&**op.root_response_key(), "m");
    }

    #[test]
    fn exponential_fragment_expansion_is_refused() {
        // Each fragment spreads the next one twice: 2^20 selections from about 1 KiB of text.
        let mut document = String::from("subscription { a { ...F0 } }");
        for level in 0..20 {
            document.push_str(&format!(" fragment F{level} on T {{ id ...F{next} ...F{next} }}", next = level + 1));
        }
        document.push_str(" fragment F20 on T { id }");
        let errors = messages(CompiledOperation::compile(&document, None));
        assert!(errors[0].contains("selects too much"), "{errors:?}");
    }

    #[test]
    fn size_depth_and_alias_limits() {
        let small = DocumentLimits { max_size: 40, max_depth: 2, max_selections: 100, max_aliases: 1 };
        let compile = |query: &str| CompiledOperation::compile_with(query, None, None, small);
        assert!(messages(compile("subscription { a { b { c { d } } } }"))[0].contains("deeper than 2"));
        assert!(messages(compile("subscription { a { x: b y: c } }"))[0].contains("more than 1 aliases"));
        assert!(
            messages(compile(&format!("subscription {{ a {{ {} }} }}", "b ".repeat(30))))[0].contains("larger than 40")
        );
        assert!(compile("subscription { a { x: b } }").is_ok());
    }

    #[test]
    fn repeated_fields_are_kept_once() {
        let query = format!("subscription {{ a {{ {} b {{ x }} b {{ x y }} }} }}", vec!["id"; 9000].join(" "));
        let op = CompiledOperation::compile(&query, None).unwrap();
        let keys = |selections: &[RawSelection]| -> Vec<String> {
            selections
                .iter()
                .map(|selection| match selection {
                    RawSelection::Field(field) => field.response_key.to_string(),
                    RawSelection::Fragment { .. } => "...".to_owned(),
                })
                .collect()
        };
        assert_eq!(keys(&op.root.selections), ["id", "b"]);
        let RawSelection::Field(b) = &op.root.selections[1] else { panic!() };
        assert_eq!(keys(&b.selections), ["x", "y"]);
        // Different conditions, or a fragment in between, keep repeats apart.
        let kept = "subscription($v: Boolean!) { a { id id @skip(if: $v) b { x } ... { b { y } } b { z } } }";
        let op = CompiledOperation::compile(kept, None).unwrap();
        assert_eq!(keys(&op.root.selections), ["id", "id", "b", "...", "b"]);
    }

    #[test]
    fn coercion_errors_locate_the_variable_without_the_document() {
        let schema =
            SchemaModel::parse("type Query { ok: Int } type Subscription { tick(room: String!): Int }").unwrap();
        let query = "subscription Op(\n  $room: String!) { tick(room: $room) }";
        let op = CompiledOperation::compile_with(query, None, Some(&schema), DocumentLimits::default()).unwrap();
        let Err(EngineError::Document(errors)) = op.coerce_variables(&Map::new()) else { panic!() };
        assert_eq!(errors[0].message, "missing value for non-null variable 'room'");
        assert_eq!(errors[0].locations, [Location { line: 2, column: 3 }]);
        let given = json!({"room": "lobby"}).as_object().unwrap().clone();
        assert_eq!(Value::Object(op.coerce_variables(&given).unwrap()), json!({"room": "lobby"}));
    }

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
