"""What a graphql-transport-ws connection asks of the application, for every transport.

The protocol itself is one state machine in Rust (``fraiseql-transport``'s ``Session``): the
Python adapters' handler (``handlers.py``) drives it through ``ProtocolSession``, the native
server (``fraiseql.subscriptions.native``) drives its own. Both hand this module what stays the
application's: the ``on_connect`` decision (sync or async hook, ``ConnectionContext``, the
per-user admission, the credentials' lifetime), registering a ``subscribe`` with the manager,
and the counters (``manager.stats``) and log records of everything the connection goes through,
from the session's actions and reports — so both transports count and log alike.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fraiseql.subscriptions._logging import EveryInterval, log, log_bounded
from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.errors import GraphQLDocumentError, SubscriptionForbidden
from fraiseql.subscriptions.manager import ConnectionContext, ConnectionRejected
from fraiseql.subscriptions.protocols.graphql_transport_ws.types import CloseCode

if TYPE_CHECKING:
    from fraiseql.subscriptions.manager import SubscriptionManager
    from fraiseql.subscriptions.stats import ServerStats

# Records a client can cause at will (refusals, protocol errors, refused subscribes) are logged
# once per kind and interval, with a count of the ones held back.
_client_mistakes = EveryInterval()

#: The ``error`` payload of a subscribe the server failed to register.
INTERNAL_ERROR: list[dict[str, Any]] = [
    {"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}
]

_TOO_MANY_FOR_USER = "Too many connections for this user"
_SUBSCRIPTION_LIMIT = "subscriptions_per_connection"
_TOO_MANY_SUBSCRIPTIONS = "TOO_MANY_SUBSCRIPTIONS"
_CREDENTIALS_EXPIRED = "credentials_expired"


@dataclass(frozen=True)
class Accepted:
    """Send ``connection_ack`` (with the context's ``ack_payload``); the credentials expire in
    ``expires_in`` seconds (``None``: never; none left: at once)."""

    context: ConnectionContext
    expires_in: float | None


@dataclass(frozen=True)
class Refused:
    """Close 4403 "Forbidden" or "Forbidden: <reason>"."""

    reason: str | None


@dataclass(frozen=True)
class Closed:
    """Close with the host's own code and reason."""

    code: int
    reason: str


@dataclass(frozen=True)
class Failed:
    """The host failed (logged already): close 4500."""


ConnectAnswer = Accepted | Refused | Closed | Failed


def count_report(stats: ServerStats, cause: str, count: int = 1) -> None:
    """Counts what a session report stands for (``SessionReport.cause``): a limit reached, or
    credentials expired."""
    if cause == _CREDENTIALS_EXPIRED:
        stats.authentication_failures["expired"] += count
        return
    stats.limits_reached[cause] += count
    if cause == _SUBSCRIPTION_LIMIT:
        stats.subscriptions_refused[_TOO_MANY_SUBSCRIPTIONS] += count


def _error_code(errors: list[Any]) -> str:
    first = errors[0] if errors else {}
    return str((first.get("extensions") or {}).get("code") or "GRAPHQL_VALIDATION_FAILED")


class ConnectionHost:
    """The application's side of one connection."""

    def __init__(self, manager: SubscriptionManager, connection_id: str) -> None:
        self.manager = manager
        self.connection_id = connection_id
        #: The client's address (host), for log records.
        self.client: str | None = None
        #: What ``on_connect`` decided, once accepted.
        self.context: ConnectionContext | None = None
        #: The user this connection is counted against (``max_connections_per_user``).
        self._counted_user: object = None
        #: An async ``on_connect`` still running (cancelled when the connection goes).
        self._pending_hook: asyncio.Future[Any] | None = None
        self._pending_answer: asyncio.Future[ConnectAnswer] | None = None
        self.released = False

    def log_fields(self) -> dict[str, object]:
        return {"connection_id": self.connection_id, "client": self.client}

    def release(self) -> None:
        """The connection is gone: abandon a pending ``on_connect``, uncount its user."""
        self.released = True
        for pending in (self._pending_hook, self._pending_answer):
            if pending is not None:
                pending.cancel()
        if self._counted_user is not None:
            self.manager.release_user(self._counted_user)
            self._counted_user = None

    # -- connection_init ----------------------------------------------------------------------

    def on_connect(
        self, payload: dict[str, Any] | None, request: RequestInfo
    ) -> ConnectAnswer | asyncio.Future[ConnectAnswer]:
        """The answer to ``connection_init``: at once for a plain (or no) hook, a task to await
        for an async one (already running; :meth:`release` cancels it if the connection goes)."""
        self.client = request.client[0] if request.client else None
        hook = self.manager.config.on_connect
        if hook is None:
            return self._admit(ConnectionContext())
        try:
            result = hook(payload, request)
        except Exception as error:
            return self._refusal(error)
        if inspect.isawaitable(result):
            # Tasks, both the hook and the decision after it, so that a connection closed before
            # they ran cancels them and never leaves a coroutine unawaited.
            self._pending_hook = asyncio.ensure_future(result)
            self._pending_answer = asyncio.ensure_future(self._await_hook(self._pending_hook))
            return self._pending_answer
        return self._decide(result)

    async def _await_hook(self, pending: Awaitable[object]) -> ConnectAnswer:
        try:
            result = await pending
        except Exception as error:
            return self._refusal(error)
        finally:
            self._pending_hook = self._pending_answer = None
        return self._decide(result)

    def _refusal(self, error: Exception) -> ConnectAnswer:
        if isinstance(error, ConnectionRejected):
            # The hook's own words (the JWT authenticator's never hold the token).
            self.manager.stats.authentication_failures["refused"] += 1
            return Refused(str(error) or None)
        log_bounded(
            _client_mistakes,
            "connection.on_connect_failed",
            logging.ERROR,
            "connection.on_connect_failed",
            "on_connect failed on connection %s",
            self.connection_id,
            exc_info=error,
            **self.log_fields(),
        )
        return Failed()

    def _decide(self, result: object) -> ConnectAnswer:
        if result is False:
            self.manager.stats.authentication_failures["refused"] += 1
            return Refused(None)
        try:
            context = ConnectionContext.from_hook_result(result)
        except TypeError as error:
            return self._refusal(error)
        return self._admit(context)

    def _admit(self, context: ConnectionContext) -> ConnectAnswer:
        if self.released:
            return Failed()
        user = context.user_id
        if user is not None:
            if not self.manager.admit_user(user):
                self.manager.stats.limits_reached["connections_per_user"] += 1
                return Closed(CloseCode.TOO_MANY_INITIALISATION_REQUESTS, _TOO_MANY_FOR_USER)
            # Released with the connection, whether or not the ack goes out.
            self._counted_user = user
        self.context = context
        expires_in = None if context.expires_at is None else context.expires_at - time.time()
        return Accepted(context, expires_in)

    def acknowledged(self) -> None:
        """``connection_ack`` went out."""
        self.manager.stats.connections_acknowledged += 1
        context = self.context
        log(
            logging.INFO,
            "connection.accepted",
            "connection %s accepted",
            self.connection_id,
            user_id=context.user_id if context else None,
            tenant_id=context.tenant_id if context else None,
            **self.log_fields(),
        )

    def unencodable_ack_payload(self) -> None:
        """The context's ``ack_payload`` is no JSON (logged; the connection closes 4500)."""
        log_bounded(
            _client_mistakes,
            "connection.unencodable_message",
            logging.ERROR,
            "connection.internal_error",
            "the ack_payload for connection %s cannot be encoded as JSON",
            self.connection_id,
            exc_info=True,
            **self.log_fields(),
        )

    # -- subscribe ----------------------------------------------------------------------------

    async def subscribe(
        self, subscription_id: str, query: str, operation_name: str | None, variables: dict[str, Any] | None
    ) -> list[Any] | None:
        """Registers a subscription: ``None``, or the GraphQL errors of its ``error`` message
        (counted and logged). Anything else raised is a server failure (:meth:`internal_error`)."""
        context = self.context
        if context is None:
            raise RuntimeError(f"subscribe on connection {self.connection_id} before its acknowledgement")
        try:
            await self.manager.subscribe_async(
                self.connection_id, subscription_id, query, operation_name, variables, context
            )
        except (GraphQLDocumentError, SubscriptionForbidden) as error:
            code = _error_code(error.errors)
            self.manager.stats.subscriptions_refused[code] += 1
            self._log_refused(subscription_id, code, logging.INFO, "subscription.refused", f" ({error})")
            return error.errors
        return None

    def _log_refused(self, subscription_id: object, code: str, level: int, event: str, detail: str) -> None:
        log_bounded(
            _client_mistakes,
            f"subscription.refused:{code}",
            level,
            event,
            "subscription %r on connection %s refused: %s%s",
            subscription_id,
            self.connection_id,
            code,
            detail,
            code=code,
            subscription_id=subscription_id,
            **self.log_fields(),
        )

    def internal_error(self) -> None:
        """Logs the exception being handled: an unexpected failure on this connection."""
        log_bounded(
            _client_mistakes,
            "connection.internal_error",
            logging.ERROR,
            "connection.internal_error",
            "internal error on connection %s",
            self.connection_id,
            exc_info=True,
            **self.log_fields(),
        )

    # -- what the session reports -------------------------------------------------------------

    def report(self, cause: str, subscription_id: object) -> None:
        """A session report (``SessionReport``): counted, and a subscribe over the limit logged."""
        count_report(self.manager.stats, cause)
        if cause == _SUBSCRIPTION_LIMIT:
            self._log_refused(subscription_id, _TOO_MANY_SUBSCRIPTIONS, logging.WARNING, "limit.reached", "")

    def closed_by_server(self, code: int, reason: str) -> None:
        """The session closed the connection (its ``SessionClose``)."""
        self.manager.stats.closed_by_server[code] += 1
        event = "connection.refused" if code == CloseCode.FORBIDDEN else "connection.closed"
        level = logging.ERROR if code == CloseCode.INTERNAL_SERVER_ERROR else logging.INFO
        log_bounded(
            _client_mistakes,
            f"{event}:{code}",
            level,
            event,
            "closing connection %s: %d %s",
            self.connection_id,
            code,
            reason,
            code=code,
            reason=reason,
            **self.log_fields(),
        )
