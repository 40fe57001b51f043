"""Several server processes on one bus, over real sockets: two servers (``tests/buses/server.py``),
publisher processes (``tests/buses/publisher.py``) and WebSocket subscribers on both servers.
Every subscriber gets every event, each publisher's in order, no duplicates; a bus connection
cut in the middle of a stream loses nothing; on PostgreSQL, a row written by plain SQL reaches a
WebSocket subscriber through the change trigger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from fraiseql.subscriptions import PyEventBusConfig
from tests.buses.services import BUSES, POSTGRES_URL, drop_bus, kill_bus_reader, sql, unique

ROOT = Path(__file__).resolve().parents[2]
TICK = "subscription T($s: String!) { tick(stream: $s) { who n } }"
#: Generous bounds (never assertions on speed).
START_TIMEOUT = 30.0
DELIVERY_TIMEOUT = 180.0

pytestmark = pytest.mark.slow


@pytest.fixture(params=BUSES)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
async def name(kind: str) -> AsyncIterator[str]:
    value = unique("fraiseql_procs")
    yield value
    drop_bus(kind, value)


@dataclass
class Server:
    process: asyncio.subprocess.Process
    port: int
    bus_id: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def servers(kind: str, name: str, count: int) -> AsyncIterator[list[Server]]:
    started: list[Server] = []
    try:
        for _ in range(count):
            port = _free_port()
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.buses.server",
                "--bus",
                kind,
                "--name",
                name,
                "--port",
                str(port),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
            )
            assert process.stdout is not None
            line = (await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)).decode()
            assert line.startswith("READY "), f"the server did not start: {line!r}"
            started.append(Server(process, port, line.split()[1]))
        yield started
    finally:
        for server in started:
            if server.process.returncode is None:
                server.process.terminate()
            await server.process.wait()


async def publish(kind: str, name: str, who: str, count: int, *extra: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.buses.publisher",
        "--bus",
        kind,
        "--name",
        name,
        "--who",
        who,
        "--count",
        str(count),
        *extra,
        cwd=ROOT,
    )
    assert await asyncio.wait_for(process.wait(), DELIVERY_TIMEOUT) == 0


async def subscribed(port: int, query: str, variables: dict[str, Any]) -> ClientConnection:
    """A connection subscribed to ``query`` (registered on the server when this returns)."""
    ws = await connect(
        f"ws://127.0.0.1:{port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None
    )
    await ws.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await asyncio.wait_for(ws.recv(), START_TIMEOUT))["type"] == "connection_ack"
    await ws.send(
        json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
    )
    # The server handles a connection's messages in order: once the pong is back, it subscribed.
    await ws.send(json.dumps({"type": "ping"}))
    assert json.loads(await asyncio.wait_for(ws.recv(), START_TIMEOUT))["type"] == "pong"
    return ws


async def collect(
    ws: ClientConnection, count: int, on_each: Callable[[int], None] = lambda received: None
) -> list[Any]:
    values: list[Any] = []
    async with ws:
        while len(values) < count:
            message = json.loads(await asyncio.wait_for(ws.recv(), DELIVERY_TIMEOUT))
            assert message["type"] == "next", message
            values.append(message["payload"]["data"])
            on_each(len(values))
    return values


def check(values: list[Any], publishers: dict[str, int]) -> None:
    """Each publisher's events exactly once, in its order."""
    ticks = [(value["tick"]["who"], value["tick"]["n"]) for value in values]
    assert Counter(who for who, _ in ticks) == Counter(publishers), "every event, no duplicate"
    for who, count in publishers.items():
        assert [n for author, n in ticks if author == who] == list(range(count)), f"{who}'s events in order"


async def test_every_subscriber_of_every_process_gets_every_event_in_order(kind: str, name: str) -> None:
    publishers = {"a": 5000, "b": 5000}
    async with servers(kind, name, 2) as running:
        sockets = [await subscribed(server.port, TICK, {"s": "s"}) for server in running for _ in range(2)]
        receivers = [asyncio.ensure_future(collect(ws, sum(publishers.values()))) for ws in sockets]
        await asyncio.gather(*(publish(kind, name, who, count) for who, count in publishers.items()))
        for values in await asyncio.gather(*receivers):
            check(values, publishers)


async def test_a_bus_connection_cut_mid_stream_loses_nothing(kind: str, name: str) -> None:
    count = 3000
    async with servers(kind, name, 2) as running:
        cut = asyncio.Event()

        def cut_after_some(received: int) -> None:
            if received == 300 and not cut.is_set():
                assert kill_bus_reader(kind, running[0].bus_id) == 1
                cut.set()

        first = asyncio.ensure_future(
            collect(await subscribed(running[0].port, TICK, {"s": "s"}), count, cut_after_some)
        )
        second = asyncio.ensure_future(collect(await subscribed(running[1].port, TICK, {"s": "s"}), count))
        await publish(kind, name, "p", count)
        for values in await asyncio.gather(first, second):
            check(values, {"p": count})
        assert cut.is_set()


async def test_large_events_and_rows_written_by_plain_sql_reach_websocket_subscribers(name: str) -> None:
    async with servers("postgresql", name, 1) as running:
        ws = await subscribed(
            running[0].port, "subscription T($s: String!) { tick(stream: $s) { n } }", {"s": "big"}
        )
        large = asyncio.ensure_future(collect(ws, 1))
        await publish("postgresql", name, "big", 1, "--stream", "big", "--padding", "100000")
        assert await large == [{"tick": {"n": 0}}]

        orders = unique("orders")
        sql(f'CREATE TABLE "{orders}" (id int PRIMARY KEY, status text)')
        try:
            # Installed as a DBA would: the SQL the bus configuration gives, run with psql.
            sql(
                PyEventBusConfig.postgresql(POSTGRES_URL, table=name).change_trigger_sql(orders, "order:{id}")
            )
            ws = await subscribed(
                running[0].port,
                "subscription O($id: Int!) { orderChanged(id: $id) { id status } }",
                {"id": 7},
            )
            changes = asyncio.ensure_future(collect(ws, 2))
            sql(f"INSERT INTO \"{orders}\" VALUES (7, 'new')")
            sql(f"UPDATE \"{orders}\" SET status = 'paid' WHERE id = 7")
            assert await changes == [
                {"orderChanged": {"id": 7, "status": "new"}},
                {"orderChanged": {"id": 7, "status": "paid"}},
            ]
        finally:
            sql(f'DROP TABLE "{orders}"')
