"""A WebSocket client written on raw TCP, for what no client library does: frames of any shape,
payloads streamed in chunks, a client that never reads, sockets that never send a request."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from tests.protocol.harness import PATH, PROTOCOL, TIMEOUT, RunningServer

HANDSHAKE = (
    f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    f"Sec-WebSocket-Protocol: {PROTOCOL}\r\n\r\n"
)
MASK = b"\x37\xfa\x21\x3d"


def port_of(server: RunningServer) -> int:
    return int(server.url.rsplit(":", 1)[1].split("/", 1)[0])


def frame_header(opcode: int, length: int, *, fin: bool = True, rsv: int = 0) -> bytes:
    """A client frame's header (masked, as RFC 6455 wants), for a payload of ``length`` bytes."""
    head = bytes([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)])
    if length < 126:
        head += bytes([0x80 | length])
    elif length < 1 << 16:
        head += bytes([0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + length.to_bytes(8, "big")
    return head + MASK


def masked(payload: bytes, offset: int = 0) -> bytes:
    """``payload`` masked as the bytes at ``offset`` of a frame's payload."""
    key = MASK[offset % 4 :] + MASK[: offset % 4]
    repeated = (key * (len(payload) // 4 + 1))[: len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(payload), "big")


def ws_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0) -> bytes:
    """A whole client frame of any opcode, flags and payload."""
    return frame_header(opcode, len(payload), fin=fin, rsv=rsv) + masked(payload)


class RawSocket:
    """One TCP connection to a server under test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, server: RunningServer, *, upgrade: bool = True, source: str | None = None
    ) -> RawSocket:
        """A connection (from ``source``, a loopback address, when given), upgraded to a WebSocket
        unless ``upgrade`` is false."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port_of(server), local_addr=(source, 0) if source else None
        )
        raw = cls(reader, writer)
        if upgrade:
            writer.write(HANDSHAKE.encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
            assert head.startswith(b"HTTP/1.1 101 "), head
        return raw

    async def send(self, data: bytes) -> bool:
        """Writes and drains; False once the server is gone."""
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def stream_frame(self, opcode: int, length: int, chunk: int = 64 * 1024) -> int:
        """Sends one frame of ``length`` payload bytes in chunks (never holding it whole);
        returns how many payload bytes went out before the server stopped taking them."""
        if not await self.send(frame_header(opcode, length)):
            return 0
        block = masked(b"x" * chunk)
        sent = 0
        while sent < length:
            size = min(chunk, length - sent)
            if not await self.send(block[:size] if size < chunk else block):
                break
            sent += size
        return sent

    async def read_frame(self) -> tuple[int, bytes]:
        head = await self.reader.readexactly(2)
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(await self.reader.readexactly(2), "big")
        elif length == 127:
            length = int.from_bytes(await self.reader.readexactly(8), "big")
        return head[0] & 0x0F, await self.reader.readexactly(length)

    async def close_code(self, timeout: float = TIMEOUT) -> int | None:
        """Reads until the server's close frame (its code) or the end of the stream (``None``)."""

        async def read() -> int | None:
            while True:
                try:
                    opcode, payload = await self.read_frame()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return None
                if opcode == 8:
                    return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005

        return await asyncio.wait_for(read(), timeout)

    async def closed_by_server(self, timeout: float = TIMEOUT) -> bool:
        """Whether the server ends the stream (EOF or reset) within ``timeout``, whatever it sent."""

        async def drain() -> None:
            with contextlib.suppress(ConnectionError):
                while await self.reader.read(65536):
                    pass

        try:
            await asyncio.wait_for(drain(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def read_http(self, timeout: float = TIMEOUT) -> bytes:
        """What the server answers (an HTTP response), until it closes."""

        async def read() -> bytes:
            received = b""
            with contextlib.suppress(ConnectionError):
                while chunk := await self.reader.read(65536):
                    received += chunk
            return received

        return await asyncio.wait_for(read(), timeout)

    def close(self) -> None:
        self.writer.transport.abort()


@contextlib.contextmanager
def closing(sockets: list[RawSocket]) -> Iterator[list[RawSocket]]:
    try:
        yield sockets
    finally:
        for raw in sockets:
            raw.close()
