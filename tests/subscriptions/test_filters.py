"""Row-level filters: the builder, compilation errors, and what subscribers receive."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from fraiseql._fraiseql_rs.subscriptions import CompiledFilter
from fraiseql.subscriptions import SKIP, ConfigurationError
from fraiseql.subscriptions.filters import Filter, all_of, any_of, arg, context, event, not_, value
from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionManager
from tests.conftest import decode

ANN = ConnectionContext(user_id="ann", tenant_id="acme", roles=("member",), data={"team": "red"})
BOB = ConnectionContext(user_id="bob", tenant_id="acme", roles=("admin",), data={"team": "blue"})


def received(manager: SubscriptionManager, connection: str) -> list[Any]:
    return [decode(frame)["payload"]["data"] for frame in manager.executor.drain_frames(connection)]


def test_the_builder_writes_specs_the_engine_reads() -> None:
    spec = ((event("room") == arg("room")) & ~(event("author.id") == context("user_id"))).spec
    assert spec == {
        "and": [
            {"eq": ["event.room", "args.room"]},
            {"not": {"eq": ["event.author.id", "context.user_id"]}},
        ]
    }
    assert (event("n") >= 3).spec == {"ge": ["event.n", {"value": 3}]}
    assert (event("level").is_in(["info", "warn"])).spec == {
        "in": ["event.level", {"value": ["info", "warn"]}]
    }
    assert value("admin").is_in(context("roles")).spec == {"in": [{"value": "admin"}, "context.roles"]}
    assert event("a").exists().spec == {"exists": ["event.a"]}
    either = (event("a") == 1) | (event("b") != None)  # noqa: E711
    assert either.spec == {"or": [{"eq": ["event.a", {"value": 1}]}, {"ne": ["event.b", {"value": None}]}]}
    assert not_(event("a") < 1).spec == {"not": {"lt": ["event.a", {"value": 1}]}}


def test_filters_compare_by_spec_and_refuse_truthiness() -> None:
    assert Filter({"eq": ["event.a", {"value": 1}]}).spec == (event("a") == 1).spec
    with pytest.raises(TypeError, match=r"combine filters with &, \| and ~"):
        bool(event("a") == 1)
    with pytest.raises(ValueError, match="invalid path"):
        event("a..b")
    with pytest.raises(ValueError, match="at least one"):
        all_of()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"like": ["event.a", {"value": "x"}]}, "unknown filter operator"),
        ({"eq": ["room", "args.room"]}, "must start with event., context. or args."),
        ({"eq": ["event.a"]}, "list of 2"),
        ({"and": []}, "non-empty list"),
    ],
)
def test_a_malformed_filter_is_refused_where_the_field_is_declared(
    spec: dict[str, Any], message: str
) -> None:
    manager = SubscriptionManager()
    with pytest.raises(ConfigurationError, match=message):
        manager.add_field("feed", filter=Filter(spec))
    with pytest.raises(TypeError, match=r"must be a fraiseql\.subscriptions\.filters\.Filter or a callable"):
        manager.add_field("feed", filter="event.a == 1")  # type: ignore[arg-type]


def test_filter_inputs_are_never_ignored() -> None:
    executor = SubscriptionManager().executor
    with pytest.raises(ConfigurationError, match="without a filter"):
        executor.register_subscription("c", "s", "subscription { a }", filter_inputs={"context": {}})
    compiled = CompiledFilter((event("a") == arg("a")).spec)
    with pytest.raises(ConfigurationError, match='not "arguments"'):
        executor.register_subscription(
            "c", "s", "subscription { a }", filter=compiled, filter_inputs={"arguments": {}}
        )
    assert executor.get_metrics()["active_subscriptions"] == 0


def test_a_filter_reads_the_event_the_context_and_the_arguments() -> None:
    manager = SubscriptionManager()
    manager.add_field(
        "messageAdded",
        channel="room:{room}",
        filter=(event("room") == arg("room"))
        & (event("author") != context("user_id"))
        & any_of(event("team") == context("data.team"), value("admin").is_in(context("roles"))),
    )
    query = 'subscription { messageAdded(room: "lobby") { text } }'
    manager.subscribe("ann", "s", query, None, None, ANN)
    manager.subscribe("bob", "s", query, None, None, BOB)
    for text, author, team in [
        ("from ann", "ann", "red"),
        ("red team", "eve", "red"),
        ("blue team", "eve", "blue"),
    ]:
        manager.executor.publish_event(
            "e",
            "room:lobby",
            {"room": "lobby", "text": text, "author": author, "team": team},
            tenant_id="acme",
        )
    assert received(manager, "ann") == [{"messageAdded": {"text": "red team"}}]
    assert received(manager, "bob") == [
        {"messageAdded": {"text": "from ann"}},
        {"messageAdded": {"text": "red team"}},
        {"messageAdded": {"text": "blue team"}},
    ]
    assert manager.executor.get_metrics()["events_filtered_by_filter"] == 2


def test_ids_compare_across_integer_and_text() -> None:
    manager = SubscriptionManager()
    manager.add_field("mine", filter=event("owner") == context("user_id"))
    manager.subscribe("c", "s", "subscription { mine { n } }", None, None, ConnectionContext(user_id=7))
    for n, owner in enumerate([7, "7", "07", 8, None]):
        manager.executor.publish_event("e", "mine", {"n": n, "owner": owner})
    assert received(manager, "c") == [{"mine": {"n": 0}}, {"mine": {"n": 1}}]


def test_the_tenant_rule_applies_before_any_filter() -> None:
    manager = SubscriptionManager()
    manager.add_field("feed", filter=event("public") == True)  # noqa: E712
    manager.subscribe("c", "s", "subscription { feed { n } }", None, None, ANN)
    manager.executor.publish_event("e", "feed", {"n": 1, "public": True}, tenant_id="globex")
    manager.executor.publish_event("e", "feed", {"n": 2, "public": True}, tenant_id="acme")
    assert received(manager, "c") == [{"feed": {"n": 2}}]
    metrics = manager.executor.get_metrics()
    assert (metrics["events_filtered_out"], metrics["events_filtered_by_filter"]) == (1, 0)


def test_subscribers_sharing_a_document_share_one_serialization_through_a_filter() -> None:
    manager = SubscriptionManager()
    manager.add_field("feed", filter=event("owner") == context("user_id"))
    users = [f"user{index}" for index in range(50)]
    for user in users:
        manager.subscribe(
            user, "s", "subscription { feed { n } }", None, None, ConnectionContext(user_id=user)
        )
    for n in range(10):
        manager.executor.publish_event("e", "feed", {"n": n, "owner": users[n]})
    assert all(
        received(manager, user) == ([{"feed": {"n": index}}] if index < 10 else [])
        for index, user in enumerate(users)
    )
    metrics = manager.executor.get_metrics()
    assert metrics["active_groups"] == 1
    assert metrics["payloads_serialized"] == 10, "once per event, not per subscriber"
    assert metrics["events_filtered_by_filter"] == 10 * 49


def test_the_filter_context_holds_json_data_only() -> None:
    data: dict[Any, Any] = {"team": "red", "session": object(), 3: "x"}
    view = ConnectionContext(user_id="ann", data=data).filter_view()
    assert view == {"user_id": "ann", "tenant_id": None, "scopes": [], "roles": [], "data": {"team": "red"}}


def test_a_python_predicate_is_the_slower_escape_hatch() -> None:
    manager = SubscriptionManager()
    calls: list[str | int | None] = []

    def same_team(data: dict[str, Any], viewer: ConnectionContext, arguments: dict[str, Any]) -> bool:
        calls.append(viewer.user_id)
        return bool(data["team"] == viewer.data["team"] and data["room"] == arguments["room"])

    manager.add_field("messageAdded", channel="room:{room}", filter=same_team)
    query = 'subscription { messageAdded(room: "lobby") { text } }'
    manager.subscribe("ann1", "s", query, None, None, ANN)
    manager.subscribe("ann2", "s", query, None, None, ANN)
    manager.subscribe("bob", "s", query, None, None, BOB)
    manager.executor.publish_event(
        "e", "room:lobby", {"room": "lobby", "team": "red", "text": "hi"}, tenant_id="acme"
    )
    assert sorted(map(str, calls)) == ["ann", "bob"], (
        "once per event and distinct context, not per subscriber"
    )
    assert received(manager, "ann1") == received(manager, "ann2") == [{"messageAdded": {"text": "hi"}}]
    assert received(manager, "bob") == []


def test_a_python_predicate_that_raises_fails_closed(caplog: pytest.LogCaptureFixture) -> None:
    manager = SubscriptionManager()

    def broken(data: dict[str, Any], viewer: ConnectionContext, arguments: dict[str, Any]) -> bool:
        if data.get("explode"):
            raise KeyError("oops")
        return True

    manager.add_field("feed", filter=broken)
    manager.subscribe("c", "s", "subscription { feed { n } }", None, None, ANN)
    with caplog.at_level(logging.ERROR, logger="fraiseql.subscriptions"):
        manager.executor.publish_event("e", "feed", {"n": 1, "explode": True}, tenant_id="acme")
        manager.executor.publish_event("e", "feed", {"n": 2}, tenant_id="acme")
    assert received(manager, "c") == [{"feed": {"n": 2}}], "no frame, no error: the event is skipped"
    errors = [record.__dict__["event"] for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == ["filter.failed"]


async def test_an_async_predicate_and_resolver_run_on_the_loop() -> None:
    manager = SubscriptionManager()

    async def allowed(data: dict[str, Any], viewer: ConnectionContext, arguments: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        return bool(data["n"] % 2)

    @manager.subscription(filter=allowed)
    async def odd(data: dict[str, Any]) -> dict[str, Any]:
        return {"n": data["n"] * 10}

    manager.subscribe("c", "s", "subscription { odd { n } }", None, None, ANN)
    for n in range(4):
        await manager.publish("odd", {"n": n}, tenant_id="acme")
    frames = await asyncio.wait_for(manager.executor.wait_for_frames("c"), 5)
    while len(frames) < 2:
        frames += await asyncio.wait_for(manager.executor.wait_for_frames("c"), 5)
    assert [decode(frame)["payload"]["data"] for frame in frames] == [{"odd": {"n": 10}}, {"odd": {"n": 30}}]


def test_a_resolver_may_skip_an_event() -> None:
    manager = SubscriptionManager()

    @manager.subscription
    def quiet(data: dict[str, Any]) -> Any:
        return SKIP if data.get("noise") else data

    manager.subscribe("c", "s", "subscription { quiet { n } }", None, None, ANN)
    manager.executor.publish_event("e", "quiet", {"n": 1, "noise": True}, tenant_id="acme")
    manager.executor.publish_event("e", "quiet", {"n": 2}, tenant_id="acme")
    assert received(manager, "c") == [{"quiet": {"n": 2}}]
