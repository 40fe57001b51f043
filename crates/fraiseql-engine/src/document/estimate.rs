//! How much memory a compiled operation holds, estimated once when it is compiled: the document
//! cache is bounded by these bytes.
//!
//! The estimate is deliberately conservative. Every block is counted at its capacity, rounded up
//! to 16 bytes and charged 16 more for the allocator's bookkeeping (glibc's malloc adds 8 and
//! rounds to 16), and serde_json maps are charged twice their entries. Blocks shared within the
//! operation (interned names) are counted once; what the schema owns (`SchemaModel`, and the type
//! names a typed field's type points to) is shared by every document and not counted.

use std::collections::HashSet;
use std::mem::size_of;
use std::sync::Arc;

use apollo_compiler::ast;
use apollo_compiler::parser::SourceSpan;
use apollo_compiler::{Name, Node};
use serde_json::Value;

use super::selection::{BoolArgument, Condition, RawField, RawSelection};
use super::variables::{TypedDocument, VariableDefinition};
use super::CompiledOperation;

const BOOKKEEPING: usize = 16;

/// The bytes one heap block of `size` requested bytes costs.
pub(super) fn block(size: usize) -> usize {
    if size == 0 {
        0
    } else {
        size.next_multiple_of(16) + BOOKKEEPING
    }
}

/// An `Arc`'s block: its two counters, then the value.
const ARC_COUNTERS: usize = 2 * size_of::<usize>();
/// An apollo-compiler `Node`'s block: its counter and source span, then the value.
const NODE_HEADER: usize = size_of::<usize>() + size_of::<Option<SourceSpan>>();

pub(super) fn operation_bytes(operation: &CompiledOperation) -> usize {
    let mut estimate = Estimate::default();
    estimate.add(block(ARC_COUNTERS + size_of::<CompiledOperation>()));
    if let Some(name) = &operation.operation_name {
        estimate.string(name);
    }
    estimate.arc_str(&operation.root_field);
    estimate.vec(&operation.variables);
    for variable in &operation.variables {
        estimate.variable(variable);
    }
    estimate.field(&operation.root);
    if let Some(typed) = &operation.typed {
        estimate.typed(typed);
    }
    estimate.bytes
}

#[derive(Default)]
struct Estimate {
    bytes: usize,
    /// Addresses of the shared blocks already counted.
    counted: HashSet<usize>,
}

impl Estimate {
    fn add(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes);
    }

    fn vec<T>(&mut self, items: &Vec<T>) {
        self.add(block(items.capacity() * size_of::<T>()));
    }

    fn slice<T>(&mut self, items: &[T]) {
        self.add(block(std::mem::size_of_val(items)));
    }

    fn string(&mut self, text: &String) {
        self.add(block(text.capacity()));
    }

    fn arc_str(&mut self, text: &Arc<str>) {
        if self.counted.insert(text.as_ptr() as usize) {
            self.add(block(ARC_COUNTERS + text.len()));
        }
    }

    /// A name parsed from the document: its own `Arc<str>` block (static names cost nothing,
    /// but counting them too keeps this simple and on the safe side).
    fn name(&mut self, name: &Name) {
        self.add(block(ARC_COUNTERS + name.len()));
    }

    fn field(&mut self, field: &RawField) {
        self.arc_str(&field.response_key);
        self.arc_str(&field.name);
        self.slice(&field.arguments);
        for (name, value) in field.arguments.iter() {
            self.string(name);
            self.ast_value(value);
        }
        self.conditions(&field.conditions);
        self.selections(&field.selections);
        if let Some(ty) = &field.ty {
            self.ast_type(ty);
        }
    }

    fn selections(&mut self, selections: &Vec<RawSelection>) {
        self.vec(selections);
        for selection in selections {
            match selection {
                RawSelection::Field(field) => self.field(field),
                RawSelection::Fragment { type_condition, conditions, selections } => {
                    if let Some(name) = type_condition {
                        self.arc_str(name);
                    }
                    self.conditions(conditions);
                    self.selections(selections);
                }
            }
        }
    }

    fn conditions(&mut self, conditions: &[Condition]) {
        self.slice(conditions);
        for condition in conditions {
            let (Condition::Skip(argument) | Condition::Include(argument)) = condition;
            if let BoolArgument::Variable(name) = argument {
                self.string(name);
            }
        }
    }

    /// The type's list levels are boxes of their own; its name belongs to the schema.
    fn ast_type(&mut self, ty: &ast::Type) {
        if let ast::Type::List(item) | ast::Type::NonNullList(item) = ty {
            self.add(block(size_of::<ast::Type>()));
            self.ast_type(item);
        }
    }

    fn ast_value(&mut self, value: &Node<ast::Value>) {
        self.add(block(NODE_HEADER + size_of::<ast::Value>()));
        match &**value {
            ast::Value::Null | ast::Value::Boolean(_) => {}
            ast::Value::Enum(name) | ast::Value::Variable(name) => self.name(name),
            ast::Value::String(text) => self.string(text),
            ast::Value::Float(number) => self.add(block(number.as_str().len())),
            ast::Value::Int(number) => self.add(block(number.as_str().len())),
            ast::Value::List(items) => {
                self.vec(items);
                items.iter().for_each(|item| self.ast_value(item));
            }
            ast::Value::Object(fields) => {
                self.vec(fields);
                for (name, item) in fields {
                    self.name(name);
                    self.ast_value(item);
                }
            }
        }
    }

    fn json(&mut self, value: &Value) {
        match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
            Value::String(text) => self.string(text),
            Value::Array(items) => {
                self.vec(items);
                items.iter().for_each(|item| self.json(item));
            }
            Value::Object(map) => {
                // B-tree nodes (or an index map) hold spare room: charged twice per entry.
                self.add(block(2 * map.len() * (size_of::<String>() + size_of::<Value>())));
                for (key, item) in map {
                    self.string(key);
                    self.json(item);
                }
            }
        }
    }

    fn variable(&mut self, variable: &VariableDefinition) {
        self.string(&variable.name);
        self.string(&variable.type_text);
        if let Some(default) = &variable.default {
            self.json(default);
        }
    }

    fn typed(&mut self, typed: &TypedDocument) {
        let operation = &typed.variables_operation;
        if let Some(name) = &operation.name {
            self.name(name);
        }
        self.vec(&operation.variables);
        for definition in &operation.variables {
            self.add(block(NODE_HEADER + size_of::<ast::VariableDefinition>()));
            self.name(&definition.name);
            self.add(block(NODE_HEADER + size_of::<ast::Type>()));
            self.ast_type(&definition.ty);
            // Unlike a field's type, a variable's type names were parsed from the document.
            self.name(definition.ty.inner_named_type());
            if let Some(default) = &definition.default_value {
                self.ast_value(default);
            }
        }
        self.vec(&typed.variable_locations);
    }
}
