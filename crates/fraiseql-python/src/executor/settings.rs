//! The executor's settings: the constructor's arguments, checked (`ConfigurationError` naming
//! the argument), turned into the engine's configuration, the resolver settings, the
//! serializers, the wake-up socket and the bus.

use std::io::Write;
use std::sync::Arc;

use fraiseql_engine::{
    DocumentLimits, Engine, EngineConfig, OverflowPolicy, ResolverErrorPolicy, SchemaModel, ScopeFields,
};
use parking_lot::Mutex;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use super::wakeup::Wakeup;
use super::PySubscriptionExecutor;
use crate::bus::BusLink;
use crate::bus_config::{BusConfig, PyEventBusConfig};
use crate::errors::{attached, configuration_error, detached, new_error};
use crate::resolvers::{ResolverSettings, SyncResolvers};

/// The constructor's keyword arguments, as Python gave them (see `PySubscriptionExecutor.__new__`).
pub(super) struct ExecutorOptions<'a, 'py> {
    pub(super) max_queued_frames: i64,
    pub(super) overflow: &'a str,
    pub(super) resolver_timeout: Option<f64>,
    pub(super) tenant_field: Option<String>,
    pub(super) user_field: Option<String>,
    pub(super) document_cache_size: i64,
    pub(super) document_cache_bytes: i64,
    pub(super) schema_sdl: Option<&'a str>,
    pub(super) max_document_size: i64,
    pub(super) max_depth: i64,
    pub(super) max_selections: i64,
    pub(super) max_aliases: i64,
    pub(super) serializers: Option<&'a Bound<'py, PyDict>>,
    pub(super) resolver_errors: &'a str,
    pub(super) expose_resolver_errors: bool,
    pub(super) sync_resolvers: &'a str,
    pub(super) sync_resolver_threads: i64,
    pub(super) slow_resolver_threshold: Option<f64>,
    pub(super) max_frames_per_second: Option<f64>,
}

impl PySubscriptionExecutor {
    /// Checks the settings and builds the executor (its engine, and its bus unless in memory).
    pub(super) fn from_options(
        py: Python<'_>,
        bus_config: Option<Py<PyEventBusConfig>>,
        options: ExecutorOptions<'_, '_>,
    ) -> PyResult<Self> {
        let ExecutorOptions {
            max_queued_frames,
            overflow,
            resolver_timeout,
            tenant_field,
            user_field,
            document_cache_size,
            document_cache_bytes,
            schema_sdl,
            max_document_size,
            max_depth,
            max_selections,
            max_aliases,
            serializers,
            resolver_errors,
            expose_resolver_errors,
            sync_resolvers,
            sync_resolver_threads,
            slow_resolver_threshold,
            max_frames_per_second,
        } = options;
        let config_error = |message: String| new_error(configuration_error(py), message);
        let overflow = OverflowPolicy::parse(overflow).ok_or_else(|| {
            config_error(format!("overflow must be \"drop_oldest\" or \"drop_newest\", not {overflow:?}"))
        })?;
        if max_queued_frames < 1 {
            return Err(config_error(format!("max_queued_frames must be at least 1, not {max_queued_frames}")));
        }
        let at_least_one = |name: &str, value: i64| -> PyResult<usize> {
            usize::try_from(value)
                .ok()
                .filter(|value| *value >= 1)
                .ok_or_else(|| config_error(format!("{name} must be at least 1, not {value}")))
        };
        at_least_one("document_cache_size", document_cache_size)?;
        let document_cache_bytes = at_least_one("document_cache_bytes", document_cache_bytes)?;
        let document_limits = DocumentLimits {
            max_size: at_least_one("max_document_size", max_document_size)?,
            max_depth: at_least_one("max_depth", max_depth)?,
            max_selections: at_least_one("max_selections", max_selections)?,
            max_aliases: usize::try_from(max_aliases)
                .map_err(|_| config_error(format!("max_aliases must be 0 or more, not {max_aliases}")))?,
        };
        for (name, seconds) in [
            ("resolver_timeout", resolver_timeout),
            ("slow_resolver_threshold", slow_resolver_threshold),
            ("max_frames_per_second", max_frames_per_second),
        ] {
            if let Some(seconds) = seconds {
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err(config_error(format!(
                        "{name} must be a positive number of seconds or None, not {seconds}"
                    )));
                }
            }
        }
        let resolver_errors = ResolverErrorPolicy::parse(resolver_errors).ok_or_else(|| {
            config_error(format!("resolver_errors must be \"field_error\" or \"end_stream\", not {resolver_errors:?}"))
        })?;
        let resolver_settings = ResolverSettings {
            timeout: resolver_timeout,
            sync_resolvers: SyncResolvers::parse(sync_resolvers).ok_or_else(|| {
                config_error(format!("sync_resolvers must be \"thread\" or \"inline\", not {sync_resolvers:?}"))
            })?,
            threads: at_least_one("sync_resolver_threads", sync_resolver_threads)?,
            slow_after: slow_resolver_threshold,
            expose_errors: expose_resolver_errors,
        };
        let schema = match schema_sdl {
            Some(sdl) => Some(attached(py, || SchemaModel::parse(sdl))?),
            None => None,
        };
        let engine = Engine::new(EngineConfig {
            max_queued_frames: max_queued_frames as usize,
            overflow,
            document_cache_size: document_cache_size as usize,
            document_cache_bytes,
            scope_fields: ScopeFields { tenant_field, user_field },
            schema,
            document_limits,
            resolver_errors,
            max_frames_per_second,
        });
        let mut custom_serializers = Vec::new();
        if let Some(serializers) = serializers {
            for (type_, serializer) in serializers.iter() {
                let type_ = type_
                    .cast_into::<PyType>()
                    .map_err(|_| config_error("serializers must map types to callables".to_owned()))?;
                if !serializer.is_callable() {
                    return Err(config_error(format!("the serializer for {} is not callable", type_.name()?)));
                }
                custom_serializers.push((type_.unbind(), serializer.unbind()));
            }
        }
        let wakeup = Wakeup::new()
            .map_err(|error| PyRuntimeError::new_err(format!("cannot create the wake-up socket: {error}")))?;
        let writer = wakeup.writer.clone();
        // Never blocks: a full socket already holds a pending wake-up.
        let wake: fraiseql_engine::engine::ReadyNotifier = Arc::new(move || {
            let _ = (&*writer).write(&[1]);
        });
        engine.set_ready_notifier(Some(wake.clone()));
        let bus_config = match bus_config {
            Some(config) => config,
            None => Py::new(py, PyEventBusConfig { config: BusConfig::Memory })?,
        };
        let bus = match &bus_config.get().config {
            BusConfig::Memory => None,
            BusConfig::Distributed { config, options } => {
                let (config, options, engine) = (config.clone(), *options, engine.clone());
                Some(detached(py, move || BusLink::start(config, options, engine, wake))?)
            }
        };
        Ok(Self {
            engine,
            bus_config,
            resolver_settings,
            resolvers: Mutex::default(),
            sync_runner: PyOnceLock::new(),
            wakeup,
            waiters: Mutex::default(),
            reader_loop: Mutex::new(None),
            attached_loop: Mutex::new(None),
            serializers: custom_serializers,
            bus,
            publish_waiters: Mutex::default(),
        })
    }
}
