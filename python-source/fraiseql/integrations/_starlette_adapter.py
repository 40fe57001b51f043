"""The adapter for Starlette's WebSocket (FastAPI uses the same class)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from fraiseql.subscriptions.adapter import RequestInfo, WebSocketAdapter

#: The batched send ``serve()``'s uvicorn protocol puts in the scope
#: (``fraiseql.integrations.uvicorn_protocols.SEND_FRAMES``; not imported: uvicorn is optional).
_SEND_FRAMES = "fraiseql.send_frames"


class StarletteWebSocketAdapter(WebSocketAdapter):
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        client = websocket.client
        self._request_info = RequestInfo(
            path=websocket.url.path,
            headers={key.lower(): value for key, value in websocket.headers.items()},
            query_params=dict(websocket.query_params),
            client=(client.host, client.port) if client else None,
            subprotocols=tuple(websocket.scope.get("subprotocols", ())),
        )
        extensions = websocket.scope.get("extensions") or {}
        self._server_send_frames: Callable[[Sequence[bytes]], Awaitable[None]] | None = extensions.get(
            _SEND_FRAMES
        )

    @property
    def request_info(self) -> RequestInfo:
        return self._request_info

    async def accept(self, subprotocol: str | None) -> None:
        await self._websocket.accept(subprotocol=subprotocol)

    async def receive(self) -> str | bytes | None:
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if text is not None:
            return str(text)
        data = message.get("bytes")
        return bytes(data) if data is not None else None

    async def send_text(self, text: str) -> None:
        await self._websocket.send_text(text)

    @property
    def sends_batches(self) -> bool:
        return self._server_send_frames is not None

    async def send_frame(self, frame: bytes) -> None:
        await self.send_frames((frame,))

    async def send_frames(self, frames: Sequence[bytes]) -> None:
        send = self._server_send_frames
        if send is None:
            for frame in frames:
                await self._websocket.send_text(frame.decode())
        elif self._websocket.application_state == WebSocketState.CONNECTED:
            # Straight to the server: Starlette's state checks and exception wrappers are per
            # message, and the frames are UTF-8 already.
            await send(frames)
        else:
            raise RuntimeError("the WebSocket is closed: no frames can be sent")

    async def close(self, code: int, reason: str) -> None:
        if self._websocket.application_state != WebSocketState.DISCONNECTED:
            await self._websocket.close(code, reason)

    @property
    def is_connected(self) -> bool:
        return (
            self._websocket.client_state == WebSocketState.CONNECTED
            and self._websocket.application_state == WebSocketState.CONNECTED
        )
