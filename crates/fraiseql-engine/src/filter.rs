//! Row-level filters: which events a subscriber may see, as a predicate over the event's fields,
//! the connection's context and the subscription's arguments. Compiled once (from a JSON spec),
//! evaluated in Rust for every (event, subscriber) pair the tenant and user rules let through.
//!
//! The spec, as the Python builder writes it:
//!
//! ```json
//! {"and": [{"eq": ["event.room", "args.room"]}, {"not": {"eq": ["event.author_id", "context.user_id"]}}]}
//! ```
//!
//! Operators: `eq`, `ne`, `lt`, `le`, `gt`, `ge` (two operands), `in` (an operand and a list, or
//! an operand that holds a list), `exists` (one operand), `and`, `or` (lists of filters), `not`.
//! An operand is a path string starting with `event.`, `context.` or `args.` (dotted, into
//! objects; a list index is a number segment), or `{"value": <any JSON>}`. Comparison is
//! fail-closed: a missing path is `null`, and comparing values of different kinds is false
//! (except an integer and its decimal text, which are the same id, as for tenants and users).

use std::cmp::Ordering;

use serde_json::{Map, Value};

/// Where an operand's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Event(Vec<Box<str>>),
    Context(Vec<Box<str>>),
    Argument(Vec<Box<str>>),
    Literal(Value),
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Decided already (what [`Filter::specialize`] leaves of a part that does not read the event).
    Always(bool),
    Compare(Comparison, Operand, Operand),
    In(Operand, Operand),
    Exists(Operand),
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// What a filter sees besides the event: the connection's context and the subscription's
/// arguments, as JSON objects (`{"user_id": ..., "tenant_id": ..., "scopes": [...], ...}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterInputs {
    pub context: Value,
    pub arguments: Value,
}

/// Filters nest at most this deep (a spec is the application's, but bounded all the same).
const MAX_DEPTH: usize = 32;

impl Filter {
    /// Compiles a spec; `Err` says what is wrong and where.
    pub fn compile(spec: &Value) -> Result<Self, String> {
        Self::compile_at(spec, 0)
    }

    fn compile_at(spec: &Value, depth: usize) -> Result<Self, String> {
        if depth > MAX_DEPTH {
            return Err(format!("filters nest deeper than {MAX_DEPTH} levels"));
        }
        let Value::Object(object) = spec else {
            return Err(format!("a filter is an object with one operator, not {spec}"));
        };
        let [(operator, argument)] = object.iter().collect::<Vec<_>>()[..] else {
            return Err(format!("a filter has exactly one operator, not {}", object.len()));
        };
        let operands = |count: usize| -> Result<Vec<Operand>, String> {
            match argument {
                Value::Array(items) if items.len() == count => items.iter().map(Operand::compile).collect(),
                _ => Err(format!("\"{operator}\" takes a list of {count} operand(s), not {argument}")),
            }
        };
        let filters = || -> Result<Vec<Filter>, String> {
            match argument {
                Value::Array(items) if !items.is_empty() => {
                    items.iter().map(|item| Self::compile_at(item, depth + 1)).collect()
                }
                _ => Err(format!("\"{operator}\" takes a non-empty list of filters")),
            }
        };
        let comparison = match operator.as_str() {
            "eq" => Some(Comparison::Eq),
            "ne" => Some(Comparison::Ne),
            "lt" => Some(Comparison::Lt),
            "le" => Some(Comparison::Le),
            "gt" => Some(Comparison::Gt),
            "ge" => Some(Comparison::Ge),
            _ => None,
        };
        if let Some(comparison) = comparison {
            let mut pair = operands(2)?.into_iter();
            let (left, right) = (pair.next().expect("two"), pair.next().expect("two"));
            return Ok(Filter::Compare(comparison, left, right));
        }
        match operator.as_str() {
            "in" => {
                let mut pair = operands(2)?.into_iter();
                Ok(Filter::In(pair.next().expect("two"), pair.next().expect("two")))
            }
            "exists" => {
                let operand = match argument {
                    Value::Array(_) => operands(1)?.remove(0),
                    single => Operand::compile(single)?,
                };
                Ok(Filter::Exists(operand))
            }
            "and" => Ok(Filter::And(filters()?)),
            "or" => Ok(Filter::Or(filters()?)),
            "not" => Ok(Filter::Not(Box::new(Self::compile_at(argument, depth + 1)?))),
            other => Err(format!(
                "unknown filter operator \"{other}\" (use eq, ne, lt, le, gt, ge, in, exists, and, or, not)"
            )),
        }
    }

    /// This filter for one subscriber: its context and arguments put in as values, and every
    /// part that no longer depends on the event decided now (`"admin" in context.roles` is true
    /// or false for good). Done once per subscription, so an event only evaluates what depends
    /// on it; [`Filter::matches_event`] evaluates the result.
    pub fn specialize(&self, inputs: &FilterInputs) -> Filter {
        let bind = |operand: &Operand| match operand {
            Operand::Context(_) | Operand::Argument(_) => {
                // A missing value behaves as null everywhere, so null stands in for it.
                Operand::Literal(operand.resolve(&Value::Null, inputs).cloned().unwrap_or(Value::Null))
            }
            other => other.clone(),
        };
        let decided = |filter: Filter| match &filter {
            Filter::Compare(_, Operand::Literal(_), Operand::Literal(_))
            | Filter::In(Operand::Literal(_), Operand::Literal(_))
            | Filter::Exists(Operand::Literal(_)) => Filter::Always(filter.matches(&Value::Null, inputs)),
            _ => filter,
        };
        match self {
            Filter::Always(verdict) => Filter::Always(*verdict),
            Filter::Compare(comparison, left, right) => decided(Filter::Compare(*comparison, bind(left), bind(right))),
            Filter::In(needle, haystack) => decided(Filter::In(bind(needle), bind(haystack))),
            Filter::Exists(operand) => decided(Filter::Exists(bind(operand))),
            Filter::And(filters) => Self::combine(filters, inputs, true),
            Filter::Or(filters) => Self::combine(filters, inputs, false),
            Filter::Not(filter) => match filter.specialize(inputs) {
                Filter::Always(verdict) => Filter::Always(!verdict),
                other => Filter::Not(Box::new(other)),
            },
        }
    }

    /// `and` (`all` true) or `or` of specialized parts: decided parts that do not decide the
    /// whole are dropped, one that does decides it.
    fn combine(filters: &[Filter], inputs: &FilterInputs, all: bool) -> Filter {
        let mut kept = Vec::with_capacity(filters.len());
        for filter in filters {
            match filter.specialize(inputs) {
                Filter::Always(verdict) if verdict == all => {}
                Filter::Always(verdict) => return Filter::Always(verdict),
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Filter::Always(all),
            1 => kept.pop().expect("one"),
            _ if all => Filter::And(kept),
            _ => Filter::Or(kept),
        }
    }

    /// Whether an event passes a filter made by [`Filter::specialize`].
    #[inline]
    pub fn matches_event(&self, event: &Value) -> bool {
        static NO_INPUTS: FilterInputs = FilterInputs { context: Value::Null, arguments: Value::Null };
        self.matches(event, &NO_INPUTS)
    }

    /// Whether a subscriber with `inputs` may see an event whose data is `event`.
    pub fn matches(&self, event: &Value, inputs: &FilterInputs) -> bool {
        match self {
            Filter::Always(verdict) => *verdict,
            Filter::Compare(comparison, left, right) => {
                compare(*comparison, left.resolve(event, inputs), right.resolve(event, inputs))
            }
            Filter::In(needle, haystack) => {
                let needle = needle.resolve(event, inputs);
                match haystack.resolve(event, inputs) {
                    Some(Value::Array(items)) => items.iter().any(|item| same(needle, Some(item))),
                    _ => false,
                }
            }
            Filter::Exists(operand) => operand.resolve(event, inputs).is_some_and(|value| !value.is_null()),
            Filter::And(filters) => filters.iter().all(|filter| filter.matches(event, inputs)),
            Filter::Or(filters) => filters.iter().any(|filter| filter.matches(event, inputs)),
            Filter::Not(filter) => !filter.matches(event, inputs),
        }
    }
}

impl Operand {
    fn compile(spec: &Value) -> Result<Self, String> {
        match spec {
            Value::String(path) => {
                let (source, rest) = path.split_once('.').unwrap_or((path.as_str(), ""));
                let segments: Vec<Box<str>> =
                    if rest.is_empty() { Vec::new() } else { rest.split('.').map(Box::from).collect() };
                if segments.iter().any(|segment| segment.is_empty()) {
                    return Err(format!("the path \"{path}\" has an empty segment"));
                }
                match source {
                    "event" => Ok(Operand::Event(segments)),
                    "context" => Ok(Operand::Context(segments)),
                    "args" => Ok(Operand::Argument(segments)),
                    _ => Err(format!(
                        "the operand \"{path}\" must start with event., context. or args. (a text value is {{\"value\": ...}})"
                    )),
                }
            }
            Value::Object(object) => match object.get("value") {
                Some(value) if object.len() == 1 => Ok(Operand::Literal(value.clone())),
                _ => Err(format!("an operand is a path or {{\"value\": ...}}, not {spec}")),
            },
            // Numbers, booleans and null are plain values.
            other => Ok(Operand::Literal(other.clone())),
        }
    }

    fn resolve<'a>(&'a self, event: &'a Value, inputs: &'a FilterInputs) -> Option<&'a Value> {
        let (root, path) = match self {
            Operand::Literal(value) => return Some(value),
            Operand::Event(path) => (event, path),
            Operand::Context(path) => (&inputs.context, path),
            Operand::Argument(path) => (&inputs.arguments, path),
        };
        path.iter().try_fold(root, |value, segment| match value {
            Value::Object(object) => object.get(&**segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|index| items.get(index)),
            _ => None,
        })
    }
}

/// Equality with ids in mind: numbers by value (`1 == 1.0`), and an integer equal to its decimal
/// text (`7 == "7"`), since ids travel both ways. A missing value equals only null.
fn same(left: Option<&Value>, right: Option<&Value>) -> bool {
    let null = Value::Null;
    let (left, right) = (left.unwrap_or(&null), right.unwrap_or(&null));
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => a == b,
            _ => a.as_f64() == b.as_f64(),
        },
        (Value::Number(number), Value::String(text)) | (Value::String(text), Value::Number(number)) => {
            (number.is_i64() || number.is_u64()) && number.to_string() == *text
        }
        _ => left == right,
    }
}

fn order(left: Option<&Value>, right: Option<&Value>) -> Option<Ordering> {
    match (left?, right?) {
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn compare(comparison: Comparison, left: Option<&Value>, right: Option<&Value>) -> bool {
    match comparison {
        Comparison::Eq => same(left, right),
        Comparison::Ne => !same(left, right),
        Comparison::Lt => order(left, right) == Some(Ordering::Less),
        Comparison::Le => matches!(order(left, right), Some(Ordering::Less | Ordering::Equal)),
        Comparison::Gt => order(left, right) == Some(Ordering::Greater),
        Comparison::Ge => matches!(order(left, right), Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// The inputs of a subscriber: its context and arguments (objects; anything else is empty).
pub fn inputs(context: Value, arguments: Value) -> FilterInputs {
    let object = |value: Value| if value.is_object() { value } else { Value::Object(Map::new()) };
    FilterInputs { context: object(context), arguments: object(arguments) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(spec: Value, event: Value) -> bool {
        let inputs = inputs(json!({"user_id": "7", "tenant_id": "t1", "scopes": ["read"]}), json!({"room": "lobby"}));
        let filter = Filter::compile(&spec).unwrap();
        let verdict = filter.matches(&event, &inputs);
        assert_eq!(filter.specialize(&inputs).matches_event(&event), verdict, "specialized: {spec}");
        verdict
    }

    #[test]
    fn compares_paths_and_values() {
        assert!(check(json!({"eq": ["event.room", "args.room"]}), json!({"room": "lobby"})));
        assert!(!check(json!({"eq": ["event.room", "args.room"]}), json!({"room": "other"})));
        assert!(check(json!({"eq": ["event.author_id", "context.user_id"]}), json!({"author_id": 7})), "7 is \"7\"");
        assert!(check(json!({"ne": ["event.author_id", "context.user_id"]}), json!({"author_id": 8})));
        assert!(check(json!({"gt": ["event.n", 3]}), json!({"n": 3.5})));
        assert!(check(json!({"le": ["event.name", {"value": "m"}]}), json!({"name": "b"})));
        assert!(!check(json!({"lt": ["event.n", {"value": "9"}]}), json!({"n": 1})), "no order across kinds");
        assert!(check(json!({"in": ["event.level", {"value": ["info", "warn"]}]}), json!({"level": "warn"})));
        assert!(check(json!({"in": [{"value": "read"}, "context.scopes"]}), json!({})));
        assert!(check(json!({"exists": "event.a.b.1"}), json!({"a": {"b": [0, 5]}})));
        assert!(!check(json!({"exists": ["event.a.c"]}), json!({"a": {"c": null}})));
    }

    #[test]
    fn combines_and_fails_closed() {
        let spec = json!({"and": [{"eq": ["event.room", "args.room"]}, {"not": {"eq": ["event.hidden", true]}}]});
        assert!(check(spec.clone(), json!({"room": "lobby"})));
        assert!(!check(spec, json!({"room": "lobby", "hidden": true})));
        assert!(check(json!({"or": [{"eq": ["event.x", 1]}, {"eq": ["event.y", 1]}]}), json!({"y": 1})));
        assert!(!check(json!({"eq": ["event.missing", "context.user_id"]}), json!({})), "missing is null");
        assert!(check(json!({"eq": ["event.missing", null]}), json!({})));
    }

    #[test]
    fn specializing_decides_what_does_not_read_the_event() {
        let spec = json!({"and": [
            {"or": [{"eq": ["event.owner", "context.user_id"]}, {"in": [{"value": "admin"}, "context.roles"]}]},
            {"ge": ["event.total", "args.min"]}
        ]});
        let filter = Filter::compile(&spec).unwrap();
        let admin = filter.specialize(&inputs(json!({"user_id": "ann", "roles": ["admin"]}), json!({"min": 10})));
        assert_eq!(admin, Filter::compile(&json!({"ge": ["event.total", 10]})).unwrap());
        let member = filter.specialize(&inputs(json!({"user_id": "bob", "roles": []}), json!({})));
        assert_eq!(
            member,
            Filter::compile(
                &json!({"and": [{"eq": ["event.owner", {"value": "bob"}]}, {"ge": ["event.total", null]}]})
            )
            .unwrap()
        );
        assert!(!member.matches_event(&json!({"owner": "bob", "total": 3})), "no minimum given: nothing is >= null");
        let never = Filter::compile(&json!({"not": {"exists": "context.user_id"}})).unwrap();
        assert_eq!(never.specialize(&inputs(json!({"user_id": 1}), json!({}))), Filter::Always(false));
        assert_eq!(never.specialize(&inputs(json!({}), json!({}))), Filter::Always(true));
    }

    #[test]
    fn refuses_malformed_specs() {
        for (spec, message) in [
            (json!([]), "an object"),
            (json!({"eq": ["event.a"]}), "list of 2"),
            (json!({"eq": [1, 2], "ne": [1, 2]}), "exactly one operator"),
            (json!({"like": ["event.a", "x"]}), "unknown filter operator"),
            (json!({"eq": ["room", "args.room"]}), "must start with event."),
            (json!({"eq": ["event..a", 1]}), "empty segment"),
            (json!({"and": []}), "non-empty list"),
        ] {
            let error = Filter::compile(&spec).unwrap_err();
            assert!(error.contains(message), "{spec}: {error}");
        }
        let mut deep = json!({"eq": ["event.a", 1]});
        for _ in 0..40 {
            deep = json!({"not": deep});
        }
        assert!(Filter::compile(&deep).unwrap_err().contains("deeper"));
    }
}
