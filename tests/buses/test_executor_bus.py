"""Executors on a Redis or a PostgreSQL bus, in one test process: events published by one reach
the subscribers of another, resolvers run for events read from the bus, publishing waits for the
bus (bounded) and fails plainly when it cannot, errors at start-up are clear."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fraiseql.subscriptions import (
    BusClosedError,
    BusConnectionError,
    ConfigurationError,
    PublishTimeoutError,
    PyEventBusConfig,
    PySubscriptionExecutor,
    SubscriptionConfig,
    SubscriptionManager,
)
from tests.buses.services import BUSES, bus_config, drop_bus, kill_bus_reader, sql, unique
from tests.conftest import decode

QUERY = "subscription { tick { who n } }"
PATIENCE = 30.0


@pytest.fixture(params=BUSES)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def name(kind: str) -> Iterator[str]:
    """The Redis group or PostgreSQL table of this test's bus (removed afterwards)."""
    value = unique("fraiseql_test")
    yield value
    drop_bus(kind, value)


def wait_for_frame(executor: PySubscriptionExecutor, subscription: str) -> dict[str, Any]:
    """The next frame of ``subscription`` (a plain script's way: ``next_event`` until one comes)."""
    deadline = time.monotonic() + PATIENCE
    while (frame := executor.next_event(subscription)) is None:
        assert time.monotonic() < deadline, "no frame arrived"
        time.sleep(0.01)
    return decode(frame)


def test_events_reach_the_subscribers_of_every_executor(kind: str, name: str) -> None:
    first, second = (
        PySubscriptionExecutor(bus_config(kind, name)),
        PySubscriptionExecutor(bus_config(kind, name)),
    )
    first.register_subscription("c", "s", QUERY)
    second.register_subscription(
        "c", "s", QUERY, resolver=lambda event: {**event, "who": event["who"].upper()}
    )
    first.publish_event("tick", "tick", {"who": "ann", "n": 1})
    # Dispatched here before publish_event returned, like the in-memory bus.
    assert decode(first.next_event("s"))["payload"] == {"data": {"tick": {"who": "ann", "n": 1}}}
    assert wait_for_frame(second, "s")["payload"] == {"data": {"tick": {"who": "ANN", "n": 1}}}
    metrics = second.get_metrics()
    assert metrics["bus_state"] == "connected"
    assert (metrics["bus_events_received"], metrics["resolver_calls"]) == (1, 1)
    assert first.get_metrics()["bus_events_published"] == 1


def test_tenants_and_targets_cross_the_bus(kind: str, name: str) -> None:
    publisher, receiver = (
        PySubscriptionExecutor(bus_config(kind, name)),
        PySubscriptionExecutor(bus_config(kind, name)),
    )
    receiver.register_subscription("a", "s", QUERY, tenant_id="t1", user_id=7)
    receiver.register_subscription("b", "s", QUERY, tenant_id="t2")
    publisher.publish_event("tick", "tick", {"who": "other", "n": 0}, tenant_id="t2")
    publisher.publish_event("tick", "tick", {"who": "x", "n": 1, "tenant_id": "t1", "user_id": 7})
    publisher.publish_event("tick", "tick", {"who": "all", "n": 2}, global_event=True)
    deadline = time.monotonic() + PATIENCE
    while receiver.get_metrics()["bus_events_received"] < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    a = [decode(frame)["payload"]["data"]["tick"]["who"] for frame in receiver.drain_frames("a")]
    b = [decode(frame)["payload"]["data"]["tick"]["who"] for frame in receiver.drain_frames("b")]
    assert (a, b) == (["x", "all"], ["other", "all"])


async def test_publishing_from_a_coroutine_frees_the_loop(kind: str, name: str) -> None:
    config = SubscriptionConfig(bus=bus_config(kind, name))
    publisher, receiver = SubscriptionManager(config), SubscriptionManager(config)
    ran_on: list[asyncio.AbstractEventLoop] = []

    async def tick(event: dict[str, Any]) -> dict[str, Any]:
        ran_on.append(asyncio.get_running_loop())
        return {**event, "n": event["n"] * 10}

    receiver.add_field("tick", tick)
    receiver.executor.open_connection("c")
    receiver.executor.register_subscription("c", "s", QUERY, resolver=tick)
    await publisher.publish("tick", {"who": "async", "n": 4})
    frames = await asyncio.wait_for(receiver.executor.wait_for_frames("c"), PATIENCE)
    assert decode(frames[0])["payload"] == {"data": {"tick": {"who": "async", "n": 40}}}
    assert ran_on == [asyncio.get_running_loop()]
    await publisher.shutdown()
    await receiver.shutdown()
    with pytest.raises(BusClosedError):
        await publisher.publish("tick", {"who": "late", "n": 0})
    assert publisher.executor.get_metrics()["bus_state"] == "stopped"


def test_a_cut_reader_reconnects_and_logs_it(kind: str, name: str, caplog: pytest.LogCaptureFixture) -> None:
    publisher, receiver = (
        PySubscriptionExecutor(bus_config(kind, name)),
        PySubscriptionExecutor(bus_config(kind, name)),
    )
    receiver.register_subscription("c", "s", QUERY)
    assert receiver.bus_id is not None
    with caplog.at_level(logging.INFO, logger="fraiseql.subscriptions"):
        assert kill_bus_reader(kind, receiver.bus_id) == 1
        for n in range(20):
            publisher.publish_event("tick", "tick", {"who": "p", "n": n})
        received = [wait_for_frame(receiver, "s")["payload"]["data"]["tick"]["n"] for _ in range(20)]
    assert received == list(range(20))
    events = [record.__dict__.get("event") for record in caplog.records]
    assert "bus.disconnected" in events
    assert "bus.reconnected" in events
    assert receiver.get_metrics()["bus_reconnects"] >= 1


def test_start_up_errors_are_clear(kind: str) -> None:
    if kind == "redis":
        config = PyEventBusConfig.redis("redis://:secret@127.0.0.1:1/0", "g", connect_timeout=2)
    else:
        config = PyEventBusConfig.postgresql("postgresql://me:secret@127.0.0.1:1/test", connect_timeout=2)
    with pytest.raises(BusConnectionError, match="cannot connect to the") as raised:
        PySubscriptionExecutor(config)
    assert "secret" not in str(raised.value)
    assert "refused" in str(raised.value).lower()
    assert isinstance(raised.value, ConnectionError)


def test_a_missing_database_is_named() -> None:
    config = PyEventBusConfig.postgresql("postgresql://127.0.0.1:5432/fraiseql_no_such_database")
    with pytest.raises(BusConnectionError, match='database "fraiseql_no_such_database" does not exist'):
        PySubscriptionExecutor(config)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server for a private Redis")
def test_publishing_during_an_outage_fails_in_bounded_time_and_recovers() -> None:
    port = _free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + PATIENCE
        while subprocess.run(["redis-cli", "-u", url, "ping"], capture_output=True, check=False).returncode:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        executor = PySubscriptionExecutor(PyEventBusConfig.redis(url, "outage", publish_timeout=0.5))
        executor.register_subscription("c", "s", QUERY)
        executor.publish_event("tick", "tick", {"who": "o", "n": 0})
        server.terminate()
        server.wait(10)
        with pytest.raises(PublishTimeoutError, match="may still be published"):
            executor.publish_event("tick", "tick", {"who": "o", "n": 1})
        assert executor.get_metrics()["bus_publish_timeouts"] == 1
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                executor.publish_event("tick", "tick", {"who": "o", "n": 2})
                break
            except PublishTimeoutError:
                assert time.monotonic() < deadline, "the bus did not come back"
        received = [decode(frame)["payload"]["data"]["tick"]["n"] for frame in executor.drain_frames("c")]
        while 2 not in received:
            assert time.monotonic() < deadline
            received += [wait_for_frame(executor, "s")["payload"]["data"]["tick"]["n"]]
        assert received[0] == 0
    finally:
        server.terminate()
        server.wait(10)


def test_a_large_payload_and_a_row_written_by_plain_sql(name: str) -> None:
    executor = PySubscriptionExecutor(bus_config("postgresql", name))
    executor.register_subscription("c", "big", "subscription { tick { blob } }")
    executor.publish_event("tick", "tick", {"blob": "x" * 100_000})
    assert len(decode(executor.next_event("big"))["payload"]["data"]["tick"]["blob"]) == 100_000

    orders = unique("orders")
    sql(f'CREATE TABLE "{orders}" (id int PRIMARY KEY, status text)')
    try:
        executor.install_change_trigger(orders, "order:{id}")
        executor.register_subscription(
            "c", "order", "subscription { orderChanged { id status } }", channel="order:7", resolver=None
        )
        sql(f"INSERT INTO \"{orders}\" VALUES (7, 'new'); UPDATE \"{orders}\" SET status = 'paid'")
        frames = [wait_for_frame(executor, "order")["payload"]["data"]["orderChanged"] for _ in range(2)]
        assert frames == [{"id": 7, "status": "new"}, {"id": 7, "status": "paid"}]
    finally:
        sql(f'DROP TABLE "{orders}"')


def test_change_triggers_need_a_postgresql_bus() -> None:
    with pytest.raises(ConfigurationError, match="PostgreSQL bus"):
        PySubscriptionExecutor().install_change_trigger("orders", "orders")


def test_the_sql_is_there_for_a_migration_of_your_own() -> None:
    config = PyEventBusConfig.postgresql("postgresql://db/app", table="app.events")
    ddl = config.events_table_sql()
    assert 'CREATE TABLE IF NOT EXISTS "app"."events"' in ddl
    trigger = config.change_trigger_sql("orders", "order:{id}", ["INSERT"])
    assert 'AFTER INSERT ON "orders"' in trigger
    with pytest.raises(ValueError, match="unknown operation"):
        config.change_trigger_sql("orders", "x", ["TRUNCATE"])
    assert json.dumps(config.retention) == "3600.0"
