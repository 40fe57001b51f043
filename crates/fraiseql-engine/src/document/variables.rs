//! A compiled operation's variables: their definitions, their coercion (to their declared
//! types with a schema, defaults and required checks without) and the root field's arguments
//! with the variables substituted.

use apollo_compiler::ast;
use apollo_compiler::executable;
use apollo_compiler::parser::{SourceMap, SourceSpan};
use apollo_compiler::Node;
use serde_json::{Map, Value};

use super::CompiledOperation;
use crate::error::{EngineError, EngineResult, GraphQLError, Location};
use crate::schema::SchemaModel;

#[derive(Debug, Clone)]
pub(super) struct VariableDefinition {
    pub(super) name: String,
    pub(super) type_text: String,
    pub(super) non_null: bool,
    pub(super) default: Option<Value>,
}

/// The part of a schema-validated document that variable coercion reads. The validated
/// document itself is not kept: it holds the source text and every selection again, several
/// times the size of the plan.
#[derive(Debug)]
pub(super) struct TypedDocument {
    pub(super) schema: SchemaModel,
    /// The operation with its variable definitions only (no selections, no directives):
    /// `coerce_variable_values` reads nothing else.
    pub(super) variables_operation: executable::Operation,
    /// Where each variable definition (and its named type) is, for the locations of coercion
    /// errors, which the source text is no longer there to answer.
    pub(super) variable_locations: Vec<(SourceSpan, Location)>,
}

impl TypedDocument {
    pub(super) fn new(schema: SchemaModel, operation: &executable::Operation, sources: &SourceMap) -> Self {
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

impl CompiledOperation {
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
}

pub(super) fn const_value(value: &ast::Value) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::DocumentLimits;
    use serde_json::json;

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
}
