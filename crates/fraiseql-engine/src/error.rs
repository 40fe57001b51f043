//! The engine's one error type. The Python binding converts it to exceptions in one place.

use std::fmt;

use serde_json::{json, Map, Value};

/// A line/column position in a GraphQL document (both 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// One element of a GraphQL error `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Field(String),
    Index(usize),
}

/// A GraphQL formatted error, as sent to clients.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphQLError {
    pub message: String,
    pub locations: Vec<Location>,
    pub path: Vec<PathSegment>,
    pub extensions: Map<String, Value>,
}

impl GraphQLError {
    pub fn new(message: impl Into<String>) -> Self {
        Self { message: message.into(), locations: Vec::new(), path: Vec::new(), extensions: Map::new() }
    }

    pub fn with_code(mut self, code: &str) -> Self {
        self.extensions.insert("code".to_owned(), Value::String(code.to_owned()));
        self
    }

    pub fn with_path(mut self, path: Vec<PathSegment>) -> Self {
        self.path = path;
        self
    }

    /// The error in the JSON shape of the GraphQL specification (empty parts left out).
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("message".to_owned(), Value::String(self.message.clone()));
        if !self.locations.is_empty() {
            let locations = self
                .locations
                .iter()
                .map(|location| json!({"line": location.line, "column": location.column}))
                .collect();
            object.insert("locations".to_owned(), Value::Array(locations));
        }
        if !self.path.is_empty() {
            let path = self
                .path
                .iter()
                .map(|segment| match segment {
                    PathSegment::Field(name) => Value::String(name.clone()),
                    PathSegment::Index(index) => json!(index),
                })
                .collect();
            object.insert("path".to_owned(), Value::Array(path));
        }
        if !self.extensions.is_empty() {
            object.insert("extensions".to_owned(), Value::Object(self.extensions.clone()));
        }
        Value::Object(object)
    }
}

impl fmt::Display for GraphQLError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(location) = self.locations.first() {
            write!(f, " (line {}, column {})", location.line, location.column)?;
        }
        Ok(())
    }
}

/// Everything the engine can refuse.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineError {
    /// The document does not parse, fails validation, or names an unknown operation.
    Document(Vec<GraphQLError>),
    DuplicateSubscription {
        connection_id: String,
        subscription_id: String,
    },
    SubscriptionNotFound {
        subscription_id: String,
        connection_id: Option<String>,
    },
    /// The same subscription id is active on several connections and no connection was named.
    AmbiguousSubscription {
        subscription_id: String,
        connections: usize,
    },
    ConnectionNotFound {
        connection_id: String,
    },
    ConnectionClosed {
        connection_id: String,
    },
    /// A published event carries a scope field of the wrong type.
    InvalidEvent(String),
    Config(String),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Document(errors) => {
                let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
                write!(f, "invalid GraphQL document: {}", messages.join("; "))
            }
            EngineError::DuplicateSubscription { connection_id, subscription_id } => {
                write!(f, "subscription id {subscription_id:?} is already active on connection {connection_id:?}")
            }
            EngineError::SubscriptionNotFound { subscription_id, connection_id: Some(connection_id) } => {
                write!(f, "no active subscription {subscription_id:?} on connection {connection_id:?}")
            }
            EngineError::SubscriptionNotFound { subscription_id, connection_id: None } => {
                write!(f, "no active subscription {subscription_id:?}")
            }
            EngineError::AmbiguousSubscription { subscription_id, connections } => write!(
                f,
                "subscription id {subscription_id:?} is active on {connections} connections: pass connection_id"
            ),
            EngineError::ConnectionNotFound { connection_id } => write!(f, "no open connection {connection_id:?}"),
            EngineError::ConnectionClosed { connection_id } => write!(f, "connection {connection_id:?} is closed"),
            EngineError::InvalidEvent(message) => write!(f, "invalid event: {message}"),
            EngineError::Config(message) => write!(f, "invalid configuration: {message}"),
        }
    }
}

impl std::error::Error for EngineError {}

pub type EngineResult<T> = Result<T, EngineError>;
