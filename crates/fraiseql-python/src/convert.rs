//! Exact conversion between Python objects and JSON values.
//!
//! bool stays bool; integers must fit in 64 bits; NaN and infinities are refused; datetime,
//! date, time, UUID and Decimal become their standard text; an Enum member becomes its name
//! (GraphQL enum semantics); dataclasses and mappings become objects; lists and tuples arrays.
//! Anything else is a `TypeError` naming the type and where it was found.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use pyo3::{intern, IntoPyObjectExt};
use serde_json::{Map, Number, Value};

/// Deeper nesting than this is refused (it would otherwise exhaust the stack).
const MAX_DEPTH: usize = 256;

enum Segment {
    Key(String),
    Index(usize),
}

/// A conversion failure and where it happened, built up while the recursion unwinds.
struct ConvertError {
    kind: ErrorKind,
    message: String,
    path: Vec<Segment>,
}

enum ErrorKind {
    Type,
    Value,
}

impl ConvertError {
    fn type_error(message: String) -> Self {
        Self { kind: ErrorKind::Type, message, path: Vec::new() }
    }

    fn value_error(message: String) -> Self {
        Self { kind: ErrorKind::Value, message, path: Vec::new() }
    }

    fn at(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    fn into_py_err(self, root: &str) -> PyErr {
        let mut location = root.to_owned();
        for segment in self.path.iter().rev() {
            match segment {
                Segment::Key(key) => location.push_str(&format!("[{key:?}]")),
                Segment::Index(index) => location.push_str(&format!("[{index}]")),
            }
        }
        let message = format!("{} at {location}", self.message);
        match self.kind {
            ErrorKind::Type => PyTypeError::new_err(message),
            ErrorKind::Value => PyValueError::new_err(message),
        }
    }
}

type ConvertResult<T> = Result<T, ConvertError>;

/// Application serializers: instances of the type are converted through the callable (its
/// result is converted in turn). They run once per value and event, never per subscriber.
pub type Serializers = [(Py<PyType>, Py<PyAny>)];

/// Converts `object` to JSON; errors name the place as `root[...]`.
pub fn to_json(object: &Bound<'_, PyAny>, root: &str) -> PyResult<Value> {
    to_json_with(object, root, &[])
}

/// [`to_json`] with application serializers for custom types.
pub fn to_json_with(object: &Bound<'_, PyAny>, root: &str, serializers: &Serializers) -> PyResult<Value> {
    // PyO3's dict iteration panics when another thread mutates the dict meanwhile.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| convert(object, 0, serializers))) {
        Ok(result) => result.map_err(|error| error.into_py_err(root)),
        Err(_) => Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
            "{root} changed while it was being converted (a dict or list mutated by another thread)"
        ))),
    }
}

/// Converts a mapping of names to values (variables, event data objects).
pub fn to_json_object(object: &Bound<'_, PyAny>, root: &str) -> PyResult<Map<String, Value>> {
    match to_json(object, root)? {
        Value::Object(map) => Ok(map),
        other => Err(PyTypeError::new_err(format!(
            "{root} must be a dict, not {}",
            match other {
                Value::Array(_) => "a list",
                _ => "a scalar",
            }
        ))),
    }
}

fn convert(object: &Bound<'_, PyAny>, depth: usize, serializers: &Serializers) -> ConvertResult<Value> {
    if depth > MAX_DEPTH {
        return Err(ConvertError::value_error(format!("nesting deeper than {MAX_DEPTH} levels")));
    }
    // Exact built-in types first: they are nearly everything an event carries.
    if object.is_exact_instance_of::<PyString>() {
        return string_of(object);
    }
    if object.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(boolean) = object.cast_exact::<PyBool>() {
        return Ok(Value::Bool(boolean.is_true()));
    }
    if object.is_exact_instance_of::<PyInt>() {
        return int_of(object);
    }
    if object.is_exact_instance_of::<PyFloat>() {
        return float_of(object);
    }
    if let Ok(dict) = object.cast::<PyDict>() {
        return dict_of(dict, depth, serializers);
    }
    if let Ok(list) = object.cast::<PyList>() {
        return array_of(list.iter(), depth, serializers);
    }
    if let Ok(tuple) = object.cast::<PyTuple>() {
        return array_of(tuple.iter(), depth, serializers);
    }
    special(object, depth, serializers)
}

fn array_of<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    depth: usize,
    serializers: &Serializers,
) -> ConvertResult<Value> {
    items
        .enumerate()
        .map(|(i, item)| convert(&item, depth + 1, serializers).map_err(|e| e.at(Segment::Index(i))))
        .collect()
}

fn special(object: &Bound<'_, PyAny>, depth: usize, serializers: &Serializers) -> ConvertResult<Value> {
    let py = object.py();
    // The application's serializers come first: they may also override the built-in ones.
    for (type_, serializer) in serializers {
        if object.is_instance(type_.bind(py)).unwrap_or(false) {
            let converted = serializer.bind(py).call1((object,)).map_err(|error| {
                ConvertError::value_error(format!("the serializer for '{}' raised {error}", type_name(object)))
            })?;
            return convert(&converted, depth + 1, serializers);
        }
    }
    let types = known_types(py).map_err(|e| ConvertError::type_error(e.to_string()))?;
    let is = |ty: &Py<PyType>| object.is_instance(ty.bind(py)).unwrap_or(false);
    let call_text = |method: &Bound<'_, PyString>| -> ConvertResult<Value> {
        let text = object.call_method0(method).map_err(|e| ConvertError::value_error(e.to_string()))?;
        string_of(&text)
    };
    // Enum before str/int: a `class Color(str, Enum)` member is sent as its name.
    if is(&types.enum_type) {
        let name = object.getattr(intern!(py, "name")).map_err(|e| ConvertError::type_error(e.to_string()))?;
        return string_of(&name);
    }
    if is(&types.date) || is(&types.time) {
        return call_text(intern!(py, "isoformat"));
    }
    if is(&types.uuid) {
        return call_text(intern!(py, "__str__"));
    }
    if is(&types.decimal) {
        let finite = object.call_method0(intern!(py, "is_finite")).and_then(|f| f.is_truthy()).unwrap_or(false);
        if !finite {
            return Err(ConvertError::value_error(format!("non-finite Decimal {} is not valid JSON", repr(object))));
        }
        return call_text(intern!(py, "__str__"));
    }
    if let Ok(text) = object.cast::<PyString>() {
        return string_of(text.as_any());
    }
    if object.is_instance_of::<PyInt>() {
        return int_of(object);
    }
    if object.is_instance_of::<PyFloat>() {
        return float_of(object);
    }
    if !object.is_instance_of::<PyType>() && object.hasattr(intern!(py, "__dataclass_fields__")).unwrap_or(false) {
        let fields =
            types.dataclass_fields.bind(py).call1((object,)).map_err(|e| ConvertError::type_error(e.to_string()))?;
        let mut map = Map::new();
        for field in fields.try_iter().map_err(|e| ConvertError::type_error(e.to_string()))? {
            let field = field.map_err(|e| ConvertError::type_error(e.to_string()))?;
            let name: String = field
                .getattr(intern!(py, "name"))
                .and_then(|n| n.extract())
                .map_err(|e| ConvertError::type_error(e.to_string()))?;
            let value = object.getattr(name.as_str()).map_err(|e| ConvertError::type_error(e.to_string()))?;
            let converted = convert(&value, depth + 1, serializers).map_err(|e| e.at(Segment::Key(name.clone())))?;
            map.insert(name, converted);
        }
        // A dataclass declares its GraphQL type: interfaces and unions resolve through it.
        if !map.contains_key("__typename") {
            map.insert("__typename".to_owned(), Value::String(type_name(object)));
        }
        return Ok(Value::Object(map));
    }
    if is(&types.mapping) {
        let items = object
            .call_method0(intern!(py, "items"))
            .and_then(|items| items.try_iter())
            .map_err(|e| ConvertError::type_error(e.to_string()))?;
        let mut map = Map::new();
        for item in items {
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) =
                item.and_then(|pair| pair.extract()).map_err(|e| ConvertError::type_error(e.to_string()))?;
            let key = key_of(&key)?;
            let converted = convert(&value, depth + 1, serializers).map_err(|e| e.at(Segment::Key(key.clone())))?;
            map.insert(key, converted);
        }
        return Ok(Value::Object(map));
    }
    Err(ConvertError::type_error(format!("unsupported type '{}'", type_name(object))))
}

fn dict_of(dict: &Bound<'_, PyDict>, depth: usize, serializers: &Serializers) -> ConvertResult<Value> {
    let mut map = Map::new();
    for (key, value) in dict.iter() {
        let key = key_of(&key)?;
        let converted = convert(&value, depth + 1, serializers).map_err(|e| e.at(Segment::Key(key.clone())))?;
        map.insert(key, converted);
    }
    Ok(Value::Object(map))
}

fn key_of(key: &Bound<'_, PyAny>) -> ConvertResult<String> {
    match key.cast::<PyString>() {
        Ok(text) => text.to_str().map(str::to_owned).map_err(|e| ConvertError::value_error(e.to_string())),
        Err(_) => Err(ConvertError::type_error(format!(
            "dict keys must be str, not '{}' (key {})",
            type_name(key),
            repr(key)
        ))),
    }
}

fn string_of(object: &Bound<'_, PyAny>) -> ConvertResult<Value> {
    let text = object
        .cast::<PyString>()
        .map_err(|_| ConvertError::type_error(format!("expected str, got {:?}", type_name(object))))?;
    text.to_str().map(|s| Value::String(s.to_owned())).map_err(|e| ConvertError::value_error(e.to_string()))
}

fn int_of(object: &Bound<'_, PyAny>) -> ConvertResult<Value> {
    if let Ok(value) = object.extract::<i64>() {
        return Ok(Value::from(value));
    }
    if let Ok(value) = object.extract::<u64>() {
        return Ok(Value::from(value));
    }
    Err(ConvertError::value_error(format!("integer {} does not fit in 64 bits (send it as a string)", repr(object))))
}

fn float_of(object: &Bound<'_, PyAny>) -> ConvertResult<Value> {
    let value: f64 = object.extract().map_err(|e: PyErr| ConvertError::type_error(e.to_string()))?;
    Number::from_f64(value).map(Value::Number).ok_or_else(|| {
        ConvertError::value_error(format!("float {} is not valid JSON (NaN and infinities are refused)", repr(object)))
    })
}

fn type_name(object: &Bound<'_, PyAny>) -> String {
    object.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "?".to_owned())
}

fn repr(object: &Bound<'_, PyAny>) -> String {
    object.repr().map(|r| r.to_string()).unwrap_or_else(|_| "?".to_owned())
}

struct KnownTypes {
    enum_type: Py<PyType>,
    date: Py<PyType>,
    time: Py<PyType>,
    uuid: Py<PyType>,
    decimal: Py<PyType>,
    mapping: Py<PyType>,
    dataclass_fields: Py<PyAny>,
}

static KNOWN_TYPES: PyOnceLock<KnownTypes> = PyOnceLock::new();

fn known_types(py: Python<'_>) -> PyResult<&KnownTypes> {
    KNOWN_TYPES.get_or_try_init(py, || {
        let class = |module: &str, name: &str| -> PyResult<Py<PyType>> {
            Ok(py.import(module)?.getattr(name)?.cast_into::<PyType>()?.unbind())
        };
        Ok(KnownTypes {
            enum_type: class("enum", "Enum")?,
            date: class("datetime", "date")?,
            time: class("datetime", "time")?,
            uuid: class("uuid", "UUID")?,
            decimal: class("decimal", "Decimal")?,
            mapping: class("collections.abc", "Mapping")?,
            dataclass_fields: py.import("dataclasses")?.getattr("fields")?.unbind(),
        })
    })
}

/// Converts a JSON value to the corresponding Python object (dicts, lists, str, int, float, bool, None).
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(boolean) => boolean.into_bound_py_any(py)?,
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                int.into_bound_py_any(py)?
            } else if let Some(int) = number.as_u64() {
                int.into_bound_py_any(py)?
            } else {
                number.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)?
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => object_to_python(py, map)?.into_any(),
    })
}

pub fn object_to_python<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, item) in map {
        dict.set_item(key, to_python(py, item)?)?;
    }
    Ok(dict)
}
