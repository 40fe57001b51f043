//! What a subscription document may ask for, and the `DOCUMENT_TOO_LARGE` errors beyond it.

use crate::error::{EngineError, GraphQLError};

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

pub(super) fn limit_error(message: String) -> EngineError {
    EngineError::Document(vec![GraphQLError::new(message).with_code("DOCUMENT_TOO_LARGE")])
}

pub(super) fn too_many_selections(limit: usize) -> EngineError {
    limit_error(format!("The document selects too much: more than {limit} selections with its fragments expanded."))
}

#[cfg(test)]
mod tests {
    use crate::document::errors::tests::messages;
    use crate::document::{CompiledOperation, DocumentLimits};

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
}
