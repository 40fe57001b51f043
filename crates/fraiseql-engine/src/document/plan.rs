//! The shaping plan: a compiled operation bound to one subscription's variables
//! (`@skip`/`@include` evaluated, fields collected per runtime type, output types resolved
//! with a schema). The writer in `shape` follows it for every event.

use std::cell::Cell;
use std::sync::Arc;

use apollo_compiler::ast;
use apollo_compiler::schema::ExtendedType;
use serde_json::{Map, Value};

use super::limits::too_many_selections;
use super::selection::{BoolArgument, Condition, RawField, RawSelection};
use super::CompiledOperation;
use crate::error::{EngineError, EngineResult, GraphQLError, Location};
use crate::schema::SchemaModel;

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

impl CompiledOperation {
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
