//! Which event bus an executor uses, validated when it is built.

use std::path::PathBuf;
use std::time::Duration;

use fraiseql_bus::{BusConfig as Distributed, BusOptions, PostgresConfig, RedisConfig};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::{configuration_error, new_error};

#[derive(Clone, Debug, PartialEq)]
pub enum BusConfig {
    Memory,
    Distributed { config: Distributed, options: BusOptions },
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
pub fn redact(url: &str) -> String {
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

fn seconds(py: Python<'_>, name: &str, value: f64) -> PyResult<Duration> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(new_error(configuration_error(py), format!("{name} must be a positive number of seconds, not {value}")))
    }
}

fn options(py: Python<'_>, connect_timeout: f64, publish_timeout: f64) -> PyResult<BusOptions> {
    Ok(BusOptions {
        connect_timeout: seconds(py, "connect_timeout", connect_timeout)?,
        publish_timeout: seconds(py, "publish_timeout", publish_timeout)?,
        ..BusOptions::default()
    })
}

impl PyEventBusConfig {
    fn postgres(&self) -> PyResult<&PostgresConfig> {
        match &self.config {
            BusConfig::Distributed { config: Distributed::Postgres(postgres), .. } => Ok(postgres),
            _ => Err(PyValueError::new_err("only a PostgreSQL bus has an events table")),
        }
    }

    fn options(&self) -> Option<&BusOptions> {
        match &self.config {
            BusConfig::Distributed { options, .. } => Some(options),
            BusConfig::Memory => None,
        }
    }
}

#[pymethods]
impl PyEventBusConfig {
    /// The embedded in-memory bus (one process).
    #[staticmethod]
    fn memory() -> Self {
        Self { config: BusConfig::Memory }
    }

    /// A Redis bus; `url` must be `redis://` or `rediss://` with a host. Processes with the same
    /// URL and `consumer_group` share events (the stream `fraiseql:<consumer_group>:events`).
    #[staticmethod]
    #[pyo3(signature = (url, consumer_group, *, max_len=100_000, tls_ca_file=None, connect_timeout=5.0, publish_timeout=5.0))]
    fn redis(
        py: Python<'_>,
        url: String,
        consumer_group: String,
        max_len: i64,
        tls_ca_file: Option<PathBuf>,
        connect_timeout: f64,
        publish_timeout: f64,
    ) -> PyResult<Self> {
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
        let max_len = u64::try_from(max_len)
            .ok()
            .filter(|max_len| *max_len >= 1)
            .ok_or_else(|| new_error(configuration_error(py), format!("max_len must be at least 1, not {max_len}")))?;
        let config = Distributed::Redis(RedisConfig { url, group: consumer_group, max_len, tls_ca_file });
        Ok(Self { config: BusConfig::Distributed { config, options: options(py, connect_timeout, publish_timeout)? } })
    }

    /// A PostgreSQL bus; `connection_string` must be `postgresql://` or `postgres://`. Events go
    /// through `table` (created on first use) and are kept `retention` seconds.
    #[staticmethod]
    #[pyo3(
        signature = (connection_string, *, table="fraiseql_events".to_owned(), retention=3600.0, connect_timeout=5.0, publish_timeout=5.0),
        text_signature = "(connection_string, *, table='fraiseql_events', retention=3600.0, connect_timeout=5.0, publish_timeout=5.0)"
    )]
    fn postgresql(
        py: Python<'_>,
        connection_string: String,
        table: String,
        retention: f64,
        connect_timeout: f64,
        publish_timeout: f64,
    ) -> PyResult<Self> {
        let rest =
            connection_string.strip_prefix("postgresql://").or_else(|| connection_string.strip_prefix("postgres://"));
        if !rest.is_some_and(has_host) {
            return Err(PyValueError::new_err(format!(
                "invalid PostgreSQL connection string {:?}: expected postgresql://[user[:password]@]host[:port]/database",
                redact(&connection_string)
            )));
        }
        // The table name is checked here, not at connection time.
        fraiseql_bus::events_table_sql(&table)
            .map_err(|error| new_error(configuration_error(py), error.to_string()))?;
        let postgres =
            PostgresConfig { dsn: connection_string, table, retention: seconds(py, "retention", retention)? };
        Ok(Self {
            config: BusConfig::Distributed {
                config: Distributed::Postgres(postgres),
                options: options(py, connect_timeout, publish_timeout)?,
            },
        })
    }

    /// `"memory"`, `"redis"` or `"postgresql"`.
    #[getter]
    fn bus_type(&self) -> &'static str {
        match &self.config {
            BusConfig::Memory => "memory",
            BusConfig::Distributed { config: Distributed::Redis(_), .. } => "redis",
            BusConfig::Distributed { config: Distributed::Postgres(_), .. } => "postgresql",
        }
    }

    /// The Redis URL or PostgreSQL connection string (`None` for the memory bus).
    #[getter]
    fn url(&self) -> Option<String> {
        match &self.config {
            BusConfig::Memory => None,
            BusConfig::Distributed { config: Distributed::Redis(redis), .. } => Some(redis.url.clone()),
            BusConfig::Distributed { config: Distributed::Postgres(postgres), .. } => Some(postgres.dsn.clone()),
        }
    }

    /// The Redis consumer group (`None` for other buses).
    #[getter]
    fn consumer_group(&self) -> Option<String> {
        match &self.config {
            BusConfig::Distributed { config: Distributed::Redis(redis), .. } => Some(redis.group.clone()),
            _ => None,
        }
    }

    /// The Redis stream's approximate bound (`None` for other buses).
    #[getter]
    fn max_len(&self) -> Option<u64> {
        match &self.config {
            BusConfig::Distributed { config: Distributed::Redis(redis), .. } => Some(redis.max_len),
            _ => None,
        }
    }

    /// The PostgreSQL events table (`None` for other buses).
    #[getter]
    fn table(&self) -> Option<String> {
        self.postgres().ok().map(|postgres| postgres.table.clone())
    }

    /// Seconds PostgreSQL keeps events (`None` for other buses).
    #[getter]
    fn retention(&self) -> Option<f64> {
        self.postgres().ok().map(|postgres| postgres.retention.as_secs_f64())
    }

    /// Seconds start-up may take to connect (`None` for the memory bus).
    #[getter]
    fn connect_timeout(&self) -> Option<f64> {
        self.options().map(|options| options.connect_timeout.as_secs_f64())
    }

    /// Seconds a publish may wait for the bus to store its event (`None` for the memory bus).
    #[getter]
    fn publish_timeout(&self) -> Option<f64> {
        self.options().map(|options| options.publish_timeout.as_secs_f64())
    }

    /// The SQL that creates the events table, its indexes, its notification trigger and the
    /// change-trigger function (what the bus runs on first use), for a migration of your own.
    fn events_table_sql(&self) -> PyResult<String> {
        fraiseql_bus::events_table_sql(&self.postgres()?.table)
            .map_err(|error| PyValueError::new_err(error.to_string()))
    }

    /// The SQL that publishes `table`'s writes as events on `channel` (`{column}` stands for that
    /// column of the row), as `install_change_trigger` runs it.
    #[pyo3(
        signature = (table, channel, operations=vec!["INSERT".to_owned(), "UPDATE".to_owned(), "DELETE".to_owned()]),
        text_signature = "($self, table, channel, operations=('INSERT', 'UPDATE', 'DELETE'))"
    )]
    fn change_trigger_sql(&self, table: &str, channel: &str, operations: Vec<String>) -> PyResult<String> {
        let operations: Vec<&str> = operations.iter().map(String::as_str).collect();
        fraiseql_bus::change_trigger_sql(&self.postgres()?.table, table, channel, &operations)
            .map_err(|error| PyValueError::new_err(error.to_string()))
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
            BusConfig::Distributed { config: Distributed::Redis(redis), .. } => {
                format!("PyEventBusConfig.redis({:?}, {:?})", redact(&redis.url), redis.group)
            }
            BusConfig::Distributed { config: Distributed::Postgres(postgres), .. } => {
                format!("PyEventBusConfig.postgresql({:?}, table={:?})", redact(&postgres.dsn), postgres.table)
            }
        }
    }
}
