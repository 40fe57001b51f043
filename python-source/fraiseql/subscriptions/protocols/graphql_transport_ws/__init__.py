"""The graphql-transport-ws protocol (``PROTOCOL.md`` of the graphql-ws project)."""

from fraiseql.subscriptions.protocols.graphql_transport_ws.handlers import GraphQLTransportWSHandler
from fraiseql.subscriptions.protocols.graphql_transport_ws.types import (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    CloseCode,
)

__all__ = ["GRAPHQL_TRANSPORT_WS_PROTOCOL", "CloseCode", "GraphQLTransportWSHandler"]
