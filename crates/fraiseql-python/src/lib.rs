//! The `fraiseql._fraiseql_rs` extension module: a thin PyO3 layer over `fraiseql-engine`.
//!
//! Its classes live in the submodule `fraiseql._fraiseql_rs.subscriptions`.

mod bus;
mod bus_config;
mod convert;
mod errors;
mod executor;
mod filter;
mod messages;
mod native;
mod protocol_session;
mod protocol_values;
mod resolvers;

use pyo3::prelude::*;

#[pymodule]
fn _fraiseql_rs(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let subscriptions = PyModule::new(py, "subscriptions")?;
    subscriptions.add_class::<messages::PySubscriptionPayload>()?;
    subscriptions.add_class::<messages::PyGraphQLMessage>()?;
    subscriptions.add_class::<bus_config::PyEventBusConfig>()?;
    subscriptions.add_class::<executor::PySubscriptionExecutor>()?;
    subscriptions.add_class::<resolvers::PendingResolution>()?;
    subscriptions.add_class::<filter::CompiledFilter>()?;
    subscriptions.add_class::<native::NativeEndpoint>()?;
    subscriptions.add_class::<native::ConnectCall>()?;
    subscriptions.add_class::<native::SubscribeCall>()?;
    subscriptions.add_class::<protocol_session::ProtocolSession>()?;
    subscriptions.add_class::<protocol_session::SessionSend>()?;
    subscriptions.add_class::<protocol_session::SessionClose>()?;
    subscriptions.add_class::<protocol_session::SessionAuthenticate>()?;
    subscriptions.add_class::<protocol_session::SessionSubscribe>()?;
    subscriptions.add_class::<protocol_session::SessionComplete>()?;
    subscriptions.add_class::<protocol_session::SessionReport>()?;
    subscriptions.add_class::<protocol_session::SessionTimer>()?;
    module.add_submodule(&subscriptions)?;
    // The seeds also reach the bus configuration from the top-level module.
    module.add("PyEventBusConfig", subscriptions.getattr("PyEventBusConfig")?)?;
    // Make `import fraiseql._fraiseql_rs.subscriptions` work like a regular submodule.
    py.import("sys")?.getattr("modules")?.set_item("fraiseql._fraiseql_rs.subscriptions", &subscriptions)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
