"""Servers under test (FastAPI, Starlette, plain ``websockets``, the native server of
``manager.serve()``) and a small protocol client.

Every integration serves the same :class:`SubscriptionManager` fields:

* ``messageAdded(room: String!)`` on channel ``room:{room}`` (no resolver: the event's data);
* ``counter`` on channel ``counter`` (no resolver);
* ``notification`` on channel ``notification`` (no resolver; for tenant/user visibility);
* ``failing`` on channel ``failing``: a sync resolver that raises when the event has ``fail``;
* ``asyncCounter`` on channel ``asyncCounter``: an ``async def`` resolver adding ``doubled``;
* ``auditLog`` on channel ``audit``: requires the scope ``audit:read`` and the role ``auditor``;
* ``myOrders`` on channel ``orders``: a row-level filter, only events whose ``owner`` is the
  connection's user.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import uvicorn
from fastapi import FastAPI
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fraiseql.integrations.connection_guard import ConnectionGuard
from fraiseql.integrations.custom_server_example import start_server
from fraiseql.integrations.fastapi import SubscriptionRouterFactory
from fraiseql.integrations.starlette import create_subscription_app
from fraiseql.integrations.uvicorn_server import SubscriptionServer, bounded_config
from fraiseql.subscriptions.filters import context, event
from fraiseql.subscriptions.manager import SubscriptionConfig, SubscriptionManager
from fraiseql.subscriptions.metrics import metrics_registry
from fraiseql.subscriptions.native import NativeServer

Integration = Literal["fastapi", "starlette", "websockets", "native"]
INTEGRATIONS: tuple[Integration, ...] = ("fastapi", "starlette", "websockets", "native")
PROTOCOL = "graphql-transport-ws"
PATH = "/graphql"
#: Upper bound for anything the server should do "soon" (never an assertion on speed).
TIMEOUT = 5.0

COUNTER = "subscription { counter { n } }"
ASYNC_COUNTER = "subscription { asyncCounter { n doubled } }"
FAILING = "subscription { failing { n } }"
NOTIFICATION = "subscription { notification { text } }"
AUDIT_LOG = "subscription { auditLog { action } }"
MY_ORDERS = "subscription { myOrders { id } }"
MESSAGE_ADDED = "subscription Room($room: String!) { messageAdded(room: $room) { id text } }"


class ResolverExploded(RuntimeError):
    """What the ``failing`` field's resolver raises."""


def build_manager(config: SubscriptionConfig | None = None) -> SubscriptionManager:
    """A manager with the fields every test server declares."""
    manager = SubscriptionManager(config)
    manager.add_field("messageAdded", channel="room:{room}")
    manager.add_field("counter")
    manager.add_field("notification")

    @manager.subscription(channel="failing")
    def failing(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        if event.get("fail"):
            raise ResolverExploded("resolver exploded")
        return event

    @manager.subscription
    async def asyncCounter(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"n": event["n"], "doubled": event["n"] * 2}

    manager.add_field("auditLog", channel="audit", requires_scopes=["audit:read"], requires_roles=["auditor"])
    manager.add_field("myOrders", channel="orders", filter=event("owner") == context("user_id"))
    return manager


# -- the client ---------------------------------------------------------------------------------


class Client:
    """A graphql-transport-ws client speaking raw messages over a ``websockets`` connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @property
    def subprotocol(self) -> str | None:
        return self.ws.subprotocol

    async def send_json(self, message: object) -> None:
        await self.ws.send(json.dumps(message))

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send(data)

    async def receive_json(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next message (a JSON object sent as a text frame)."""
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(data, str), f"expected a text frame, got {data!r}"
        message = json.loads(data)
        assert isinstance(message, dict), f"expected a JSON object, got {data!r}"
        return message

    async def expect_close(self, code: int, reason: str | None = None, timeout: float = TIMEOUT) -> str:
        """Read until the server closes; check the code (and the reason); return the reason."""
        received: list[object] = []

        async def read_all() -> None:
            while True:
                received.append(await self.ws.recv())

        closed: ConnectionClosed | None = None
        try:
            await asyncio.wait_for(read_all(), timeout)
        except ConnectionClosed as error:
            closed = error
        except asyncio.TimeoutError:
            raise AssertionError(
                f"expected close {code} within {timeout} s; the socket stayed open, received {received}"
            ) from None
        assert closed is not None
        assert closed.rcvd is not None, f"no close frame received ({closed}); got {received}"
        code_reason = (closed.rcvd.code, closed.rcvd.reason)
        assert code_reason[0] == code, f"expected close {code}, got {code_reason}; messages {received}"
        if reason is not None:
            assert code_reason[1] == reason
        assert len(code_reason[1].encode()) <= 123
        return code_reason[1]

    async def expect_open(self) -> None:
        """The socket is open and the server still reads it: a ping gets its pong (and the pong
        is the next message: nothing else was sent before it)."""
        await self.send_json({"type": "ping", "payload": {"probe": True}})
        assert await self.receive_json() == {"type": "pong", "payload": {"probe": True}}

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """``connection_init`` then the ``connection_ack`` (returned)."""
        await self.send_json(
            {"type": "connection_init"}
            if payload is None
            else {"type": "connection_init", "payload": payload}
        )
        ack = await self.receive_json()
        assert ack["type"] == "connection_ack", ack
        return ack

    async def subscribe(
        self,
        subscription_id: str,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
    ) -> None:
        payload: dict[str, Any] = {"query": query}
        if variables is not None:
            payload["variables"] = variables
        if operation_name is not None:
            payload["operationName"] = operation_name
        await self.send_json({"id": subscription_id, "type": "subscribe", "payload": payload})

    async def complete(self, subscription_id: str) -> None:
        await self.send_json({"id": subscription_id, "type": "complete"})

    async def close(self) -> None:
        await self.ws.close()

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake."""
        self.ws.transport.abort()


# -- the servers --------------------------------------------------------------------------------


class TransportGuard(Protocol):
    """The counters the hardening tests read, whichever side enforces the limits."""

    @property
    def counts(self) -> Mapping[str, int]: ...
    @property
    def open_connections(self) -> int: ...
    @property
    def pending_connections(self) -> int: ...


@dataclass(frozen=True)
class NativeGuardView:
    """The native server's counters (``NativeEndpoint.stats()``) named as the Python guard's."""

    stats: Mapping[str, int]

    @property
    def counts(self) -> Mapping[str, int]:
        return {
            "refused": self.stats["refused_per_address"],
            "evicted": self.stats["evicted"],
            "handshake_timeout": self.stats["handshake_timeouts"],
            "write_timeout": self.stats["write_timeouts"],
        }

    @property
    def open_connections(self) -> int:
        return self.stats["tcp_connections"]

    @property
    def pending_connections(self) -> int:
        return self.stats["pending_connections"]


@dataclass
class RunningServer:
    """A server under test: its URL, its manager and the clients connected through it."""

    integration: Integration
    url: str
    manager: SubscriptionManager
    #: Stop the server (uvicorn: ``should_exit``; websockets: ``Server.close()``; native: cancel
    #: the task running ``serve_forever()``).
    stop: Callable[[], None]
    #: What bounds the server's TCP connections (``fraiseql.integrations.connection_guard``);
    #: ``None`` for the native server, which bounds them in Rust (see :attr:`native`).
    python_guard: ConnectionGuard | None
    #: The native server (``None`` for the Python integrations).
    native: NativeServer | None = None
    clients: list[Client] = field(default_factory=list)

    @property
    def guard(self) -> TransportGuard:
        """What bounds the TCP connections: the Python ``ConnectionGuard``, or the native server's
        own counters under the same names."""
        if self.native is not None:
            return NativeGuardView(self.native.endpoint.stats())
        assert self.python_guard is not None
        return self.python_guard

    async def connect(
        self, subprotocols: Sequence[str] | None = (PROTOCOL,), *, path: str = PATH, **options: Any
    ) -> Client:
        """Open a client socket (closed at teardown if the test leaves it open)."""
        url = self.url.replace(PATH, path) if path != PATH else self.url
        ws = await connect(
            url,
            subprotocols=[Subprotocol(name) for name in subprotocols] if subprotocols is not None else None,
            ping_interval=None,
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            **options,
        )
        client = Client(ws)
        self.clients.append(client)
        return client

    async def close_clients(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()
        self.clients.clear()

    async def publish(self, channel: str, data: object, **options: Any) -> None:
        await self.manager.publish(channel, data, **options)

    def metrics(self) -> dict[str, Any]:
        return self.manager.executor.get_metrics()


class _FastExitMixin(uvicorn.Server):
    """uvicorn checks ``should_exit`` every 0.1 s; tests stop hundreds of servers, so check often."""

    async def main_loop(self) -> None:
        while not self.should_exit:  # noqa: ASYNC110 - uvicorn's flag is a plain attribute
            await asyncio.sleep(0.01)


class _TestServer(_FastExitMixin, uvicorn.Server):
    pass


class _TestSubscriptionServer(_FastExitMixin, SubscriptionServer):
    pass


def _bound_socket() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio turns Nagle's algorithm off only on sockets that say they are
    # TCP, and with it on the first frames of a connection wait ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _asgi_app(integration: Integration, manager: SubscriptionManager) -> Any:
    if integration == "fastapi":
        app = FastAPI()
        app.include_router(SubscriptionRouterFactory.create(manager, path=PATH))
        return app
    return create_subscription_app(Starlette(), manager, path=PATH)


@contextlib.asynccontextmanager
async def _uvicorn(
    integration: Integration, manager: SubscriptionManager, subscription_server: bool
) -> AsyncIterator[tuple[int, Callable[[], None], ConnectionGuard]]:
    sock = _bound_socket()
    port = sock.getsockname()[1]
    # What serve() runs: uvicorn with the manager's transport limits.
    config = bounded_config(
        _asgi_app(integration, manager), manager, log_level="warning", log_config=None, lifespan="off"
    )
    server = _TestSubscriptionServer(config, manager) if subscription_server else _TestServer(config)
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + TIMEOUT
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped during startup")
            assert time.monotonic() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.01)

        def stop() -> None:
            server.should_exit = True

        yield port, stop, config.connection_guard  # type: ignore[attr-defined]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, TIMEOUT * 2)
        sock.close()


@contextlib.asynccontextmanager
async def _websockets(
    manager: SubscriptionManager,
) -> AsyncIterator[tuple[int, Callable[[], None], ConnectionGuard]]:
    server = await start_server(manager, "127.0.0.1", 0, PATH)
    port = next(iter(server.sockets)).getsockname()[1]
    try:
        yield port, server.close, server.connection_guard  # type: ignore[attr-defined]
    finally:
        server.close()
        await asyncio.wait_for(server.wait_closed(), TIMEOUT * 2)


@contextlib.asynccontextmanager
async def _native(
    manager: SubscriptionManager,
) -> AsyncIterator[tuple[int, Callable[[], None], NativeServer]]:
    # What manager.serve() runs, split so the test knows the port before it serves.
    server = await NativeServer.start(manager, "127.0.0.1", 0, PATH)
    task = asyncio.ensure_future(server.serve_forever())

    def stop() -> None:
        task.cancel()

    try:
        yield server.address[1], stop, server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, TIMEOUT * 2)


@contextlib.asynccontextmanager
async def running_server(
    integration: Integration,
    config: SubscriptionConfig | None = None,
    *,
    subscription_server: bool = False,
) -> AsyncIterator[RunningServer]:
    """Serve the test manager with ``integration`` on a free port until the block ends.

    ``subscription_server``: run uvicorn as :class:`SubscriptionServer` (1001 at shutdown).
    At exit the clients are closed first, then the server is stopped and awaited.
    """
    manager = build_manager(config)
    if integration == "native":
        async with _native(manager) as (port, stop, native):
            running = RunningServer(integration, f"ws://127.0.0.1:{port}{PATH}", manager, stop, None, native)
            try:
                yield running
            finally:
                await running.close_clients()
        return
    runner = (
        _websockets(manager)
        if integration == "websockets"
        else _uvicorn(integration, manager, subscription_server)
    )
    async with runner as (port, stop, guard):
        running = RunningServer(integration, f"ws://127.0.0.1:{port}{PATH}", manager, stop, guard)
        try:
            yield running
        finally:
            await running.close_clients()


async def wait_until(
    predicate: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition"
) -> None:
    """Poll ``predicate`` (cleanup is asynchronous) until it holds, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def engine_is_empty(server: RunningServer) -> Callable[[], bool]:
    """Nothing of any connection left: in the engine and in the manager."""

    def check() -> bool:
        metrics = server.metrics()
        return (
            metrics["active_connections"] == 0
            and metrics["active_subscriptions"] == 0
            and metrics["active_groups"] == 0
            and metrics["registered_resolvers"] == 0
            and metrics["pending_resolver_jobs"] == 0
            and server.manager.connection_count == 0
        )

    return check


def scrape(server: RunningServer) -> dict[str, float]:
    """Every sample of the manager's Prometheus metrics, by name and labels (``name{label=value}``)."""
    text = generate_latest(metrics_registry(server.manager)).decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{key}={value}" for key, value in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def wait_for_subscriptions(server: RunningServer, count: int) -> None:
    await wait_until(
        lambda: server.metrics()["active_subscriptions"] == count, what=f"{count} active subscription(s)"
    )
