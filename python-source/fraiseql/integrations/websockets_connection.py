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
    WatchedWrites,
    peer_address,
)

__all__ = ["bounded_connection"]

#: Close codes the library sends when it fails a connection: protocol error, invalid data,
#: message too big.
_FAILURES = frozenset({1002, 1007, 1009})


def bounded_connection(guard: ConnectionGuard) -> type[ServerConnection]:
    """A ``ServerConnection`` class whose connections ``guard`` bounds."""

    class BoundedServerConnection(WatchedWrites, ServerConnection):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            real = cast(asyncio.Transport, transport)
            # The library reads and writes through the gate (see GatedTransport).
            super().connection_made(cast(asyncio.Transport, self.watch(guard, real)))
            if not guard.opened(real, peer_address(real), real.close):
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

    return BoundedServerConnection
