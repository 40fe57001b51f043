"""The manager: fields, channels, and what resolvers receive."""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

from fraiseql.subscriptions import ConfigurationError, GraphQLDocumentError, SubscriptionConfig, subscription
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


def test_fields_declared_with_subscription_are_served_once_included() -> None:
    @subscription(channel="room:{room}")
    def messageAdded(event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "by": "decorated"}

    @subscription(name="ticks")
    async def tick(event: dict[str, Any]) -> dict[str, Any]:
        return event

    assert messageAdded({"id": 1}) == {"id": 1, "by": "decorated"}, "the function stays callable"
    manager = SubscriptionManager(fields=[messageAdded])
    manager.include(tick)
    assert set(manager.fields) == {"messageAdded", "ticks"}
    manager.subscribe("c", "s", QUERY, None, None, ConnectionContext())
    manager.executor.publish_event("e", "room:lobby", {"id": 1})
    assert decode(manager.executor.next_event("s"))["payload"]["data"]["messageAdded"] == {
        "id": 1,
        "by": "decorated",
    }
    with pytest.raises(TypeError, match="is not declared with @subscription"):
        manager.include(lambda event: event)


def test_a_resolver_that_cannot_be_called_is_refused_where_it_is_declared() -> None:
    manager = SubscriptionManager()
    with pytest.raises(TypeError, match="requires 3 positional parameters"):

        @manager.subscription
        def three(event: Any, variables: Any, extra: Any) -> Any:
            return event

    with pytest.raises(TypeError, match="takes no positional parameter"):

        @subscription
        def nothing() -> Any:
            return None

    assert manager.fields == {}


def test_a_required_argument_missing_from_the_document_is_a_document_error() -> None:
    manager = SubscriptionManager()

    @manager.subscription
    def messageAdded(event: dict[str, Any], *, room: str) -> dict[str, Any]:
        return event

    with pytest.raises(GraphQLDocumentError, match=r'Field "messageAdded" needs the argument\(s\) room'):
        manager.subscribe("c", "s", "subscription { messageAdded { id } }", None, None, ConnectionContext())
    assert manager.executor.get_metrics()["active_subscriptions"] == 0


def test_fields_are_checked_against_the_application_s_schema() -> None:
    sdl = "type Query { ok: Int } type Subscription { messageAdded(room: String!): String }"
    manager = SubscriptionManager(SubscriptionConfig(schema=sdl))
    with pytest.raises(ConfigurationError, match="has no field 'nope'"):
        manager.add_field("nope")

    def needs_user(event: Any, *, room: str, user: str) -> Any:
        return event

    with pytest.raises(ConfigurationError, match="requires user, which the schema's field does not take"):
        manager.add_field("messageAdded", needs_user)
    manager.add_field("messageAdded", lambda event, *, room, context: event)


class RecordingExecutor:
    """The manager's executor, recording which thread inspects each document."""

    def __init__(self, executor: Any) -> None:
        self._executor = executor
        self.inspected_on: list[str] = []

    def inspect_subscription(self, *args: Any) -> Any:
        self.inspected_on.append(threading.current_thread().name)
        return self._executor.inspect_subscription(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._executor, name)


async def test_new_documents_are_compiled_off_the_event_loop() -> None:
    manager = SubscriptionManager()
    manager.add_field("messageAdded", channel="room:{room}")
    recording = RecordingExecutor(manager.executor)
    manager.executor = recording  # type: ignore[assignment]
    await manager.subscribe_async("c", "s", QUERY, None, None, ConnectionContext())
    await manager.subscribe_async("c", "t", QUERY, None, None, ConnectionContext())  # cached now
    with pytest.raises(GraphQLDocumentError, match="syntax error"):
        await manager.subscribe_async("c", "u", "subscription {", None, None, ConnectionContext())
    loop_thread = threading.current_thread().name
    assert recording.inspected_on[0].startswith("fraiseql-compile")
    assert recording.inspected_on[1] == loop_thread
    assert recording.inspected_on[2].startswith("fraiseql-compile")
    assert manager.executor.get_metrics()["active_subscriptions"] == 2
    await manager.shutdown()
