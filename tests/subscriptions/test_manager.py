"""The manager: fields, channels, and what resolvers receive."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from fraiseql.subscriptions import ConfigurationError, GraphQLDocumentError
from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionManager
from tests.conftest import decode

QUERY = 'subscription { messageAdded(room: "lobby") { id by } }'


def test_channel_from_arguments_and_unknown_fields() -> None:
    manager = SubscriptionManager()
    manager.add_field("messageAdded", channel="room:{room}")
    manager.subscribe("c", "s", QUERY, None, None, ConnectionContext())
    manager.executor.publish_event("e", "room:lobby", {"id": 1, "by": "x"})
    assert decode(manager.executor.next_event("s"))["payload"]["data"]["messageAdded"] == {"id": 1, "by": "x"}
    with pytest.raises(GraphQLDocumentError, match='Cannot query field "nope"'):
        manager.subscribe("c", "t", "subscription { nope }", None, None, ConnectionContext())
    with pytest.raises(GraphQLDocumentError, match="needs the argument"):
        manager.subscribe("c", "u", "subscription { messageAdded { id } }", None, None, ConnectionContext())
    with pytest.raises(ConfigurationError, match="already declared"):
        manager.add_field("messageAdded")


def test_resolvers_receive_arguments_and_context_and_share_calls() -> None:
    manager = SubscriptionManager()
    calls: list[tuple[str, str | int | None]] = []

    @manager.subscription(channel="room:{room}")
    def messageAdded(
        event: dict[str, Any], variables: dict[str, Any], *, room: str, context: ConnectionContext
    ) -> dict[str, Any]:
        calls.append((room, context.user_id))
        return {"id": event["id"], "by": f"{context.user_id}@{room}"}

    ann, bob = ConnectionContext(user_id="ann"), ConnectionContext(user_id="bob")
    manager.subscribe("c1", "s", QUERY, None, None, ann)
    manager.subscribe("c2", "s", QUERY, None, None, ConnectionContext(user_id="ann"))
    manager.subscribe("c3", "s", QUERY, None, None, bob)
    manager.executor.publish_event("e", "room:lobby", {"id": 7})
    assert sorted(calls) == [("lobby", "ann"), ("lobby", "bob")], "one call per distinct context"
    frames = {
        connection: decode(manager.executor.next_event("s", connection)) for connection in ("c1", "c2", "c3")
    }
    assert frames["c1"]["payload"]["data"]["messageAdded"] == {"id": 7, "by": "ann@lobby"}
    assert frames["c2"]["payload"]["data"]["messageAdded"] == {"id": 7, "by": "ann@lobby"}
    assert frames["c3"]["payload"]["data"]["messageAdded"] == {"id": 7, "by": "bob@lobby"}
    for connection in ("c1", "c2", "c3"):
        manager.executor.close_connection(connection)
    gc.collect()
    assert len(manager._bound_resolvers) == 0, "bound resolvers die with their subscriptions"


def test_plain_resolvers_are_shared_by_everyone() -> None:
    manager = SubscriptionManager()
    calls = 0

    @manager.subscription(channel="room:{room}")
    def messageAdded(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return event

    for user in ("a", "b", "c"):
        manager.subscribe(user, "s", QUERY, None, None, ConnectionContext(user_id=user))
    manager.executor.publish_event("e", "room:lobby", {"id": 1, "by": "z"})
    assert calls == 1


def test_all_arguments_through_kwargs() -> None:
    manager = SubscriptionManager()
    seen: list[dict[str, Any]] = []

    @manager.subscription(channel="room:{room}")
    def messageAdded(event: dict[str, Any], variables: dict[str, Any], **arguments: Any) -> dict[str, Any]:
        seen.append(arguments)
        return event

    manager.subscribe(
        "c",
        "s",
        "subscription($r: String!) { messageAdded(room: $r) { id } }",
        None,
        {"r": "x"},
        ConnectionContext(),
    )
    manager.executor.publish_event("e", "room:x", {"id": 1})
    assert seen == [{"room": "x"}]


def test_contexts_that_only_look_alike_never_share_a_resolver() -> None:
    manager = SubscriptionManager()
    seen: list[str] = []

    class Session:
        def __init__(self, owner: str) -> None:
            self.owner = owner

        def __repr__(self) -> str:
            return "<Session>"  # two sessions print alike

    @manager.subscription(channel="room:{room}")
    def messageAdded(event: dict[str, Any], variables: dict[str, Any], *, context: ConnectionContext) -> Any:
        seen.append(context.data["session"].owner)
        return event

    for owner in ("alice", "bob"):
        context = ConnectionContext(user_id="u", data={"session": Session(owner), (1, 2): "key"})  # type: ignore[dict-item]
        manager.subscribe(owner, "s", QUERY, None, None, context)
    manager.executor.publish_event("e", "room:lobby", {"id": 1, "by": "x"})
    assert sorted(seen) == ["alice", "bob"]
