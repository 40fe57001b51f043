"""GraphQL subscriptions: the engine's Python API.

``PySubscriptionExecutor`` is the engine (registry, dispatch, shaping, frame queues);
``PyEventBusConfig`` chooses the event bus; the exceptions live in
:mod:`fraiseql.subscriptions.errors`.
"""

from fraiseql._fraiseql_rs.subscriptions import (
    PyEventBusConfig,
    PyGraphQLMessage,
    PySubscriptionExecutor,
    PySubscriptionPayload,
)
from fraiseql.subscriptions.errors import (
    AmbiguousSubscriptionError,
    ConfigurationError,
    ConnectionClosedError,
    ConnectionNotFoundError,
    DuplicateSubscriptionError,
    GraphQLDocumentError,
    InternalEngineError,
    InvalidEventError,
    SubscriptionError,
    SubscriptionNotFoundError,
)

__all__ = [
    "AmbiguousSubscriptionError",
    "ConfigurationError",
    "ConnectionClosedError",
    "ConnectionNotFoundError",
    "DuplicateSubscriptionError",
    "GraphQLDocumentError",
    "InternalEngineError",
    "InvalidEventError",
    "PyEventBusConfig",
    "PyGraphQLMessage",
    "PySubscriptionExecutor",
    "PySubscriptionPayload",
    "SubscriptionError",
    "SubscriptionNotFoundError",
]
