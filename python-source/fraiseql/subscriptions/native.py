"""The native transport's Python side: ``SubscriptionManager.serve()`` runs a WebSocket server in
Rust (``fraiseql-transport``) and this module answers what stays Python's, on the application's
loop: ``on_connect`` once per connection, registering each ``subscribe``, and the bookkeeping at
the close (connections per user, counters, log records). Frames never pass through Python.

What the application decides, counts and logs is ``protocols/graphql_transport_ws/host.py``'s,
shared with the Python adapters' handler (both drive the same protocol core). The Rust side
leaves its calls in an inbox and wakes the loop through a socket the loop watches
(``loop.add_reader``); :meth:`NativeServer._on_wakeup` takes them, and each call is answered
through its own object (``ConnectCall.accept``/``refuse``/``close``/``fail``,
``SubscribeCall.accept``/``reject``), which hands the answer to the waiting connection task.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import urllib.parse
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from fraiseql._fraiseql_rs.subscriptions import ConnectCall, NativeEndpoint, SubscribeCall
from fraiseql.subscriptions._logging import log
from fraiseql.subscriptions.adapter import RequestInfo
from fraiseql.subscriptions.protocols.graphql_transport_ws.host import (
    INTERNAL_ERROR,
    Accepted,
    Closed,
    ConnectAnswer,
    ConnectionHost,
    Refused,
    count_report,
)
from fraiseql.subscriptions.stats import ServerStats

if TYPE_CHECKING:
    from fraiseql.subscriptions.manager import SubscriptionManager

#: The native server's counters of TCP connections it dropped, by the reason the Python
#: integrations' ``ConnectionGuard`` gives (``ServerStats.connections_dropped``).
_DROPPED = {
    "refused_per_address": "refused",
    "evicted": "evicted",
    "handshake_timeouts": "handshake_timeout",
    "write_timeouts": "write_timeout",
}


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
        self.host = ConnectionHost(server.manager, connection_id)
        self.closed = False
        #: ``on_connect`` and subscribe tasks still running; cancelled when the connection goes.
        self.tasks: set[asyncio.Future[Any]] = set()

    async def shutdown(self) -> None:
        """Close with 1001: closing it in the engine makes its task send "Going away"."""
        if not self.closed:
            self.server.manager.executor.close_connection(self.connection_id)

    def spawn(self, awaitable: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(awaitable)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def release(self) -> None:
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        self.host.release()


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
        opened, calls, reports, unlisted_reports, closed, stopped = self.endpoint.take()
        for connection_id in opened:
            connection = NativeConnection(self, connection_id)
            self._connections[connection_id] = connection
            self.manager.connection_opened(connection)
        for call in calls:
            if isinstance(call, ConnectCall):
                self._connect(call)
            else:
                self._subscribe(call)
        for connection_id, cause, subscription_id in reports:
            known = self._connections.get(connection_id)
            if known is not None:
                known.host.report(cause, subscription_id)
            else:
                # Opened and gone before the loop saw it.
                count_report(self.manager.stats, cause)
        for cause, count in unlisted_reports:
            count_report(self.manager.stats, cause, count)
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
        if close is not None:
            connection.host.closed_by_server(*close)

    # -- connection_init ----------------------------------------------------------------------

    def _connect(self, call: ConnectCall) -> None:
        connection = self._connections.get(call.connection_id)
        if connection is None or connection.closed:
            call.fail()
            return
        answer = connection.host.on_connect(call.payload, _request_info(call.request))
        if isinstance(answer, asyncio.Future):
            # Cancelled (the call then reads as failed) if the connection goes meanwhile.
            connection.spawn(self._await_connect(call, connection, answer))
        else:
            self._answer_connect(call, connection, answer)

    async def _await_connect(
        self, call: ConnectCall, connection: NativeConnection, answer: asyncio.Future[ConnectAnswer]
    ) -> None:
        self._answer_connect(call, connection, await answer)

    def _answer_connect(self, call: ConnectCall, connection: NativeConnection, answer: ConnectAnswer) -> None:
        if isinstance(answer, Accepted):
            try:
                delivered = call.accept(answer.context.ack_payload, answer.expires_in)
            except (TypeError, ValueError, RecursionError):
                connection.host.unencodable_ack_payload()
                call.fail()
                return
            # No time left: the session closes 4403 (and reports the expiry) instead of the ack.
            if delivered and (answer.expires_in is None or answer.expires_in > 0):
                connection.host.acknowledged()
        elif isinstance(answer, Refused):
            call.refuse(answer.reason)
        elif isinstance(answer, Closed):
            call.close(answer.code, answer.reason)
        else:
            call.fail()

    # -- subscribe ----------------------------------------------------------------------------

    def _subscribe(self, call: SubscribeCall) -> None:
        connection = self._connections.get(call.connection_id)
        if connection is None or connection.closed or connection.host.context is None:
            call.reject(INTERNAL_ERROR)
            return
        connection.spawn(self._register(call, connection))

    async def _register(self, call: SubscribeCall, connection: NativeConnection) -> None:
        host = connection.host
        try:
            errors = await host.subscribe(call.id, call.query, call.operation_name, call.variables)
        except Exception:
            # The Python handler closes 4500 here; the native server's host cannot close, so the
            # subscribe gets an `error` and the connection goes on (docs/native-transport.md).
            host.internal_error()
            call.reject(INTERNAL_ERROR)
            return
        if errors is None:
            call.accept()
        else:
            call.reject(errors)


async def serve(
    manager: SubscriptionManager, host: str = "127.0.0.1", port: int = 8001, path: str = "/graphql"
) -> None:
    """What ``SubscriptionManager.serve`` runs."""
    server = await NativeServer.start(manager, host, port, path)
    await server.serve_forever()
