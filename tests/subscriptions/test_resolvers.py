"""Python resolvers: sync and async, shared per group, errors, timeouts."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from fraiseql.subscriptions import PySubscriptionExecutor
from tests.conftest import decode


def test_register_resolver_refuses_non_callables(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "s", "subscription { a }")
    with pytest.raises(TypeError, match="resolver must be callable, not int"):
        executor.register_resolver("s", 3)  # type: ignore[arg-type]


def test_register_resolver_for_unknown_subscription(executor: PySubscriptionExecutor) -> None:
    with pytest.raises(KeyError):
        executor.register_resolver("missing", lambda event, variables: event)
    assert executor.get_metrics()["registered_resolvers"] == 0


def test_sync_resolver_gets_event_and_variables(executor: PySubscriptionExecutor) -> None:
    calls: list[tuple[Any, Any]] = []

    def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        calls.append((event, variables))
        return {"id": event["id"], "room": variables["room"], "secret": "hidden"}

    query = "subscription($room: String!) { messageAdded(room: $room) { id room } }"
    sub_id = executor.register_subscription("c", "s", query, variables={"room": "r1"})
    executor.register_resolver(sub_id, resolver)
    executor.publish_event("e", "messageAdded", {"id": 1})
    assert calls == [({"id": 1}, {"room": "r1"})]
    assert decode(executor.next_event("s"))["payload"] == {"data": {"messageAdded": {"id": 1, "room": "r1"}}}


def test_seed_phase3_resolver_example(executor: PySubscriptionExecutor) -> None:
    call_count = 0

    def test_resolver(event_data: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        nonlocal call_count
        call_count += 1
        return {"id": event_data.get("id"), "transformed": True, "call_count": call_count}

    sub_id = executor.register_subscription(
        "conn1", "sub1", "subscription { test { id transformed } }", None, {}, user_id=1, tenant_id=1
    )
    executor.register_resolver(sub_id, test_resolver)
    executor.publish_event("test", "test", {"user_id": 1, "tenant_id": 1, "id": "123"})
    assert call_count == 1
    executor.publish_event("test", "test", {"user_id": 1, "tenant_id": 1, "id": "456"})
    assert call_count == 2
    assert decode(executor.next_event("sub1"))["payload"] == {
        "data": {"test": {"id": "123", "transformed": True}}
    }


def test_resolver_runs_once_per_group(executor: PySubscriptionExecutor) -> None:
    calls = 0

    def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return event

    for index in range(100):
        executor.register_subscription(f"c{index}", f"s{index}", "subscription { a { id } }", user_id="u")
        executor.register_resolver(f"s{index}", resolver)
    executor.publish_event("e", "a", {"id": 1})
    assert calls == 1
    assert executor.get_metrics()["payloads_serialized"] == 1
    assert all(executor.next_event(f"s{index}") is not None for index in range(100))


def test_different_users_share_the_call_and_keep_their_visibility(executor: PySubscriptionExecutor) -> None:
    calls = 0

    def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return event

    for user in ("u1", "u2", "u3"):
        executor.register_subscription(
            user, "s", "subscription { a { id } }", user_id=user, resolver=resolver
        )
    executor.publish_event("e", "a", {"id": 1})
    assert calls == 1, "the resolver sees only (event, variables): one call for every user"
    executor.publish_event("e", "a", {"id": 2, "user_id": "u2"})
    assert calls == 2
    assert len(executor.drain_frames("u1")) == 1
    assert len(executor.drain_frames("u2")) == 2


def test_resolver_given_at_registration(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription(
        "c", "s", "subscription { a { id } }", resolver=lambda event, variables: {"id": "redacted"}
    )
    executor.publish_event("e", "a", {"id": "secret"})
    assert decode(executor.next_event("s"))["payload"]["data"]["a"] == {"id": "redacted"}
    with pytest.raises(TypeError, match="resolver must be callable"):
        executor.register_subscription("c", "t", "subscription { a { id } }", resolver=5)  # type: ignore[arg-type]
    assert executor.get_metrics()["active_subscriptions"] == 1


def test_a_bad_result_is_an_error_of_its_own_group_only(executor: PySubscriptionExecutor) -> None:
    class Hostile:
        def __getattr__(self, name: str) -> Any:
            raise RuntimeError(f"no {name} here")

    executor.register_subscription("c", "a", "subscription { x { id } }", resolver=lambda e, v: Hostile())
    executor.register_subscription("c", "b", "subscription { x { id } }", resolver=lambda e, v: {"id": 1})
    executor.publish_event("e", "x", {})
    failed = decode(executor.next_event("a"))
    assert failed["payload"]["data"] == {"x": None}
    assert failed["payload"]["errors"][0]["extensions"]["code"] == "RESOLVER_ERROR"
    assert decode(executor.next_event("b"))["payload"]["data"]["x"] == {"id": 1}


def test_resolver_may_return_dataclasses(executor: PySubscriptionExecutor) -> None:
    @dataclass
    class User:
        id: int
        name: str
        password: str

    executor.register_subscription("c", "s", "subscription { users { id name } }")
    executor.register_resolver("s", lambda event, variables: User(event["id"], "Ann", "x"))
    executor.publish_event("e", "users", {"id": 3})
    assert decode(executor.next_event("s"))["payload"] == {"data": {"users": {"id": 3, "name": "Ann"}}}


def test_raising_resolver_is_a_field_error_and_the_stream_goes_on(
    executor: PySubscriptionExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        if event["id"] == 1:
            raise ValueError("database is down")
        return event

    executor.register_subscription("c", "bad", "subscription { a { id } }")
    executor.register_subscription("c", "good", "subscription { a { id } }")
    executor.register_resolver("bad", broken)
    with caplog.at_level(logging.ERROR, logger="fraiseql.subscriptions"):
        executor.publish_event("e", "a", {"id": 1, "raw": "never sent"})
    assert "resolver for 'a' failed" in caplog.text
    assert [record.__dict__["event"] for record in caplog.records] == ["resolver.failed"]
    frame = executor.next_event("bad")
    assert frame is not None
    assert b"never sent" not in frame
    message = decode(frame)
    assert message["type"] == "next"
    assert message["payload"] == {
        "data": {"a": None},
        "errors": [
            {
                "message": 'Resolver for "a" failed.',  # the exception's text is in the log only
                "locations": [{"line": 1, "column": 16}],
                "path": ["a"],
                "extensions": {"code": "RESOLVER_ERROR"},
            }
        ],
    }
    assert decode(executor.next_event("good"))["type"] == "next"
    executor.publish_event("e", "a", {"id": 2})
    assert decode(executor.next_event("bad"))["payload"] == {"data": {"a": {"id": 2}}}
    metrics = executor.get_metrics()
    assert (metrics["resolver_calls"], metrics["resolver_errors"]) == (2, 1)
    assert metrics["active_subscriptions"] == 2, "a field error ends nothing"


def test_a_field_error_of_a_non_null_root_field_makes_data_null() -> None:
    sdl = "type Query { ok: Int } type Item { id: ID! } type Subscription { item: Item! }"
    executor = PySubscriptionExecutor(schema_sdl=sdl)

    def resolver(event: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("id")

    executor.register_subscription("c", "s", "subscription { renamed: item { id } }", resolver=resolver)
    executor.publish_event("e", "item", {"id": "1"})
    payload = decode(executor.next_event("s"))["payload"]
    assert payload["data"] is None
    assert payload["errors"][0]["path"] == ["renamed"], "the path uses the alias"


def test_an_exception_with_graphql_extensions_keeps_them(executor: PySubscriptionExecutor) -> None:
    graphql = pytest.importorskip("graphql")

    def resolver(event: dict[str, Any]) -> dict[str, Any]:
        raise graphql.GraphQLError("Order 7 was deleted", extensions={"code": "NOT_FOUND", "order": 7})

    executor.register_subscription("c", "s", "subscription { order { id } }", resolver=resolver)
    executor.publish_event("e", "order", {"id": 7})
    error = decode(executor.next_event("s"))["payload"]["errors"][0]
    assert (error["message"], error["extensions"]) == (
        "Order 7 was deleted",
        {"code": "NOT_FOUND", "order": 7},
    )


def test_end_stream_policy_ends_the_subscription_with_an_error() -> None:
    executor = PySubscriptionExecutor(resolver_errors="end_stream")
    assert executor.resolver_errors == "end_stream"

    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("database is down")

    executor.register_subscription("c", "bad", "subscription { a { id } }", resolver=broken)
    executor.publish_event("e", "a", {"id": 1, "raw": "never sent"})
    frame = executor.next_event("bad")
    assert frame is not None
    assert b"never sent" not in frame
    message = decode(frame)
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"] == {"code": "RESOLVER_ERROR"}
    metrics = executor.get_metrics()
    assert metrics["active_subscriptions"] == 0, "the failed subscription is freed once its error is taken"
    assert metrics["registered_resolvers"] == 0
    assert metrics["subscriptions_terminated_by_error"] == 1


def test_unknown_resolver_error_policy_is_refused() -> None:
    with pytest.raises(ValueError, match='resolver_errors must be "field_error" or "end_stream"'):
        PySubscriptionExecutor(resolver_errors="ignore")  # type: ignore[arg-type]


def test_unserializable_result_is_an_error(
    executor: PySubscriptionExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    executor.register_subscription("c", "s", "subscription { a { id } }")
    executor.register_resolver("s", lambda event, variables: {"id": {1, 2}})
    with caplog.at_level(logging.ERROR, logger="fraiseql.subscriptions"):
        executor.publish_event("e", "a", {"id": 1})
    error = decode(executor.next_event("s"))["payload"]["errors"][0]
    assert error["message"] == 'Resolver for "a" returned an unusable result.'
    assert "unsupported type 'set' at the resolver result[\"id\"]" in caplog.text


def test_slow_sync_resolver_times_out() -> None:
    executor = PySubscriptionExecutor(resolver_timeout=0.01)

    def slow(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.05)
        return event

    executor.register_subscription("c", "s", "subscription { a { id } }")
    executor.register_resolver("s", slow)
    executor.publish_event("e", "a", {"id": 1})
    error = decode(executor.next_event("s"))["payload"]["errors"][0]
    assert error["extensions"]["code"] == "RESOLVER_TIMEOUT"
    assert executor.get_metrics()["resolver_timeouts"] == 1


async def test_async_resolver_runs_on_the_running_loop() -> None:
    executor = PySubscriptionExecutor()
    loop = asyncio.get_running_loop()
    seen_loops: list[asyncio.AbstractEventLoop] = []

    async def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        seen_loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return {"id": event["id"] * 10}

    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a { id } }")
    executor.register_resolver("s", resolver)
    executor.publish_event("e", "a", {"id": 1})
    frames = await asyncio.wait_for(executor.wait_for_frames("c"), 5)
    assert decode(frames[0])["payload"] == {"data": {"a": {"id": 10}}}
    assert seen_loops == [loop]


async def test_async_results_keep_publish_order() -> None:
    executor = PySubscriptionExecutor()

    async def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        # Earlier events take longer: completion order is the reverse of publish order.
        await asyncio.sleep(0.02 * (5 - event["n"]))
        return event

    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a { n } }")
    executor.register_resolver("s", resolver)
    for n in range(5):
        executor.publish_event("e", "a", {"n": n})
    received: list[int] = []
    while len(received) < 5:
        frames = await asyncio.wait_for(executor.wait_for_frames("c"), 5)
        received.extend(decode(frame)["payload"]["data"]["a"]["n"] for frame in frames)
    assert received == [0, 1, 2, 3, 4]


async def test_async_resolver_timeout_and_error() -> None:
    executor = PySubscriptionExecutor(resolver_timeout=0.05)

    async def hangs(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(10)
        return event

    async def fails(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("nope")

    executor.open_connection("c")
    executor.register_subscription("c", "slow", "subscription { a { id } }")
    executor.register_subscription("c", "bad", "subscription { a { id } }")
    executor.register_resolver("slow", hangs)
    executor.register_resolver("bad", fails)
    executor.publish_event("e", "a", {"id": 1})
    codes: dict[str, str] = {}
    while len(codes) < 2:
        for frame in await asyncio.wait_for(executor.wait_for_frames("c"), 5):
            message = decode(frame)
            codes[message["id"]] = message["payload"]["errors"][0]["extensions"]["code"]
    assert codes == {"slow": "RESOLVER_TIMEOUT", "bad": "RESOLVER_ERROR"}
    metrics = executor.get_metrics()
    assert (metrics["resolver_timeouts"], metrics["resolver_errors"], metrics["pending_resolver_jobs"]) == (
        1,
        1,
        0,
    )


def test_async_resolver_from_a_plain_script(executor: PySubscriptionExecutor) -> None:
    async def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"id": "async"}

    executor.register_subscription("c", "s", "subscription { a { id } }")
    executor.register_resolver("s", resolver)
    executor.publish_event("e", "a", {"id": 1})
    assert decode(executor.next_event("s"))["payload"]["data"]["a"] == {"id": "async"}


async def test_async_resolver_of_a_thread_publish_runs_on_the_attached_loop() -> None:
    executor = PySubscriptionExecutor()
    loop = asyncio.get_running_loop()
    executor.attach_event_loop(loop)
    ran_on: list[asyncio.AbstractEventLoop] = []

    async def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        ran_on.append(asyncio.get_running_loop())
        return event

    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a { id } }")
    executor.register_resolver("s", resolver)
    thread = threading.Thread(target=executor.publish_event, args=("e", "a", {"id": 1}))
    thread.start()
    frames = await asyncio.wait_for(executor.wait_for_frames("c"), 5)
    thread.join()
    assert decode(frames[0])["payload"]["data"]["a"] == {"id": 1}
    assert ran_on == [loop]


def test_resolvers_are_released_with_their_subscriptions(executor: PySubscriptionExecutor) -> None:
    def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        return event

    for index in range(10):
        executor.register_subscription("c", f"s{index}", "subscription { a }")
        executor.register_resolver(f"s{index}", resolver)
    assert executor.get_metrics()["registered_resolvers"] == 1
    assert executor.close_connection("c") == 10
    assert executor.get_metrics()["registered_resolvers"] == 0


def test_exception_text_reaches_clients_only_when_exposed(caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("SELECT secret FROM users failed")

    def unusable(event: dict[str, Any]) -> object:
        return {"when": object()}

    messages = {}
    for expose in (False, True):
        executor = PySubscriptionExecutor(expose_resolver_errors=expose)
        assert executor.expose_resolver_errors is expose
        executor.open_connection("c")
        executor.register_subscription("c", "raises", "subscription { a { id } }", resolver=broken)
        executor.register_subscription("c", "unusable", "subscription { b { id } }", resolver=unusable)
        with caplog.at_level(logging.ERROR, logger="fraiseql.subscriptions"):
            executor.publish_event("e", "a", {"id": 1})
            executor.publish_event("e", "b", {"id": 1})
        frames = [executor.next_event(name) for name in ("raises", "unusable")]
        messages[expose] = [decode(frame)["payload"]["errors"][0]["message"] for frame in frames]
    assert messages[False] == ['Resolver for "a" failed.', 'Resolver for "b" returned an unusable result.']
    assert messages[True][0] == 'Resolver for "a" raised ValueError: SELECT secret FROM users failed'
    assert messages[True][1].startswith('Resolver for "b" returned an unusable result: ')
    # Either way the log has what happened.
    assert "SELECT secret FROM users failed" in caplog.text
    assert "object" in caplog.text
