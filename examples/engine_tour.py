"""A guided run of the FraiseQL subscription engine, without any server.

Three chat clients subscribe to a room; events are published; each client's writer sleeps
until the engine wakes it with frames ready to send. Run it with ``.venv/bin/python
examples/engine_tour.py`` (after ``scripts/setup.sh``), or ``python examples/engine_tour.py`` wherever
``fraiseql-subscriptions`` is installed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fraiseql.subscriptions import GraphQLDocumentError, PySubscriptionExecutor

QUERY = """
subscription OnMessage($room: String!) {
  messageAdded(room: $room) { id text author { name } }
}
"""


def enrich(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    """A resolver: runs once per event for every subscription sharing it."""
    return {**event, "author": {"name": event["author"].title(), "email": "hidden@example.com"}}


async def writer(executor: PySubscriptionExecutor, connection_id: str, expected: int) -> None:
    """What a WebSocket writer does: sleep until frames are ready, then send them."""
    received = 0
    while received < expected:
        frames = await executor.wait_for_frames(connection_id)
        for frame in frames:
            message = json.loads(frame)
            print(f"  {connection_id} <- {message['type']:5} {json.dumps(message.get('payload'))}")
        received += len(frames)


async def main() -> None:
    executor = PySubscriptionExecutor()
    print("1. Three clients subscribe (alice and bob in tenant acme, carol in tenant globex).")
    clients = (("alice", "u1", "acme"), ("bob", "u2", "acme"), ("carol", "u3", "globex"))
    for connection, user, tenant in clients:
        executor.open_connection(connection)
        executor.register_subscription(
            connection, "chat", QUERY, variables={"room": "lobby"}, user_id=user, tenant_id=tenant
        )
        executor.register_resolver("chat", enrich, connection_id=connection)

    print("2. A bad document is refused with GraphQL errors:")
    try:
        executor.register_subscription("alice", "bad", "subscription { messageAdded { id }")
    except GraphQLDocumentError as error:
        print(f"  {error.errors}")

    writers = [
        asyncio.create_task(writer(executor, "alice", 1)),
        asyncio.create_task(writer(executor, "bob", 2)),
        asyncio.create_task(writer(executor, "carol", 1)),
    ]
    await asyncio.sleep(0)

    print("3. Publishing: an acme message, a globex message, then a message only for bob.")
    executor.publish_event(
        "messageAdded", "messageAdded", {"id": 1, "text": "hi acme", "author": "ann", "tenant_id": "acme"}
    )
    executor.publish_event(
        "messageAdded", "messageAdded", {"id": 2, "text": "hi globex", "author": "gus", "tenant_id": "globex"}
    )
    executor.publish_event(
        "messageAdded",
        "messageAdded",
        {"id": 3, "text": "psst bob", "author": "ann", "tenant_id": "acme", "user_id": "u2"},
    )
    await asyncio.wait_for(asyncio.gather(*writers), timeout=5)

    metrics = executor.get_metrics()
    print("4. Metrics:")
    for name in (
        "active_connections",
        "active_subscriptions",
        "active_groups",
        "events_published",
        "frames_queued",
        "frames_delivered",
        "events_filtered_out",
        "resolver_calls",
    ):
        print(f"  {name:22} {metrics[name]}")
    for connection in ("alice", "bob", "carol"):
        executor.close_connection(connection)
    print(f"5. Connections closed: {executor.get_metrics()['active_subscriptions']} subscriptions left.")


if __name__ == "__main__":
    asyncio.run(main())
