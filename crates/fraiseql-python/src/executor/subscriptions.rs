//! What `register_subscription` is given: the row-level filter with its inputs, and which
//! subscription a call names.

use std::sync::Arc;

use fraiseql_engine::{Filter, FilterInputs, SubscriptionRef};
use pyo3::prelude::*;

use super::PySubscriptionExecutor;
use crate::convert;
use crate::errors::{configuration_error, new_error};
use crate::filter::CompiledFilter;

impl PySubscriptionExecutor {
    pub(super) fn sub<'a>(subscription_id: &'a str, connection_id: Option<&'a str>) -> SubscriptionRef<'a> {
        SubscriptionRef { subscription_id, connection_id }
    }
}

/// The subscription's filter with its inputs (`filter_inputs`: `{"context": ..., "args": ...}`),
/// only with a filter; `ConfigurationError` otherwise or for an unknown key.
pub(super) fn subscription_filter(
    py: Python<'_>,
    filter: Option<PyRef<'_, CompiledFilter>>,
    filter_inputs: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<(Arc<Filter>, Arc<FilterInputs>)>> {
    let filter_inputs = filter_inputs.filter(|inputs| !inputs.is_none());
    let filter = match (filter, filter_inputs) {
        (None, None) => None,
        (None, Some(_)) => {
            let message = "filter_inputs is given without a filter: it would do nothing";
            return Err(new_error(configuration_error(py), message.to_owned()));
        }
        (Some(filter), inputs) => {
            let (context, arguments) = match inputs {
                None => (serde_json::Value::Null, serde_json::Value::Null),
                Some(inputs) => {
                    let mut inputs = convert::to_json_object(inputs, "filter_inputs")?;
                    let taken = (inputs.remove("context"), inputs.remove("args"));
                    if let Some(unknown) = inputs.keys().next() {
                        let message = format!("filter_inputs takes \"context\" and \"args\", not \"{unknown}\"");
                        return Err(new_error(configuration_error(py), message));
                    }
                    (taken.0.unwrap_or_default(), taken.1.unwrap_or_default())
                }
            };
            Some((filter.filter.clone(), Arc::new(fraiseql_engine::filter::inputs(context, arguments))))
        }
    };
    Ok(filter)
}
