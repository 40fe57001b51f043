"""Frame delivery: awaiting frames without polling, draining, overflow, closing."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fraiseql.subscriptions import ConnectionClosedError, ConnectionNotFoundError, PySubscriptionExecutor
from tests.conftest import decode


async def test_writer_sleeps_until_a_frame_is_queued(executor: PySubscriptionExecutor) -> None:
    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a }")
    waiting = asyncio.ensure_future(executor.wait_for_frames("c"))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    executor.publish_event("e", "a", 1)
    executor.publish_event("e", "a", 2)
    frames = await asyncio.wait_for(waiting, 5)
    assert [decode(frame)["payload"]["data"]["a"] for frame in frames] == [1, 2]


async def test_frames_already_queued_are_returned_at_once(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "s", "subscription { a }")
    executor.publish_event("e", "a", 1)
    frames = await executor.wait_for_frames("c")
    assert len(frames) == 1
    assert executor.get_metrics()["frames_delivered"] == 1


async def test_publishing_from_another_thread_wakes_the_writer(executor: PySubscriptionExecutor) -> None:
    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a }")
    waiting = executor.wait_for_frames("c")
    thread = threading.Thread(target=executor.publish_event, args=("e", "a", "from thread"))
    thread.start()
    frames = await asyncio.wait_for(waiting, 5)
    thread.join()
    assert decode(frames[0])["payload"]["data"]["a"] == "from thread"


async def test_closing_wakes_the_writer_with_an_error(executor: PySubscriptionExecutor) -> None:
    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a }")
    waiting = executor.wait_for_frames("c")
    assert executor.close_connection("c") == 1
    with pytest.raises(ConnectionClosedError, match='connection "c" is closed'):
        await asyncio.wait_for(waiting, 5)
    with pytest.raises(ConnectionNotFoundError):
        executor.wait_for_frames("c")


async def test_many_connections_wait_at_once(executor: PySubscriptionExecutor) -> None:
    for index in range(200):
        executor.open_connection(f"c{index}")
        executor.register_subscription(f"c{index}", "s", "subscription { a }")
    waiters = [executor.wait_for_frames(f"c{index}") for index in range(200)]
    executor.publish_event("e", "a", 7)
    results = await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert all(len(frames) == 1 for frames in results)


async def test_a_cancelled_wait_loses_no_frame(executor: PySubscriptionExecutor) -> None:
    executor.open_connection("c")
    executor.register_subscription("c", "s", "subscription { a }")
    executor.wait_for_frames("c").cancel()
    executor.publish_event("e", "a", 1)
    await asyncio.sleep(0.01)
    frames = await asyncio.wait_for(executor.wait_for_frames("c"), 5)
    assert len(frames) == 1


async def test_completing_the_last_subscription_of_an_implicit_connection_closes_it(
    executor: PySubscriptionExecutor,
) -> None:
    executor.register_subscription("c", "s", "subscription { a }")
    waiting = executor.wait_for_frames("c")
    executor.complete_subscription("s")
    with pytest.raises(ConnectionClosedError):
        await asyncio.wait_for(waiting, 5)


def test_wait_needs_a_running_loop(executor: PySubscriptionExecutor) -> None:
    executor.open_connection("c")
    with pytest.raises(RuntimeError, match="running on an asyncio loop"):
        executor.wait_for_frames("c")


def test_drain_frames_in_order_with_a_limit(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "a", "subscription { x }")
    executor.register_subscription("c", "b", "subscription { x }")
    for value in range(3):
        executor.publish_event("e", "x", value)
    frames = [decode(frame) for frame in executor.drain_frames("c", max_frames=4)]
    assert [(f["id"], f["payload"]["data"]["x"]) for f in frames] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert len(executor.drain_frames("c")) == 2


def test_drop_oldest_overflow() -> None:
    executor = PySubscriptionExecutor(max_queued_frames=3)
    executor.register_subscription("c", "s", "subscription { a }")
    for value in range(10):
        executor.publish_event("e", "a", value)
    values = [decode(frame)["payload"]["data"]["a"] for frame in executor.drain_frames("c")]
    assert values == [7, 8, 9]
    assert executor.get_metrics()["frames_dropped_overflow"] == 7


def test_drop_newest_overflow() -> None:
    executor = PySubscriptionExecutor(max_queued_frames=3, overflow="drop_newest")
    executor.register_subscription("c", "s", "subscription { a }")
    for value in range(10):
        executor.publish_event("e", "a", value)
    values = [decode(frame)["payload"]["data"]["a"] for frame in executor.drain_frames("c")]
    assert values == [0, 1, 2]
    assert executor.get_metrics()["frames_dropped_overflow"] == 7


def test_a_slow_connection_does_not_affect_others() -> None:
    executor = PySubscriptionExecutor(max_queued_frames=2)
    executor.register_subscription("slow", "s", "subscription { a }")
    executor.register_subscription("fast", "s", "subscription { a }")
    for value in range(5):
        executor.publish_event("e", "a", value)
        assert executor.next_event("s", connection_id="fast") is not None
    assert len(executor.drain_frames("slow")) == 2


def test_completed_subscription_frames_are_forgotten(executor: PySubscriptionExecutor) -> None:
    executor.open_connection("c")
    executor.register_subscription("c", "gone", "subscription { a }")
    executor.register_subscription("c", "kept", "subscription { a }")
    executor.publish_event("e", "a", 1)
    executor.complete_subscription("gone")
    assert [decode(frame)["id"] for frame in executor.drain_frames("c")] == ["kept"]
