"""graphql-transport-ws at /graphql: a subscriber gets exactly its room's messages."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.demo.conftest import LiveServer

QUERY = "subscription ($room: String!) { messageAdded(room: $room) { id room text author at } }"


@asynccontextmanager
async def graphql_ws(url: str) -> AsyncIterator[ClientConnection]:
    """An acknowledged graphql-transport-ws connection."""
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        await ws.send(json.dumps({"type": "connection_init"}))
        assert await receive(ws) == {"type": "connection_ack"}
        yield ws


async def receive(ws: ClientConnection) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert isinstance(message, dict)
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        return message


async def subscribe(ws: ClientConnection, subscription_id: str, room: str) -> None:
    payload = {"query": QUERY, "variables": {"room": room}}
    await ws.send(json.dumps({"id": subscription_id, "type": "subscribe", "payload": payload}))
    # The server reads a connection's messages in order: once the pong is back, it is registered.
    await ws.send(json.dumps({"type": "ping"}))
    assert await receive(ws) == {"type": "pong"}


async def post(server: LiveServer, room: str, text: str) -> dict[str, Any]:
    reply = await asyncio.to_thread(
        server.request, "POST", f"/rooms/{room}/messages", {"text": text, "author": "t"}
    )
    assert reply.status == 201
    message = reply.json()
    assert isinstance(message, dict)
    return message


async def test_a_subscriber_receives_exactly_its_rooms_messages(live_server: LiveServer) -> None:
    room, other = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    async with graphql_ws(live_server.ws_url) as ws:
        await subscribe(ws, "one", room)
        received = []
        # Messages of the other room are posted first: had any leaked, it would arrive first.
        for n in range(3):
            await post(live_server, other, f"elsewhere {n}")
            mine = await post(live_server, room, f"here {n}")
            message = await receive(ws)
            assert message == {"id": "one", "type": "next", "payload": {"data": {"messageAdded": mine}}}
            received.append(message["payload"]["data"]["messageAdded"]["text"])
        assert received == ["here 0", "here 1", "here 2"]


async def test_two_rooms_on_one_connection(live_server: LiveServer) -> None:
    room_a, room_b = f"a-{uuid.uuid4().hex[:8]}", f"b-{uuid.uuid4().hex[:8]}"
    async with graphql_ws(live_server.ws_url) as ws:
        await subscribe(ws, "a", room_a)
        await subscribe(ws, "b", room_b)
        for room, subscription_id in ((room_b, "b"), (room_a, "a"), (room_b, "b")):
            message = await post(live_server, room, "x")
            assert await receive(ws) == {
                "id": subscription_id,
                "type": "next",
                "payload": {"data": {"messageAdded": message}},
            }
        # Completing one subscription stops its messages only.
        await ws.send(json.dumps({"id": "b", "type": "complete"}))
        await post(live_server, room_b, "not delivered")
        last = await post(live_server, room_a, "delivered")
        assert (await receive(ws))["payload"]["data"]["messageAdded"] == last


async def test_a_partial_selection_gets_only_those_fields(live_server: LiveServer) -> None:
    room = f"p-{uuid.uuid4().hex[:8]}"
    async with graphql_ws(live_server.ws_url) as ws:
        payload = {"query": 'subscription { messageAdded(room: "%s") { text } }' % room}  # noqa: UP031
        await ws.send(json.dumps({"id": "p", "type": "subscribe", "payload": payload}))
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}
        await post(live_server, room, "only text")
        assert (await receive(ws))["payload"] == {"data": {"messageAdded": {"text": "only text"}}}


@pytest.mark.parametrize("room", ["bad room", "", "x" * 65])
async def test_an_invalid_room_is_refused_with_an_error(live_server: LiveServer, room: str) -> None:
    async with graphql_ws(live_server.ws_url) as ws:
        payload = {"query": QUERY, "variables": {"room": room}}
        await ws.send(json.dumps({"id": "bad", "type": "subscribe", "payload": payload}))
        message = await receive(ws)
        assert message["type"] == "error"
        assert message["id"] == "bad"
        assert message["payload"][0]["extensions"] == {"code": "BAD_ROOM"}
        # The connection stays usable.
        await subscribe(ws, "good", "lobby")


async def test_a_subscribed_room_becomes_known(live_server: LiveServer) -> None:
    room = f"s-{uuid.uuid4().hex[:8]}"
    async with graphql_ws(live_server.ws_url) as ws:
        await subscribe(ws, "s", room)
        rooms = (await asyncio.to_thread(live_server.request, "GET", "/rooms")).json()["rooms"]
        assert room in rooms


@pytest.mark.parametrize("framework", ["fastapi", "starlette"])
async def test_server_shutdown_closes_subscriptions_with_1001(framework: Any) -> None:
    server = await asyncio.to_thread(LiveServer(framework).start)
    async with graphql_ws(server.ws_url) as ws:
        await subscribe(ws, "s", "lobby")
        await asyncio.to_thread(server.stop)
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "Going away")
