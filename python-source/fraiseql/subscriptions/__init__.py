"""GraphQL subscriptions with a Rust engine.

Everyday names: :class:`SubscriptionManager` (fields, publishing, connections),
:class:`SubscriptionConfig` (its settings), :class:`ConnectionContext` (who is on a connection)
and :func:`subscription` (declare a field); :mod:`fraiseql.subscriptions.filters` (row-level
filters), :mod:`fraiseql.subscriptions.jwt_auth` (a JWT ``on_connect`` hook) and :data:`SKIP`
(what a resolver returns to send nothing for an event). The engine itself is ``PySubscriptionExecutor``;
``PyEventBusConfig`` chooses the event bus; the exceptions live in
:mod:`fraiseql.subscriptions.errors`.
"""

from fraiseql._fraiseql_rs.subscriptions import (
    PyEventBusConfig,
    PyGraphQLMessage,
    PySubscriptionExecutor,
    PySubscriptionPayload,
)
from fraiseql.subscriptions._resolvers import SKIP
from fraiseql.subscriptions.errors import (
    AmbiguousSubscriptionError,
    BusClosedError,
    BusConnectionError,
    BusError,
    ConfigurationError,
    ConnectionClosedError,
    ConnectionNotFoundError,
    DuplicateSubscriptionError,
    GraphQLDocumentError,
    InternalEngineError,
    InvalidEventError,
    PublishTimeoutError,
    SubscriptionError,
    SubscriptionForbidden,
    SubscriptionNotFoundError,
)
from fraiseql.subscriptions.fields import SubscriptionField, subscription
from fraiseql.subscriptions.manager import (
    ConnectionContext,
    ConnectionRejected,
    SubscriptionConfig,
    SubscriptionManager,
)

__all__ = [
    "SKIP",
    "AmbiguousSubscriptionError",
    "BusClosedError",
    "BusConnectionError",
    "BusError",
    "ConfigurationError",
    "ConnectionClosedError",
    "ConnectionContext",
    "ConnectionNotFoundError",
    "ConnectionRejected",
    "DuplicateSubscriptionError",
    "GraphQLDocumentError",
    "InternalEngineError",
    "InvalidEventError",
    "PublishTimeoutError",
    "PyEventBusConfig",
    "PyGraphQLMessage",
    "PySubscriptionExecutor",
    "PySubscriptionPayload",
    "SubscriptionConfig",
    "SubscriptionError",
    "SubscriptionField",
    "SubscriptionForbidden",
    "SubscriptionManager",
    "SubscriptionNotFoundError",
    "subscription",
]
