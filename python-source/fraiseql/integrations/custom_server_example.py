"""A custom server: graphql-transport-ws on the plain ``websockets`` library.

This is the template for any framework: implement :class:`WebSocketAdapter` (six small
methods) and hand each connection to :class:`GraphQLTransportWSHandler`. Run it with

    python -m fraiseql.integrations.custom_server_example --port 8765

and subscribe with any graphql-transport-ws client to ``ws://127.0.0.1:8765/graphql``
(``subscription { tick { n } }``); it publishes a tick every second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import urllib.parse
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fraiseql.integrations.connection_guard import ConnectionGuard, GuardLimits
from fraiseql.integrations.websockets_connection import bounded_connection
from fraiseql.subscriptions.adapter import RequestInfo, WebSocketAdapter
from fraiseql.subscriptions.manager import SubscriptionManager
from fraiseql.subscriptions.protocols.graphql_transport_ws import (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GraphQLTransportWSHandler,
)

__all__ = ["WebsocketsAdapter", "main", "start_server"]


def _offered_subprotocols(headers: Headers) -> tuple[str, ...]:
    offered: list[str] = []
    for value in headers.get_all("Sec-WebSocket-Protocol"):
        offered.extend(part.strip() for part in value.split(",") if part.strip())
    return tuple(offered)


class WebsocketsAdapter(WebSocketAdapter):
    """:class:`WebSocketAdapter` for a ``websockets`` server connection."""

    def __init__(self, connection: ServerConnection) -> None:
        self._connection = connection
        request = connection.request
        headers = request.headers if request is not None else Headers()
        path, _, query = (request.path if request is not None else "/").partition("?")
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        remote = connection.remote_address
        self._request_info = RequestInfo(
            path=path,
            headers={key.lower(): value for key, value in headers.raw_items()},
            query_params=params,
            client=(str(remote[0]), int(remote[1])) if remote else None,
            subprotocols=_offered_subprotocols(headers),
        )

    @property
    def request_info(self) -> RequestInfo:
        return self._request_info

    async def accept(self, subprotocol: str | None) -> None:
        # The websockets library completes the handshake (and picks the subprotocol) itself.
        return None

    async def receive(self) -> str | bytes | None:
        try:
            return await self._connection.recv()
        except ConnectionClosed:
            return None

    async def send_text(self, text: str) -> None:
        await self._connection.send(text)

    async def send_frame(self, frame: bytes) -> None:
        # Sent as a text frame without decoding it first.
        await self._connection.send(frame, text=True)

    async def close(self, code: int, reason: str) -> None:
        # A client that floods us has filled the incoming queue, so websockets stopped reading
        # and would never see its closing frame: discard what it sent while the close completes.
        discarding = asyncio.ensure_future(self._discard_incoming())
        try:
            await self._connection.close(code, reason)
        finally:
            discarding.cancel()

    async def _discard_incoming(self) -> None:
        # Fails at once (ConcurrencyError) when the handler's reader is reading already.
        with contextlib.suppress(Exception):
            while True:
                await self._connection.recv()

    @property
    def is_connected(self) -> bool:
        return self._connection.close_code is None


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    # Accept clients that offer nothing we speak: the handler then closes with 4406.
    return Subprotocol(GRAPHQL_TRANSPORT_WS_PROTOCOL) if GRAPHQL_TRANSPORT_WS_PROTOCOL in offered else None


async def start_server(
    manager: SubscriptionManager, host: str = "127.0.0.1", port: int = 8765, path: str = "/graphql"
) -> Server:
    """Start serving graphql-transport-ws at ``ws://host:port/path``."""

    async def handle(connection: ServerConnection) -> None:
        request_path = connection.request.path if connection.request is not None else ""
        if request_path.partition("?")[0] != path:
            await connection.close(4404, "Not found")
            return
        await GraphQLTransportWSHandler(manager, WebsocketsAdapter(connection)).run()

    config = manager.config
    guard = ConnectionGuard(GuardLimits.of(config), manager.stats.connections_dropped)
    server: Server = await serve(
        handle,
        host,
        port,
        select_subprotocol=_select_subprotocol,
        # The limits where the bytes arrive: a message over max_message_size is refused (1009)
        # from its frame header; see websockets_connection.py for the rest.
        max_size=config.max_message_size,
        open_timeout=config.handshake_timeout,
        create_connection=bounded_connection(guard),
        ping_interval=None,  # keep-alive is the protocol's ping/pong
    )
    server.connection_guard = guard  # type: ignore[attr-defined]  # for tests and metrics
    return server


def _demo_manager() -> SubscriptionManager:
    manager = SubscriptionManager()

    @manager.subscription
    def tick(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        return event

    return manager


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    manager = _demo_manager()
    server = await start_server(manager, args.host, args.port)
    print(f"graphql-transport-ws on ws://{args.host}:{args.port}/graphql  (subscription {{ tick {{ n }} }})")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    n = 0
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        n += 1
        await manager.publish("tick", {"n": n})
    await manager.shutdown()  # every client gets 1001 "Going away"
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
