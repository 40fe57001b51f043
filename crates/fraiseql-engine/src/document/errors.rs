//! The parser's and validator's diagnostics as GraphQL errors: located, repeats once, and
//! at most [`MAX_DOCUMENT_ERRORS`] of them.

use apollo_compiler::parser::LineColumn;

use crate::error::{GraphQLError, Location};

pub(super) fn located(message: String, range: Option<std::ops::Range<LineColumn>>) -> GraphQLError {
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
pub(super) fn diagnostics(list: &apollo_compiler::validation::DiagnosticList) -> Vec<GraphQLError> {
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
pub(super) mod tests {
    use super::*;
    use crate::document::CompiledOperation;
    use crate::error::{EngineError, EngineResult};

    /// The messages of a compilation's document errors (it must have failed with some).
    pub(in crate::document) fn messages(result: EngineResult<CompiledOperation>) -> Vec<String> {
        match result {
            Err(EngineError::Document(errors)) => errors.into_iter().map(|e| e.message).collect(),
            other => panic!("expected a document error, got {other:?}"),
        }
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
}
