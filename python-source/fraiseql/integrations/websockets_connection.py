"""The ``websockets`` library's server connection, bounded by a :class:`ConnectionGuard`.

``websockets.asyncio.server.serve(..., create_connection=bounded_connection(guard))`` makes each
connection counted per client address (503 beyond the limit), closes the oldest silent one when
too many wait for their handshake, stops reading from a connection whose unsent bytes are above
the high-water mark (the library answers pings however fast they come), and aborts it after
``write_timeout`` in that state. ``open_timeout`` (the handshake timeout) and ``max_size`` are
``serve()``'s own arguments.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from websockets.asyncio.server import ServerConnection

from fraiseql.integrations.connection_guard import (
    SERVICE_UNAVAILABLE,
    ConnectionGuard,
    GatedTransport,
    WriteWatch,
)

__all__ = ["bounded_connection"]

#: Close codes the library sends when it fails a connection: protocol error, invalid data,
#: message too big.
_FAILURES = frozenset({1002, 1007, 1009})


def bounded_connection(guard: ConnectionGuard) -> type[ServerConnection]:
    """A ``ServerConnection`` class whose connections ``guard`` bounds."""

    class BoundedServerConnection(ServerConnection):
        _guard_key: Any = None
        _write_watch: WriteWatch | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            real = cast(asyncio.Transport, transport)
            self._guard_key = real
            peer = real.get_extra_info("peername")
            address = str(peer[0]) if isinstance(peer, (tuple, list)) and peer else None
            gated = GatedTransport(real)
            self._write_watch = guard.watch_writes(gated, address)
            # The library reads and writes through the gate (see GatedTransport).
            super().connection_made(cast(asyncio.Transport, gated))
            if not guard.opened(real, address, real.close):
                real.write(SERVICE_UNAVAILABLE)
                real.close()

        async def handshake(self, *args: Any, **kwargs: Any) -> None:
            await super().handshake(*args, **kwargs)
            guard.started(self._guard_key)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # The library failed the connection (a message too big, bad UTF-8, a protocol error):
            # it would keep reading and discarding the rest until its close timeout. Nothing more
            # from this peer is wanted: flush the close frame and hang up.
            sent = self.protocol.close_sent
            if sent is not None and sent.code in _FAILURES and not self.transport.is_closing():
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._write_watch is not None:
                self._write_watch.stop()
            guard.closed(self._guard_key)
            super().connection_lost(exc)

        def pause_writing(self) -> None:
            super().pause_writing()
            if self._write_watch is not None:
                self._write_watch.paused()

        def resume_writing(self) -> None:
            super().resume_writing()
            if self._write_watch is not None:
                self._write_watch.resumed()

    return BoundedServerConnection
