"""The messages of graphql-transport-ws, one TypedDict each, and the close codes we use."""

from __future__ import annotations

from enum import IntEnum
from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

GRAPHQL_TRANSPORT_WS_PROTOCOL = "graphql-transport-ws"


class CloseCode(IntEnum):
    """Close codes the server uses, with the reason text it sends."""

    # WebSocket standard codes.
    GOING_AWAY = 1001  # server shutdown
    MESSAGE_TOO_BIG = 1009  # a message over `max_message_size`
    TRY_AGAIN_LATER = 1013  # the process holds `max_connections` already
    # graphql-transport-ws codes.
    BAD_REQUEST = 4400  # invalid message (JSON, shape, binary frame)
    UNAUTHORIZED = 4401  # `subscribe` before `connection_ack`
    FORBIDDEN = 4403  # `on_connect` refused the connection
    SUBPROTOCOL_NOT_ACCEPTABLE = 4406
    CONNECTION_INITIALISATION_TIMEOUT = 4408
    SUBSCRIBER_ALREADY_EXISTS = 4409
    TOO_MANY_INITIALISATION_REQUESTS = 4429  # also: too many messages, subscribes or connections
    INTERNAL_SERVER_ERROR = 4500
    # Our own: the client stopped answering the server's keep-alive pings.
    KEEPALIVE_TIMEOUT = 4504


class ConnectionInitMessage(TypedDict):
    type: Literal["connection_init"]
    payload: NotRequired[dict[str, Any] | None]


class ConnectionAckMessage(TypedDict):
    type: Literal["connection_ack"]
    payload: NotRequired[dict[str, Any]]


class PingMessage(TypedDict):
    type: Literal["ping"]
    payload: NotRequired[dict[str, Any] | None]


class PongMessage(TypedDict):
    type: Literal["pong"]
    payload: NotRequired[dict[str, Any] | None]


class SubscribePayload(TypedDict):
    query: str
    operationName: NotRequired[str | None]
    variables: NotRequired[dict[str, Any] | None]
    extensions: NotRequired[dict[str, Any] | None]


class SubscribeMessage(TypedDict):
    id: str
    type: Literal["subscribe"]
    payload: SubscribePayload


class GraphQLFormattedError(TypedDict):
    message: str
    locations: NotRequired[list[dict[str, int]]]
    path: NotRequired[list[str | int]]
    extensions: NotRequired[dict[str, Any]]


class NextMessage(TypedDict):
    id: str
    type: Literal["next"]
    payload: dict[str, Any]


class ErrorMessage(TypedDict):
    id: str
    type: Literal["error"]
    payload: list[GraphQLFormattedError]


class CompleteMessage(TypedDict):
    id: str
    type: Literal["complete"]


ClientMessage = ConnectionInitMessage | PingMessage | PongMessage | SubscribeMessage | CompleteMessage
ServerMessage = (
    ConnectionAckMessage | PingMessage | PongMessage | NextMessage | ErrorMessage | CompleteMessage
)

CLIENT_MESSAGE_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})
