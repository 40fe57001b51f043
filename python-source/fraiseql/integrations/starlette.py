"""Starlette: add the graphql-transport-ws endpoint to an application.

app = create_subscription_app(Starlette(), manager, path="/graphql")
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from fraiseql.integrations._starlette_adapter import StarletteWebSocketAdapter
from fraiseql.subscriptions.manager import SubscriptionManager
from fraiseql.subscriptions.protocols.graphql_transport_ws import GraphQLTransportWSHandler

__all__ = ["create_subscription_app"]


def create_subscription_app(
    app: Starlette, manager: SubscriptionManager, path: str = "/graphql"
) -> Starlette:
    """Add a WebSocket route at ``path`` to ``app`` and return ``app``."""

    async def graphql_subscriptions(websocket: WebSocket) -> None:
        await GraphQLTransportWSHandler(manager, StarletteWebSocketAdapter(websocket)).run()

    app.router.routes.append(WebSocketRoute(path, graphql_subscriptions))
    return app
