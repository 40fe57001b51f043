"""The seeds' module for the HTTP abstraction: the adapter a framework implements and the
graphql-transport-ws handler that drives it. The code lives in ``fraiseql.subscriptions.adapter``
and ``fraiseql.subscriptions.protocols.graphql_transport_ws``; this module keeps the seeds'
import path working."""

from fraiseql.subscriptions.adapter import RequestInfo, WebSocketAdapter
from fraiseql.subscriptions.protocols.graphql_transport_ws import GraphQLTransportWSHandler

__all__ = ["GraphQLTransportWSHandler", "RequestInfo", "WebSocketAdapter"]
