//! Which event bus an executor uses, validated when it is built.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BusConfig {
    Memory,
    Redis { url: String, consumer_group: String },
    PostgreSql { connection_string: String },
}

/// The configuration of an event bus: in-memory (default), Redis or PostgreSQL.
#[pyclass(module = "fraiseql._fraiseql_rs.subscriptions", name = "PyEventBusConfig", frozen)]
pub struct PyEventBusConfig {
    pub config: BusConfig,
}

/// The part after `scheme://` must name a host (`user:pass@host:port/...`).
fn has_host(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    !host.is_empty() && !host.starts_with(':') && !host.chars().any(char::is_whitespace)
}

/// The URL with any password replaced by `***`, for reprs and logs.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            let hidden = if credentials.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{scheme}://{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

#[pymethods]
impl PyEventBusConfig {
    /// The embedded in-memory bus (one process).
    #[staticmethod]
    fn memory() -> Self {
        Self { config: BusConfig::Memory }
    }

    /// A Redis bus; `url` must be `redis://` or `rediss://` with a host.
    #[staticmethod]
    fn redis(url: String, consumer_group: String) -> PyResult<Self> {
        let rest = url.strip_prefix("redis://").or_else(|| url.strip_prefix("rediss://"));
        if !rest.is_some_and(has_host) {
            return Err(PyValueError::new_err(format!(
                "invalid Redis URL {:?}: expected redis://host[:port][/db] or rediss://...",
                redact(&url)
            )));
        }
        if consumer_group.trim().is_empty() {
            return Err(PyValueError::new_err("the Redis consumer group must not be empty"));
        }
        Ok(Self { config: BusConfig::Redis { url, consumer_group } })
    }

    /// A PostgreSQL (LISTEN/NOTIFY) bus; `connection_string` must be `postgresql://` or `postgres://`.
    #[staticmethod]
    fn postgresql(connection_string: String) -> PyResult<Self> {
        let rest =
            connection_string.strip_prefix("postgresql://").or_else(|| connection_string.strip_prefix("postgres://"));
        if !rest.is_some_and(has_host) {
            return Err(PyValueError::new_err(format!(
                "invalid PostgreSQL connection string {:?}: expected postgresql://[user[:password]@]host[:port]/database",
                redact(&connection_string)
            )));
        }
        Ok(Self { config: BusConfig::PostgreSql { connection_string } })
    }

    /// `"memory"`, `"redis"` or `"postgresql"`.
    #[getter]
    fn bus_type(&self) -> &'static str {
        match self.config {
            BusConfig::Memory => "memory",
            BusConfig::Redis { .. } => "redis",
            BusConfig::PostgreSql { .. } => "postgresql",
        }
    }

    /// The Redis URL or PostgreSQL connection string (`None` for the memory bus).
    #[getter]
    fn url(&self) -> Option<String> {
        match &self.config {
            BusConfig::Memory => None,
            BusConfig::Redis { url, .. } => Some(url.clone()),
            BusConfig::PostgreSql { connection_string } => Some(connection_string.clone()),
        }
    }

    /// The Redis consumer group (`None` for other buses).
    #[getter]
    fn consumer_group(&self) -> Option<String> {
        match &self.config {
            BusConfig::Redis { consumer_group, .. } => Some(consumer_group.clone()),
            _ => None,
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<Self>().is_ok_and(|other| other.get().config == self.config)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        format!("{:?}", self.config).hash(&mut hasher);
        hasher.finish()
    }

    fn __repr__(&self) -> String {
        match &self.config {
            BusConfig::Memory => "PyEventBusConfig.memory()".to_owned(),
            BusConfig::Redis { url, consumer_group } => {
                format!("PyEventBusConfig.redis({:?}, {consumer_group:?})", redact(url))
            }
            BusConfig::PostgreSql { connection_string } => {
                format!("PyEventBusConfig.postgresql({:?})", redact(connection_string))
            }
        }
    }
}
