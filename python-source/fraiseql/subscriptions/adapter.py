"""The one thing a web framework must provide: a WebSocket behind this small interface.

The protocol handler talks to sockets only through :class:`WebSocketAdapter`; FastAPI,
Starlette and the plain ``websockets`` server each implement it in ``fraiseql.integrations``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestInfo:
    """What the HTTP upgrade request said, for the ``on_connect`` hook."""

    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    query_params: Mapping[str, str] = field(default_factory=dict)
    client: tuple[str, int] | None = None
    subprotocols: tuple[str, ...] = ()


class WebSocketAdapter(abc.ABC):
    """A server-side WebSocket, seen by the protocol handler."""

    @property
    @abc.abstractmethod
    def request_info(self) -> RequestInfo:
        """The upgrade request (its ``subprotocols`` are the ones the client offered)."""

    @abc.abstractmethod
    async def accept(self, subprotocol: str | None) -> None:
        """Complete the handshake selecting ``subprotocol`` (no-op if the server already did)."""

    @abc.abstractmethod
    async def receive(self) -> str | bytes | None:
        """The next message (``str`` for text frames, ``bytes`` for binary ones), or ``None``
        once the socket is closed."""

    @abc.abstractmethod
    async def send_text(self, text: str) -> None:
        """Send a text message."""

    async def send_frame(self, frame: bytes) -> None:
        """Send an engine frame (UTF-8 JSON) as a text message.

        Browsers' graphql-ws clients parse text messages only. Adapters whose library can send
        bytes as a text frame override this to skip decoding.
        """
        await self.send_text(frame.decode())

    @property
    def sends_batches(self) -> bool:
        """Whether ``send_frames`` writes a whole batch at once, without yielding to the event
        loop between frames (then the handler hands it each batch)."""
        return False

    async def send_frames(self, frames: Sequence[bytes]) -> None:
        """Send several engine frames, in order, in one write (see ``sends_batches``).

        Adapters whose server can write several messages at once override both: one write for a
        batch costs about what one write of a frame does.
        """
        for frame in frames:
            await self.send_frame(frame)

    @abc.abstractmethod
    async def close(self, code: int, reason: str) -> None:
        """Close the socket with ``code`` and ``reason`` (at most 123 bytes of UTF-8)."""

    @property
    @abc.abstractmethod
    def is_connected(self) -> bool:
        """Whether messages can still be sent."""
