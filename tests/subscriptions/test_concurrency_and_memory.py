"""Several Python threads at once, and memory after many subscriptions come and go."""

from __future__ import annotations

import gc
import json
import resource
import threading
from pathlib import Path

from fraiseql.subscriptions import PySubscriptionExecutor, SubscriptionNotFoundError


def rss_bytes() -> int:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * resource.getpagesize()


def test_concurrent_publishing_while_subscriptions_come_and_go() -> None:
    executor = PySubscriptionExecutor(max_queued_frames=100_000)
    for index in range(50):
        executor.register_subscription("stable", f"s{index}", "subscription { a { n } }")
    errors: list[BaseException] = []

    def publisher(offset: int) -> None:
        try:
            for n in range(300):
                executor.publish_event("e", "a", {"n": offset + n})
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    def churn(worker: int) -> None:
        try:
            for n in range(300):
                sub_id = f"w{worker}-{n}"
                executor.register_subscription(f"churn{worker}", sub_id, "subscription { a { n } }")
                if n % 3 == 0:
                    executor.register_resolver(sub_id, lambda event, variables: event)
                executor.next_event(sub_id, connection_id=f"churn{worker}")
                executor.complete_subscription(sub_id, connection_id=f"churn{worker}")
        except SubscriptionNotFoundError:
            pass
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=publisher, args=(k * 1000,)) for k in range(3)]
    threads += [threading.Thread(target=churn, args=(k,)) for k in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    frames = executor.drain_frames("stable")
    assert len(frames) == 900 * 50
    metrics = executor.get_metrics()
    assert metrics["active_subscriptions"] == 50
    assert metrics["active_connections"] == 1
    # Per subscription, each publisher's events arrive in the order it sent them.
    values = [json.loads(frame)["payload"]["data"]["a"]["n"] for frame in frames if b'"id":"s0"' in frame]
    assert len(values) == 900
    for offset in (0, 1000, 2000):
        mine = [value for value in values if offset <= value < offset + 1000]
        assert mine == list(range(offset, offset + 300))


def cycle(executor: PySubscriptionExecutor, count: int) -> None:
    for index in range(count):
        executor.register_subscription(f"c{index % 1000}", f"s{index}", "subscription { users { id name } }")
    executor.publish_event("e", "users", {"id": 1, "name": "n"})
    for index in range(count):
        executor.complete_subscription(f"s{index}", connection_id=f"c{index % 1000}")


def test_100k_subscriptions_registered_and_completed_return_memory() -> None:
    executor = PySubscriptionExecutor()
    gc.collect()
    start = rss_bytes()
    cycle(executor, 100_000)
    gc.collect()
    after_first = rss_bytes()
    cycle(executor, 100_000)
    gc.collect()
    after_second = rss_bytes()
    metrics = executor.get_metrics()
    assert (metrics["active_subscriptions"], metrics["active_connections"], metrics["active_groups"]) == (
        0,
        0,
        0,
    )
    mib = 1024 * 1024
    # 100,000 live subscriptions take tens of MiB; freed, the process stays near its start,
    # and a second wave reuses the first one's memory instead of growing.
    assert after_first - start < 8 * mib, (start, after_first)
    assert after_second - after_first < 4 * mib, (after_first, after_second)
