"""The adapter for Starlette's WebSocket (FastAPI uses the same class)."""

from __future__ import annotations

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from fraiseql.subscriptions.adapter import RequestInfo, WebSocketAdapter


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

    async def close(self, code: int, reason: str) -> None:
        if self._websocket.application_state != WebSocketState.DISCONNECTED:
            await self._websocket.close(code, reason)

    @property
    def is_connected(self) -> bool:
        return (
            self._websocket.client_state == WebSocketState.CONNECTED
            and self._websocket.application_state == WebSocketState.CONNECTED
        )
