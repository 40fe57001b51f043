//! The application's GraphQL schema (SDL), parsed and validated once by apollo-compiler.
//!
//! With a schema, subscription documents are validated with every rule of the specification
//! and variables are coerced to their declared types; without one, the engine validates what it
//! can without types (see `document`).

use std::sync::Arc;

use apollo_compiler::validation::Valid;
use apollo_compiler::Schema;

use crate::error::{EngineError, EngineResult, GraphQLError, Location};

/// A validated schema, shared by every compiled document.
#[derive(Debug, Clone)]
pub struct SchemaModel {
    valid: Arc<Valid<Schema>>,
    sdl: Arc<str>,
}

impl SchemaModel {
    /// Parses and validates SDL; refuses a schema without a `Subscription` root type.
    pub fn parse(sdl: &str) -> EngineResult<Self> {
        let valid = Schema::parse_and_validate(sdl, "schema.graphql").map_err(|with_errors| {
            let errors: Vec<GraphQLError> = with_errors
                .errors
                .iter()
                .map(|diagnostic| {
                    let json = diagnostic.to_json();
                    let mut error = GraphQLError::new(json.message);
                    error.locations = json
                        .locations
                        .iter()
                        .map(|location| Location { line: location.line, column: location.column })
                        .collect();
                    error
                })
                .collect();
            EngineError::Config(format!(
                "invalid schema: {}",
                errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ))
        })?;
        if valid.schema_definition.subscription.is_none() {
            return Err(EngineError::Config("invalid schema: it has no Subscription type".to_owned()));
        }
        Ok(Self { valid: Arc::new(valid), sdl: Arc::from(sdl) })
    }

    pub fn valid(&self) -> &Valid<Schema> {
        &self.valid
    }

    /// The SDL the schema was built from.
    pub fn sdl(&self) -> &str {
        &self.sdl
    }

    /// The argument names of a field of the `Subscription` type, or `None` when it has no such
    /// field.
    pub fn subscription_field_arguments(&self, field: &str) -> Option<Vec<String>> {
        let root = self.valid.schema_definition.subscription.as_ref()?;
        let definition = self.valid.type_field(root.name.as_str(), field).ok()?;
        Some(definition.arguments.iter().map(|argument| argument.name.to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_sdl() {
        let schema = SchemaModel::parse("type Query { a: Int } type Subscription { tick: Int }").unwrap();
        assert!(schema.sdl().contains("Subscription"));
    }

    #[test]
    fn lists_the_arguments_of_a_subscription_field() {
        let schema =
            SchemaModel::parse("type Query { a: Int } type Subscription { tick(every: Int, n: ID): Int }").unwrap();
        assert_eq!(schema.subscription_field_arguments("tick"), Some(vec!["every".to_owned(), "n".to_owned()]));
        assert_eq!(schema.subscription_field_arguments("tock"), None);
    }

    #[test]
    fn refuses_invalid_sdl_and_missing_subscription_type() {
        let error = SchemaModel::parse("type Query { a: Missing } type Subscription { t: Int }").unwrap_err();
        assert!(error.to_string().contains("Missing"), "{error}");
        let error = SchemaModel::parse("type Query { a: Int }").unwrap_err();
        assert!(error.to_string().contains("no Subscription type"), "{error}");
    }
}
