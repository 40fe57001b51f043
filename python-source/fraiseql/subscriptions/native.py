"""The native transport's Python side: ``SubscriptionManager.serve()`` runs a WebSocket server in
Rust (``fraiseql-transport``) and this module answers what stays Python's, on the application's
loop: ``on_connect`` once per connection, registering each ``subscribe``, and the bookkeeping at
the close (connections per user, counters, log records). Frames never pass through Python.

The Rust side leaves its calls in an inbox and wakes the loop through a socket the loop watches
(``loop.add_reader``); :meth:`NativeServer._on_wakeup` takes them, and each call is answered
through its own object (``ConnectCall.accept``/``refuse``/``close``/``fail``,
``SubscribeCall.accept``/``reject``), which hands the answer to the waiting connection task.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from fraiseql._fraiseql_rs.subscriptions import ConnectCall, NativeEndpoint, SubscribeCall
from fraiseql.subscriptions._logging import EveryInterval, log, log_bounded
from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.errors import GraphQLDocumentError, SubscriptionForbidden
from fraiseql.subscriptions.manager import ConnectionContext, ConnectionRejected
from fraiseql.subscriptions.stats import ServerStats

if TYPE_CHECKING:
    from fraiseql.subscriptions.manager import SubscriptionManager

# Records a client can cause at will are logged once per kind and interval.
_client_mistakes = EveryInterval()

_FORBIDDEN = 4403
_TOO_MANY = 4429
_EXPIRED_REASON = "Forbidden: credentials expired"
_TOO_MANY_FOR_USER = "Too many connections for this user"
#: What a close by the server says about which limit a client reached (as the Python handler
#: counts them in ``ServerStats.limits_reached``).
_LIMIT_OF_CLOSE = {
    (1009, None): "message_size",
    (_TOO_MANY, "Too many messages"): "messages_per_second",
    (_TOO_MANY, "Too many subscribe attempts"): "subscribes_per_second",
    (_TOO_MANY, _TOO_MANY_FOR_USER): "connections_per_user",
}
#: The native server's counters of TCP connections it dropped, by the reason the Python
#: integrations' ``ConnectionGuard`` gives (``ServerStats.connections_dropped``).
_DROPPED = {
    "refused_per_address": "refused",
    "evicted": "evicted",
    "handshake_timeouts": "handshake_timeout",
    "write_timeouts": "write_timeout",
}
_INTERNAL_ERROR = [{"message": "Internal server error", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]


def _is_async(hook: object) -> bool:
    """Whether ``on_connect`` is ``async def`` (a function, or an object with an async
    ``__call__``). The Python handler decides a plain hook before it reads the next message, so
    a ``subscribe`` right behind ``connection_init`` is accepted; the native server then pauses
    reading until the decision, as the Python handler does. An async hook runs beside the
    reader, as in the reference server (a ``subscribe`` before its decision closes 4401)."""
    return inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(type(hook).__call__)


def _request_info(request: tuple[Any, ...]) -> RequestInfo:
    path, query, headers, client, subprotocols = request
    return RequestInfo(
        path=path,
        # Repeated names: the first value, as with a header.
        headers=dict(reversed(headers)),
        query_params=dict(reversed(urllib.parse.parse_qsl(query or "", keep_blank_values=True))),
        client=client,
        subprotocols=tuple(subprotocols),
    )


class NativeConnection:
    """One connection of the native server, as the manager sees it (a ``ServedConnection``)."""

    def __init__(self, server: NativeServer, connection_id: str) -> None:
        self.server = server
        self.connection_id = connection_id
        self.context: ConnectionContext | None = None
        #: The user this connection is counted against (``max_connections_per_user``).
        self.counted_user: object = None
        self.closed = False
        #: The client's address (host), for log records; known from ``connection_init`` on.
        self.client: str | None = None
        #: ``on_connect`` and subscribe tasks still running; cancelled when the connection goes.
        self.tasks: set[asyncio.Future[Any]] = set()

    async def shutdown(self) -> None:
        """Close with 1001: closing it in the engine makes its task send "Going away"."""
        if not self.closed:
            self.server.manager.executor.close_connection(self.connection_id)

    def spawn(self, awaitable: Any) -> None:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def release(self) -> None:
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        if self.counted_user is not None:
            self.server.manager.release_user(self.counted_user)
            self.counted_user = None

    def log_fields(self) -> dict[str, object]:
        return {"connection_id": self.connection_id, "client": self.client}


class NativeServer:
    """A running native server (made by :meth:`start`); the manager stops it at shutdown."""

    def __init__(self, manager: SubscriptionManager, endpoint: NativeEndpoint) -> None:
        self.manager = manager
        self.endpoint = endpoint
        self._loop = asyncio.get_running_loop()
        self._connections: dict[str, NativeConnection] = {}
        self._stopped: asyncio.Future[None] = self._loop.create_future()
        #: The server's own counters already added to ``manager.stats``.
        self._counted: dict[str, int] = {}

    @classmethod
    async def start(
        cls, manager: SubscriptionManager, host: str = "127.0.0.1", port: int = 8001, path: str = "/graphql"
    ) -> NativeServer:
        """Listen on ``host:port`` (0: a free port, see :attr:`address`) and serve at once."""
        config = manager.config
        endpoint = NativeEndpoint.bind(
            manager.executor,
            host,
            port,
            path=path,
            max_message_size=config.max_message_size,
            handshake_timeout=config.handshake_timeout,
            write_timeout=config.write_timeout,
            max_connections=config.max_connections,
            max_connections_per_address=config.max_connections_per_address,
            max_pending_connections=config.max_pending_connections,
            connection_init_timeout=config.connection_init_timeout,
            keepalive_interval=config.keepalive_interval,
            keepalive_timeout=config.keepalive_timeout,
            max_subscriptions_per_connection=config.max_subscriptions_per_connection,
            max_messages_per_second=config.max_messages_per_second,
            max_subscribes_per_second=config.max_subscribes_per_second,
            read_while_connecting=config.on_connect is not None and _is_async(config.on_connect),
        )
        server = cls(manager, endpoint)
        server._loop.add_reader(endpoint.wakeup_fd, server._on_wakeup)
        manager.server_started(server)
        log(logging.INFO, "server.started", "native server on ws://%s:%d%s", *endpoint.address, path)
        return server

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` served."""
        return self.endpoint.address

    async def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (or ``manager.shutdown()``); if cancelled, close every
        connection with 1001 first, then let the cancellation through."""
        try:
            await asyncio.shield(self._stopped)
        except asyncio.CancelledError:
            await self.shutdown()
            raise

    async def shutdown(self) -> None:
        """Stop accepting, close every connection with 1001, and return once all are gone."""
        self.endpoint.stop()
        await asyncio.shield(self._stopped)

    def update_stats(self, stats: ServerStats) -> None:
        """Add what the server counted in Rust since the last call (frames sent, connections
        refused over ``max_connections``, connections dropped at the TCP level) to the manager's
        counters."""
        counters = self.endpoint.stats()

        def new(name: str) -> int:
            added = max(0, counters[name] - self._counted.get(name, 0))
            self._counted[name] = self._counted.get(name, 0) + added
            return added

        stats.frames_sent += new("frames_sent")
        refused = new("refused_max_connections")
        if refused:
            stats.limits_reached["connections"] += refused
        for name, reason in _DROPPED.items():
            dropped = new(name)
            if dropped:
                stats.connections_dropped[reason] += dropped

    # -- what the server asks ---------------------------------------------------------------

    def _on_wakeup(self) -> None:
        opened, calls, closed, stopped = self.endpoint.take()
        for connection_id in opened:
            connection = NativeConnection(self, connection_id)
            self._connections[connection_id] = connection
            self.manager.connection_opened(connection)
        for call in calls:
            if isinstance(call, ConnectCall):
                self._connect(call)
            else:
                self._subscribe(call)
        for connection_id, close in closed:
            self._closed(connection_id, close)
        if stopped:
            self.update_stats(self.manager.stats)
            self._loop.remove_reader(self.endpoint.wakeup_fd)
            self.manager.server_stopped(self)
            if not self._stopped.done():
                self._stopped.set_result(None)

    def _closed(self, connection_id: str, close: tuple[int, str] | None) -> None:
        connection = self._connections.pop(connection_id, None)
        if connection is None:
            return
        connection.release()
        self.manager.connection_closed(connection)
        if close is None:
            return
        code, reason = close
        stats = self.manager.stats
        stats.closed_by_server[code] += 1
        if code == _FORBIDDEN:
            stats.authentication_failures["expired" if reason == _EXPIRED_REASON else "refused"] += 1
        limit = _LIMIT_OF_CLOSE.get((code, reason)) or _LIMIT_OF_CLOSE.get((code, None))
        if limit is not None:
            stats.limits_reached[limit] += 1
        event = "connection.refused" if code == _FORBIDDEN else "connection.closed"
        log_bounded(
            _client_mistakes,
            f"{event}:{code}",
            logging.ERROR if code == 4500 else logging.INFO,
            event,
            "closing connection %s: %d %s",
            connection_id,
            code,
            reason,
            code=code,
            reason=reason,
            **connection.log_fields(),
        )

    # -- connection_init ----------------------------------------------------------------------

    def _connect(self, call: ConnectCall) -> None:
        connection = self._connections.get(call.connection_id)
        if connection is None or connection.closed:
            call.fail()
            return
        request = _request_info(call.request)
        connection.client = request.client[0] if request.client else None
        hook = self.manager.config.on_connect
        if hook is None:
            self._accept(call, connection, ConnectionContext())
            return
        try:
            result = hook(call.payload, request)
        except Exception as error:
            self._refuse(call, connection, error)
            return
        if inspect.isawaitable(result):
            # Cancelled (the call then reads as failed) if the connection goes meanwhile.
            connection.spawn(self._await_on_connect(call, connection, result))
        else:
            self._decide(call, connection, result)

    async def _await_on_connect(self, call: ConnectCall, connection: NativeConnection, pending: Any) -> None:
        try:
            result = await pending
        except Exception as error:
            self._refuse(call, connection, error)
            return
        self._decide(call, connection, result)

    def _refuse(self, call: ConnectCall, connection: NativeConnection, error: Exception) -> None:
        if isinstance(error, ConnectionRejected):
            # The hook's own words (the JWT authenticator's never hold the token).
            call.refuse(str(error) or None)
            return
        log_bounded(
            _client_mistakes,
            "connection.on_connect_failed",
            logging.ERROR,
            "connection.on_connect_failed",
            "on_connect failed on connection %s",
            connection.connection_id,
            exc_info=error,
            **connection.log_fields(),
        )
        call.fail()

    def _decide(self, call: ConnectCall, connection: NativeConnection, result: object) -> None:
        if result is False:
            call.refuse()
            return
        try:
            context = ConnectionContext.from_hook_result(result)
        except TypeError as error:
            self._refuse(call, connection, error)
            return
        self._accept(call, connection, context)

    def _accept(self, call: ConnectCall, connection: NativeConnection, context: ConnectionContext) -> None:
        if connection.closed:
            call.fail()
            return
        expires_in = None
        if context.expires_at is not None:
            expires_in = context.expires_at - time.time()
            if expires_in <= 0:
                call.close(_FORBIDDEN, _EXPIRED_REASON)
                return
        user = context.user_id
        if user is not None:
            if not self.manager.admit_user(user):
                call.close(_TOO_MANY, _TOO_MANY_FOR_USER)
                return
            # Released when the connection's close arrives, whether or not the ack went out.
            connection.counted_user = user
        connection.context = context
        try:
            delivered = call.accept(context.ack_payload, expires_in)
        except (TypeError, ValueError, RecursionError):
            log_bounded(
                _client_mistakes,
                "connection.unencodable_message",
                logging.ERROR,
                "connection.internal_error",
                "the ack_payload for connection %s cannot be encoded as JSON",
                connection.connection_id,
                exc_info=True,
                **connection.log_fields(),
            )
            call.fail()
            return
        if delivered:
            self.manager.stats.connections_acknowledged += 1
            log(
                logging.INFO,
                "connection.accepted",
                "connection %s accepted",
                connection.connection_id,
                user_id=context.user_id,
                tenant_id=context.tenant_id,
                **connection.log_fields(),
            )

    # -- subscribe ----------------------------------------------------------------------------

    def _subscribe(self, call: SubscribeCall) -> None:
        connection = self._connections.get(call.connection_id)
        if connection is None or connection.closed or connection.context is None:
            call.reject(_INTERNAL_ERROR)
            return
        connection.spawn(self._register(call, connection, connection.context))

    async def _register(
        self, call: SubscribeCall, connection: NativeConnection, context: ConnectionContext
    ) -> None:
        try:
            await self.manager.subscribe_async(
                call.connection_id, call.id, call.query, call.operation_name, call.variables, context
            )
        except (GraphQLDocumentError, SubscriptionForbidden) as error:
            self._refused(call, connection, error.errors, str(error))
            call.reject(error.errors)
            return
        except Exception:
            log_bounded(
                _client_mistakes,
                "connection.internal_error",
                logging.ERROR,
                "connection.internal_error",
                "internal error on connection %s",
                connection.connection_id,
                exc_info=True,
                **connection.log_fields(),
            )
            call.reject(_INTERNAL_ERROR)
            return
        call.accept()

    def _refused(
        self, call: SubscribeCall, connection: NativeConnection, errors: list[Any], detail: str
    ) -> None:
        first = errors[0] if errors else {}
        code = str((first.get("extensions") or {}).get("code") or "GRAPHQL_VALIDATION_FAILED")
        self.manager.stats.subscriptions_refused[code] += 1
        log_bounded(
            _client_mistakes,
            f"subscription.refused:{code}",
            logging.INFO,
            "subscription.refused",
            "subscription %r on connection %s refused: %s (%s)",
            call.id,
            connection.connection_id,
            code,
            detail,
            code=code,
            subscription_id=call.id,
            **connection.log_fields(),
        )


async def serve(
    manager: SubscriptionManager, host: str = "127.0.0.1", port: int = 8001, path: str = "/graphql"
) -> None:
    """What ``SubscriptionManager.serve`` runs."""
    server = await NativeServer.start(manager, host, port, path)
    await server.serve_forever()
