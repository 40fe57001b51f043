"""Running an ASGI application under uvicorn so that shutdown closes subscriptions with 1001.

uvicorn closes open WebSockets itself at shutdown (with 1012) before the application's lifespan
shutdown runs; this server first lets the manager close them with 1001 "Going away".
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn

from fraiseql.subscriptions.manager import SubscriptionManager

__all__ = ["SubscriptionServer", "serve"]


class SubscriptionServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, manager: SubscriptionManager) -> None:
        super().__init__(config)
        self.manager = manager

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.manager.shutdown()
        await super().shutdown(sockets)


async def serve(
    app: Any, manager: SubscriptionManager, host: str = "127.0.0.1", port: int = 8000, **options: Any
) -> None:
    """Serve ``app`` until interrupted; subscriptions are closed with 1001 on the way out."""
    config = uvicorn.Config(app, host=host, port=port, **options)
    await SubscriptionServer(config, manager).serve()
