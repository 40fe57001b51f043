"""Running an ASGI application under uvicorn with the manager's limits enforced where the bytes
arrive, and shutdown closing subscriptions with 1001.

``serve(app, manager)`` (or ``bounded_config`` for your own ``uvicorn.Server``) configures uvicorn
from the manager's :class:`SubscriptionConfig`:

- ``ws_max_size`` is ``max_message_size``: a larger WebSocket message is refused (1009) from its
  frame header, before its payload is read;
- connections are counted per client address and must send their request within
  ``handshake_timeout``; a WebSocket whose peer stops reading is not read from, and is aborted
  after ``write_timeout`` (``uvicorn_protocols.py``);
- uvicorn's and asyncio's logs stay bounded under a flood (``bounded_logging.py``);
- the process may open as many files as its hard limit allows (sockets are files).

uvicorn closes open WebSockets itself at shutdown (with 1012) before the application's lifespan
shutdown runs; :class:`SubscriptionServer` first lets the manager close them with 1001
"Going away".
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn

from fraiseql.integrations.bounded_logging import bounded_server_logs
from fraiseql.integrations.connection_guard import ConnectionGuard, GuardLimits
from fraiseql.integrations.uvicorn_protocols import (
    bounded_http_protocol,
    bounded_websocket_protocol,
    protocol_class,
)
from fraiseql.subscriptions.manager import SubscriptionManager

__all__ = ["SubscriptionServer", "bounded_config", "raise_open_file_limit", "run", "serve"]


class SubscriptionServer(uvicorn.Server):
    """A ``uvicorn.Server`` whose shutdown closes the manager's connections with 1001 first."""

    def __init__(self, config: uvicorn.Config, manager: SubscriptionManager) -> None:
        super().__init__(config)
        self.manager = manager

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.manager.shutdown()
        await super().shutdown(sockets)


def bounded_config(app: Any, manager: SubscriptionManager, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` with the manager's transport limits (see the module's
    documentation); ``options`` are uvicorn's (``host``, ``port``, ``log_level``, ...).

    ``http`` may be ``"auto"``, ``"h11"`` or ``"httptools"`` (or one of their classes), ``ws`` any of
    uvicorn's WebSocket implementations; ``ws_max_size`` defaults to ``max_message_size``.
    """
    guard = ConnectionGuard(GuardLimits.of(manager.config), manager.stats.connections_dropped)
    http = bounded_http_protocol(protocol_class("http", options.pop("http", "auto")), guard)
    ws = bounded_websocket_protocol(protocol_class("ws", options.pop("ws", "auto")), guard)
    options.setdefault("ws_max_size", manager.config.max_message_size)
    config = uvicorn.Config(app, http=http, ws=ws, **options)
    config.connection_guard = guard  # type: ignore[attr-defined]  # for tests and metrics
    return config


def raise_open_file_limit() -> int:
    """Raises the soft limit of open files to the hard one (each connection is a file); returns it."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


async def serve(
    app: Any, manager: SubscriptionManager, host: str = "127.0.0.1", port: int = 8000, **options: Any
) -> None:
    """Serve ``app`` until interrupted, with the manager's transport limits (see the module's
    documentation); subscriptions are closed with 1001 on the way out. ``options`` are uvicorn's."""
    raise_open_file_limit()
    config = bounded_config(app, manager, host=host, port=port, **options)
    with bounded_server_logs():
        await SubscriptionServer(config, manager).serve()


def run(
    app: Any, manager: SubscriptionManager, host: str = "127.0.0.1", port: int = 8000, **options: Any
) -> None:
    """:func:`serve` on an event loop of its own: uvloop when it is installed (uvicorn's
    ``loop="auto"``; the ``fastapi`` and ``starlette`` extras install it), else asyncio's.
    Blocks until the server stops; Ctrl+C shuts it down gracefully, then re-raises."""
    raise_open_file_limit()
    config = bounded_config(app, manager, host=host, port=port, **options)
    with bounded_server_logs():
        SubscriptionServer(config, manager).run()
