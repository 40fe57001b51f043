"""Sync resolvers never block the loop: events published on a running loop have their sync
resolvers run in worker threads, one call at a time per group; the timeout still applies, and
slow calls are logged once per field and interval."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import pytest

from fraiseql.subscriptions import PySubscriptionExecutor, _logging, _loop_bridge
from tests.conftest import decode

TIMEOUT = 5.0


async def next_payloads(
    executor: PySubscriptionExecutor, connection: str, count: int
) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    while len(received) < count:
        frames = await asyncio.wait_for(executor.wait_for_frames(connection), TIMEOUT)
        received.extend(decode(frame) for frame in frames)
    return received


async def test_a_blocked_sync_resolver_delays_only_its_own_group() -> None:
    executor = PySubscriptionExecutor()
    release = threading.Event()
    threads: list[str] = []

    def blocked(event: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        release.wait(TIMEOUT)
        return event

    def quick(event: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return event

    for connection, resolver in (("slow", blocked), ("fast", quick)):
        executor.open_connection(connection)
        executor.register_subscription(connection, "s", "subscription { a { n } }", resolver=resolver)
    executor.publish_event("e", "a", {"n": 1})  # returns at once: nothing ran on the loop
    fast = await next_payloads(executor, "fast", 1)
    assert fast[0]["payload"] == {"data": {"a": {"n": 1}}}
    assert executor.drain_frames("slow") == [], "the blocked group has not answered yet"
    release.set()
    slow = await next_payloads(executor, "slow", 1)
    assert slow[0]["payload"] == {"data": {"a": {"n": 1}}}
    assert threading.current_thread().name not in threads
    assert all(name.startswith("fraiseql-resolver") for name in threads)


async def test_calls_of_one_group_run_one_at_a_time_in_publish_order() -> None:
    executor = PySubscriptionExecutor()
    running = 0
    most_at_once = 0
    lock = threading.Lock()

    def resolver(event: dict[str, Any]) -> dict[str, Any]:
        nonlocal running, most_at_once
        with lock:
            running += 1
            most_at_once = max(most_at_once, running)
        time.sleep(0.001)
        with lock:
            running -= 1
        return event

    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=resolver)
    for n in range(20):
        executor.publish_event("e", "a", {"n": n})
    payloads = await next_payloads(executor, "c", 20)
    assert [p["payload"]["data"]["a"]["n"] for p in payloads] == list(range(20))
    assert most_at_once == 1


async def test_inline_mode_runs_sync_resolvers_in_the_publishing_thread() -> None:
    executor = PySubscriptionExecutor(sync_resolvers="inline")
    assert executor.sync_resolvers == "inline"
    threads: list[threading.Thread] = []

    def resolver(event: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread())
        return event

    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=resolver)
    executor.publish_event("e", "a", {"n": 1})
    assert threads == [threading.current_thread()], "called before publish_event returned"
    assert decode(executor.next_event("s"))["payload"] == {"data": {"a": {"n": 1}}}


async def test_the_timeout_applies_in_threads_and_the_group_goes_on() -> None:
    executor = PySubscriptionExecutor(resolver_timeout=0.05)
    release = threading.Event()

    def resolver(event: dict[str, Any]) -> dict[str, Any]:
        if event["n"] == 0:
            release.wait(TIMEOUT)
        return event

    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=resolver)
    executor.publish_event("e", "a", {"n": 0})
    executor.publish_event("e", "a", {"n": 1})  # waits behind the hung call, and times out there
    payloads = await next_payloads(executor, "c", 2)
    codes = [p["payload"]["errors"][0]["extensions"]["code"] for p in payloads]
    assert codes == ["RESOLVER_TIMEOUT", "RESOLVER_TIMEOUT"]
    assert all(p["payload"]["data"] == {"a": None} for p in payloads)
    release.set()
    executor.publish_event("e", "a", {"n": 2})
    (after,) = await next_payloads(executor, "c", 1)
    assert after["payload"] == {"data": {"a": {"n": 2}}}
    metrics = executor.get_metrics()
    assert (metrics["resolver_timeouts"], metrics["pending_resolver_jobs"]) == (2, 0)


async def test_a_raising_sync_resolver_in_a_thread_is_a_field_error() -> None:
    executor = PySubscriptionExecutor()

    def resolver(event: dict[str, Any]) -> dict[str, Any]:
        raise LookupError("gone")

    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=resolver)
    executor.publish_event("e", "a", {"n": 1})
    (message,) = await next_payloads(executor, "c", 1)
    assert message["payload"]["errors"][0]["message"] == 'Resolver for "a" failed.'


async def test_a_sync_callable_returning_a_coroutine_is_awaited_on_the_loop() -> None:
    executor = PySubscriptionExecutor()
    loop = asyncio.get_running_loop()
    ran_on: list[asyncio.AbstractEventLoop] = []

    async def later(event: dict[str, Any]) -> dict[str, Any]:
        ran_on.append(asyncio.get_running_loop())
        return {"n": event["n"] + 1}

    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=lambda event: later(event))
    executor.publish_event("e", "a", {"n": 1})
    (message,) = await next_payloads(executor, "c", 1)
    assert message["payload"] == {"data": {"a": {"n": 2}}}
    assert ran_on == [loop]


def test_slow_calls_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    executor = PySubscriptionExecutor(slow_resolver_threshold=0.001)
    assert executor.slow_resolver_threshold == 0.001

    def slow(event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.005)
        return event

    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=slow)
    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        for n in range(3):
            executor.publish_event("e", "a", {"n": n})
    slow_records = [r for r in caplog.records if r.__dict__.get("event") == "resolver.slow"]
    assert len(slow_records) == 1, "once per field and interval"
    assert slow_records[0].__dict__["field"] == "a"
    assert "resolver for 'a' took" in slow_records[0].getMessage()


def test_no_slow_log_without_a_threshold(caplog: pytest.LogCaptureFixture) -> None:
    executor = PySubscriptionExecutor(slow_resolver_threshold=None)

    def slow(event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.002)
        return event

    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=slow)
    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        executor.publish_event("e", "a", {"n": 1})
    assert not caplog.records


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("sync_resolvers", "process", 'sync_resolvers must be "thread" or "inline"'),
        ("sync_resolver_threads", 0, "sync_resolver_threads must be at least 1"),
        ("slow_resolver_threshold", -1.0, "slow_resolver_threshold must be a positive number"),
    ],
)
def test_bad_settings_are_refused(setting: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PySubscriptionExecutor(**{setting: value})  # type: ignore[arg-type]


def test_resolver_errors_are_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    monkeypatch.setattr(_loop_bridge, "_errors", _logging.EveryInterval(60.0, clock=lambda: clock[0]))
    executor = PySubscriptionExecutor()

    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("down")

    executor.register_subscription("c", "s", "subscription { a { n } }", resolver=broken)
    with caplog.at_level(logging.ERROR, logger="fraiseql.subscriptions"):
        for _ in range(5):
            executor.publish_event("e", "a", {"n": 1})
        clock[0] = 61.0
        executor.publish_event("e", "a", {"n": 1})
    records = [r for r in caplog.records if r.__dict__.get("event") == "resolver.failed"]
    assert len(records) == 2
    assert records[0].exc_info is not None, "the first record carries the traceback"
    assert records[1].__dict__["held_back"] == 4
    assert "(4 more since the last such record)" in records[1].getMessage()
    assert len(executor.drain_frames("c")) == 6, "every event still got its error"
