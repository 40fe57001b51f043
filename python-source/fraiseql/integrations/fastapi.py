"""FastAPI: a router serving graphql-transport-ws.

app = FastAPI()
app.include_router(SubscriptionRouterFactory.create(manager, path="/graphql"))
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from fraiseql.integrations._starlette_adapter import StarletteWebSocketAdapter
from fraiseql.subscriptions.manager import SubscriptionManager
from fraiseql.subscriptions.protocols.graphql_transport_ws import GraphQLTransportWSHandler

__all__ = ["SubscriptionRouterFactory"]


class SubscriptionRouterFactory:
    @staticmethod
    def create(manager: SubscriptionManager, path: str = "/graphql") -> APIRouter:
        """An ``APIRouter`` with the WebSocket endpoint at ``path``."""
        router = APIRouter()

        async def graphql_subscriptions(websocket: WebSocket) -> None:
            await GraphQLTransportWSHandler(manager, StarletteWebSocketAdapter(websocket)).run()

        router.add_api_websocket_route(path, graphql_subscriptions)
        return router
