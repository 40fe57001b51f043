"""Every exception FraiseQL Subscriptions raises, under one base class.

The Rust engine raises these classes directly (they are looked up once, on first use), so
``except SubscriptionError`` catches every refusal of the engine, and each class also derives
from the built-in exception a Python developer would expect (``ValueError`` for bad input,
``KeyError`` for unknown ids).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AmbiguousSubscriptionError",
    "BusClosedError",
    "BusConnectionError",
    "BusError",
    "ConfigurationError",
    "ConnectionClosedError",
    "ConnectionNotFoundError",
    "DuplicateSubscriptionError",
    "GraphQLDocumentError",
    "InternalEngineError",
    "InvalidEventError",
    "PublishTimeoutError",
    "SubscriptionError",
    "SubscriptionForbidden",
    "SubscriptionNotFoundError",
]


class SubscriptionError(Exception):
    """Base class of every error raised by FraiseQL Subscriptions."""


class _MessageKeyError(KeyError):
    # KeyError's str() shows the repr of its argument; ours carry sentences.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class GraphQLDocumentError(SubscriptionError, ValueError):
    """The document does not parse, fails validation, or names an unknown operation.

    ``errors`` holds the GraphQL formatted errors (``message``, ``locations``, ...), ready to be
    sent as the payload of a graphql-transport-ws ``error`` message.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors: list[dict[str, Any]] = errors if errors is not None else [{"message": message}]


class SubscriptionForbidden(SubscriptionError, PermissionError):
    """The connection's context lacks a scope or a role the field requires.

    The client gets ``errors`` (``Forbidden``, ``extensions.code = "FORBIDDEN"``); which scopes
    and roles were missing is in the exception (and the log), not sent.
    """

    def __init__(self, field: str, missing_scopes: list[str], missing_roles: list[str]) -> None:
        needs = [f"scope(s) {', '.join(missing_scopes)}"] if missing_scopes else []
        needs += [f"role(s) {', '.join(missing_roles)}"] if missing_roles else []
        super().__init__(f'subscribing to "{field}" needs the {" and the ".join(needs)}')
        self.field = field
        self.missing_scopes = missing_scopes
        self.missing_roles = missing_roles
        self.errors: list[dict[str, Any]] = [{"message": "Forbidden", "extensions": {"code": "FORBIDDEN"}}]


class DuplicateSubscriptionError(SubscriptionError, ValueError):
    """A subscription with this id is already active on this connection."""


class SubscriptionNotFoundError(SubscriptionError, _MessageKeyError):
    """No active subscription has this id (on this connection)."""


class AmbiguousSubscriptionError(SubscriptionError, LookupError):
    """The subscription id is active on several connections: name the connection."""


class ConnectionNotFoundError(SubscriptionError, _MessageKeyError):
    """No open connection has this id."""


class ConnectionClosedError(SubscriptionError):
    """The connection was closed while a writer waited for its frames."""


class InvalidEventError(SubscriptionError, ValueError):
    """A published event cannot be delivered as given (for example a malformed tenant field)."""


class ConfigurationError(SubscriptionError, ValueError):
    """An executor or bus setting is invalid."""


class BusError(SubscriptionError):
    """The event bus (Redis or PostgreSQL) failed: the base of the bus errors."""


class BusConnectionError(BusError, ConnectionError):
    """The bus could not be reached at start-up: a bad URL, a refused connection, bad
    credentials or a timeout (the message says which, without the password)."""


class PublishTimeoutError(BusError, TimeoutError):
    """The bus did not store the event within ``publish_timeout`` (it was unreachable or
    overloaded). The event may still have been stored: publishing it again may deliver it twice."""


class BusClosedError(BusError):
    """The bus was shut down (``executor.shutdown()`` or ``manager.shutdown()``)."""


class InternalEngineError(SubscriptionError):
    """The engine failed unexpectedly (a bug): the call was abandoned, the process goes on."""
