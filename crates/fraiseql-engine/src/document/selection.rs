//! The selection tree a compiled operation keeps: the document's selections independent of
//! variables, fragments inlined, `@skip`/`@include` kept as conditions, repeated fields merged.
//! Built once per document by [`CompileContext`]; bound per set of variables in `plan`.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use apollo_compiler::ast::{self, Selection};
use apollo_compiler::parser::SourceMap;
use apollo_compiler::validation::Valid;
use apollo_compiler::Node;

use super::errors::located;
use super::limits::{limit_error, too_many_selections, DocumentLimits};
use crate::error::{EngineError, EngineResult, Location};

/// A `@skip`/`@include` condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Condition {
    Skip(BoolArgument),
    Include(BoolArgument),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum BoolArgument {
    Literal(bool),
    Variable(String),
}

/// The document's selection, independent of variables, fragments inlined, repeated fields
/// merged (see [`merge_repeated_fields`]). This tree is what a cached document mostly holds.
#[derive(Debug, Clone)]
pub(super) enum RawSelection {
    Field(RawField),
    Fragment { type_condition: Option<Arc<str>>, conditions: Box<[Condition]>, selections: Vec<RawSelection> },
}

#[derive(Debug, Clone)]
pub(super) struct RawField {
    /// Shares the allocation of `name` unless aliased; names are interned per document.
    pub(super) response_key: Arc<str>,
    pub(super) name: Arc<str>,
    /// Only root-level fields keep their arguments: nothing below the root reads them.
    pub(super) arguments: Box<[(String, Node<ast::Value>)]>,
    pub(super) conditions: Box<[Condition]>,
    pub(super) selections: Vec<RawSelection>,
    pub(super) has_selection_set: bool,
    /// With a schema: the field's declared type (`None` for `__typename`).
    pub(super) ty: Option<ast::Type>,
    pub(super) location: Option<Location>,
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
pub(super) fn merge_repeated_fields(selections: Vec<RawSelection>) -> Vec<RawSelection> {
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

/// Whether a selection set holds the operation's root fields (directly or through fragments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
    Root,
    Nested,
}

pub(super) struct CompileContext<'a> {
    pub(super) fragments: &'a [&'a Node<ast::FragmentDefinition>],
    pub(super) sources: &'a SourceMap,
    /// Selections produced so far (fragments expanded), against the limit.
    pub(super) count: Cell<usize>,
    pub(super) aliases: Cell<usize>,
    /// Names and aliases of this document, one allocation each.
    pub(super) names: RefCell<HashSet<Arc<str>>>,
    pub(super) schema: Option<&'a Valid<apollo_compiler::Schema>>,
    pub(super) limits: DocumentLimits,
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

    pub(super) fn selections(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::CompiledOperation;

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
}
