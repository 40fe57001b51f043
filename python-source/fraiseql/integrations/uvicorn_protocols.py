"""uvicorn's HTTP and WebSocket protocols, bounded by a :class:`ConnectionGuard`.

uvicorn reads a silent TCP connection forever, answers WebSocket pings however fast they come
even when the peer reads nothing back, and lets a stalled reader hold its socket while its unsent
bytes pile up. These subclasses add what is missing, through the protocols' own callbacks:

- HTTP (h11 or httptools): each connection is counted per client address (503 beyond the
  limit) and must send its request within ``handshake_timeout``; the oldest silent one is closed
  when too many wait.
- WebSocket (any of uvicorn's implementations): while the unsent bytes are above the
  transport's high-water mark the connection is not read from (so no more pongs pile up), and
  after ``write_timeout`` in that state it is aborted, which frees its subscriptions.
- WebSocket on ``websockets-sansio`` (uvicorn's default): the scope's extensions get
  ``SEND_FRAMES``, an ``async (frames) -> None`` that frames several engine frames as text
  messages (websockets' own framing, compression included) and writes them in one
  ``transport.write``: one system call for a batch instead of one per frame, and no ASGI message
  or UTF-8 round trip per frame. ASGI allows servers such extensions; the protocol handler uses
  it when present and plain ``websocket.send`` otherwise.

``fraiseql.integrations.uvicorn_server.bounded_config`` puts them in a ``uvicorn.Config``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from uvicorn.config import HTTP_PROTOCOLS, WS_PROTOCOLS
from uvicorn.importer import import_from_string
from uvicorn.protocols.utils import ClientDisconnected

from fraiseql.integrations.connection_guard import (
    SERVICE_UNAVAILABLE,
    ConnectionGuard,
    WatchedWrites,
    peer_address,
)
from fraiseql.subscriptions.errors import ConfigurationError

__all__ = ["SEND_FRAMES", "bounded_http_protocol", "bounded_websocket_protocol", "protocol_class"]

#: The scope extension carrying the batched send (see the module's documentation).
SEND_FRAMES = "fraiseql.send_frames"


def protocol_class(kind: str, choice: str | type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """The class uvicorn would use for ``http=`` or ``ws=`` ``choice`` (a name or a class)."""
    if not isinstance(choice, str):
        return choice
    names: dict[str, str] | dict[str, str | None] = HTTP_PROTOCOLS if kind == "http" else WS_PROTOCOLS
    path = names.get(choice, choice)
    if path is None:
        raise ConfigurationError(f"{kind}={choice!r} serves no WebSocket: subscriptions need one")
    found = import_from_string(path)
    return cast(type[asyncio.Protocol], found)


def bounded_http_protocol(base: type[asyncio.Protocol], guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's h11 or httptools protocol) with per-address counting and a handshake
    timeout."""
    if not hasattr(base, "handle_websocket_upgrade"):
        raise ConfigurationError(
            f"{base.__name__} is not one of uvicorn's HTTP/1.1 protocols (h11, httptools): "
            "connections could not be bounded"
        )

    class BoundedHTTPProtocol(base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._guard_key = transport
            if not guard.opened(transport, peer_address(transport), self._close_if_silent):
                transport = cast(asyncio.Transport, transport)
                transport.write(SERVICE_UNAVAILABLE)
                transport.close()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # A request under way (or the connection handed to the WebSocket protocol): no
            # longer silent.
            if self.cycle is not None or self.transport.get_protocol() is not self:
                guard.started(self._guard_key)

        def connection_lost(self, exc: Exception | None) -> None:
            guard.closed(self._guard_key)
            super().connection_lost(exc)

        def _close_if_silent(self) -> None:
            transport = self.transport
            if transport.get_protocol() is self and self.cycle is None and not transport.is_closing():
                transport.close()

    BoundedHTTPProtocol.__name__ = BoundedHTTPProtocol.__qualname__ = f"Bounded{base.__name__}"
    return BoundedHTTPProtocol


def bounded_websocket_protocol(
    base: type[asyncio.Protocol], guard: ConnectionGuard
) -> type[asyncio.Protocol]:
    """``base`` (one of uvicorn's WebSocket protocols) with backpressure on reading and a write
    timeout."""

    class BoundedWebSocketProtocol(WatchedWrites, base):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            real = cast(asyncio.Transport, transport)
            gated = self.watch(guard, real)
            guard.started(real)
            # The protocol reads and writes through the gate (see GatedTransport).
            super().connection_made(cast(asyncio.Transport, gated))

        def handle_connect(self, event: Any) -> None:
            # websockets-sansio builds the scope here and schedules the application, which has
            # not run yet: the extension is in place before it reads the scope.
            super().handle_connect(event)
            scope = getattr(self, "scope", None)
            if _can_send_batches(self) and isinstance(scope, dict):
                scope.setdefault("extensions", {})[SEND_FRAMES] = self._send_frames

        async def _send_frames(self, frames: Sequence[bytes]) -> None:
            # What uvicorn's own send does for one "websocket.send", for several at once.
            await self.writable.wait()
            if self.disconnected:
                raise ClientDisconnected()
            if self.close_sent or not self.handshake_complete or self.initial_response is not None:
                raise RuntimeError("the WebSocket is not open: no frames can be sent")
            try:
                for frame in frames:
                    self.conn.send_text(frame)
            except Exception as error:
                # websockets' InvalidState (imported lazily: websockets may not be installed).
                if type(error).__name__ == "InvalidState":
                    raise ClientDisconnected() from None
                raise
            self.transport.write(b"".join(self.conn.data_to_send()))

    BoundedWebSocketProtocol.__name__ = BoundedWebSocketProtocol.__qualname__ = f"Bounded{base.__name__}"
    return BoundedWebSocketProtocol


#: What ``_send_frames`` reads of uvicorn's websockets-sansio protocol (checked on each
#: connection: another implementation, or a uvicorn that renamed them, falls back to ASGI sends).
_SANSIO_STATE = ("conn", "writable", "disconnected", "close_sent", "handshake_complete", "initial_response")


def _can_send_batches(protocol: object) -> bool:
    connection = getattr(protocol, "conn", None)
    return all(hasattr(protocol, name) for name in _SANSIO_STATE) and hasattr(connection, "send_text")
