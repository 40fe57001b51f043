"""The Strawberry side of ``bench_server.py``: the same subscription, written the idiomatic way.

``Subscription.message_added(room: str) -> Message`` (``messageAdded`` on the wire) is an async
generator reading from a per-subscriber ``asyncio.Queue``, fed by an in-process broadcaster (a
plain dict of room -> set of queues). Strawberry executes the subscriber's selection set on every
message and sends the result. Mounted with ``strawberry.fastapi.GraphQLRouter`` at ``/graphql``,
graphql-transport-ws only; run by ``bench_server.py`` as ``python -m uvicorn strawberry_app:app``.

The HTTP endpoints are the same as ``fraiseql_app``'s: ``GET /health``, ``GET /stats``,
``POST /publish`` and ``POST /publish_loop``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from fastapi import FastAPI
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from publisher import PublishRequest, message_fields, run_publish


@strawberry.type
class Message:
    id: strawberry.ID
    room: str
    text: str
    author: str
    at: float


class Broadcaster:
    """In-process pub/sub: each subscriber has its own unbounded queue."""

    def __init__(self) -> None:
        self.rooms: dict[str, set[asyncio.Queue[Message]]] = {}

    def subscribe(self, room: str) -> asyncio.Queue[Message]:
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self.rooms.setdefault(room, set()).add(queue)
        return queue

    def unsubscribe(self, room: str, queue: asyncio.Queue[Message]) -> None:
        queues = self.rooms.get(room)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self.rooms[room]

    async def publish(self, room: str, message: Message) -> None:
        for queue in self.rooms.get(room, ()):
            queue.put_nowait(message)

    def subscriber_count(self) -> int:
        return sum(len(queues) for queues in self.rooms.values())

    def max_backlog(self) -> int:
        return max((queue.qsize() for queues in self.rooms.values() for queue in queues), default=0)


broadcaster = Broadcaster()


@strawberry.type
class Query:
    @strawberry.field
    def rooms(self) -> list[str]:
        return sorted(broadcaster.rooms)


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def message_added(self, room: str) -> AsyncGenerator[Message, None]:
        queue = broadcaster.subscribe(room)
        try:
            while True:
                yield await queue.get()
        finally:
            broadcaster.unsubscribe(room, queue)


schema = strawberry.Schema(query=Query, subscription=Subscription)
graphql_router: GraphQLRouter[Any, Any] = GraphQLRouter(
    schema, subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL]
)

app = FastAPI()
app.include_router(graphql_router, prefix="/graphql")


async def publish_one(room: str, sequence: int, text: str) -> None:
    message = Message(at=0.0, **message_fields(room, sequence, text))
    message.at = time.time()
    await broadcaster.publish(room, message)


@app.get("/health")
async def health() -> dict[str, Any]:
    return {"ok": True, "server": "strawberry"}


@app.get("/stats")
async def stats() -> dict[str, Any]:
    return {"subscribers": broadcaster.subscriber_count(), "max_backlog": broadcaster.max_backlog()}


@app.post("/publish")
async def publish(request: PublishRequest) -> dict[str, Any]:
    return await run_publish(publish_one, request)


@app.post("/publish_loop")
async def publish_loop(request: PublishRequest) -> dict[str, Any]:
    return await run_publish(publish_one, request)
