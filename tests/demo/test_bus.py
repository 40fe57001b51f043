"""``--bus``: memory, Redis and PostgreSQL (validated, passwords hidden, really used): two demo
processes on one bus form one chat."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from fraiseql.demo import create_app, parse_bus
from fraiseql.subscriptions import BusConnectionError
from tests.buses.services import POSTGRES_URL, REDIS_URL, drop_bus

TIMEOUT = 30.0


def test_memory_is_the_default() -> None:
    choice = parse_bus("memory")
    assert choice.kind == "memory"
    assert "within this server process" in choice.note


@pytest.mark.parametrize(
    ("url", "kind", "shown"),
    [
        ("redis://localhost:6379/0", "redis", "redis://localhost:6379/0"),
        ("rediss://u:pw@cache.example:6380", "redis", "rediss://u:***@cache.example:6380"),
        ("postgresql://app:pw@db/chat", "postgresql", "postgresql://app:***@db/chat"),
        ("postgres://db.example/chat", "postgresql", "postgres://db.example/chat"),
    ],
)
def test_external_buses_are_parsed_with_passwords_hidden(url: str, kind: str, shown: str) -> None:
    choice = parse_bus(url)
    assert choice.kind == kind
    assert choice.config.url == url
    assert choice.description == shown
    assert "every server process on this bus" in choice.note
    assert "pw" not in choice.note


@pytest.mark.parametrize(("url", "kind"), [(REDIS_URL, "redis"), (POSTGRES_URL, "postgresql")])
def test_the_demo_connects_to_its_bus(url: str, kind: str) -> None:
    _, manager = create_app("starlette", url)
    assert manager.executor.bus_config.bus_type == kind
    assert manager.executor.get_metrics()["bus_state"] == "connected"
    manager.executor.shutdown()


def test_an_unreachable_bus_is_a_clear_error_at_start_up() -> None:
    with pytest.raises(BusConnectionError, match="refused"):
        create_app("fastapi", "redis://127.0.0.1:1/0")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraiseql.cli",
            "demo",
            "--bus",
            "redis://:secret@127.0.0.1:1/0",
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot connect to the Redis bus" in result.stderr
    assert "Traceback" not in result.stderr
    assert "secret" not in result.stderr


@pytest.mark.parametrize("bus", ["", "memry", "http://x", "redis://", "postgresql://", "redis:///0"])
def test_bad_buses_raise_value_error(bus: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_bus(bus)


def test_unknown_framework() -> None:
    with pytest.raises(ValueError, match="framework"):
        create_app("flask")  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _listening(port: int) -> None:
    """Waits until something accepts connections on ``port`` (the demo started serving)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            assert asyncio.get_running_loop().time() < deadline, f"nothing listens on port {port}"
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


@pytest.fixture(params=["redis", "postgresql"])
async def shared_bus(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A bus URL of this test's own (its Redis database or PostgreSQL events table is fresh)."""
    if request.param == "redis":
        # The demo's stream is fraiseql:fraiseql-demo:events: clear it before and after.
        drop_bus("redis", "fraiseql-demo")
        yield REDIS_URL
        drop_bus("redis", "fraiseql-demo")
    else:
        drop_bus("postgresql", "fraiseql_events")
        yield POSTGRES_URL
        drop_bus("postgresql", "fraiseql_events")


@pytest.mark.slow
async def test_two_demo_processes_on_one_bus_form_one_chat(shared_bus: str) -> None:
    ports = [_free_port(), _free_port()]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "fraiseql.cli",
            "demo",
            "--port",
            str(port),
            "--bus",
            shared_bus,
            stdout=asyncio.subprocess.PIPE,
        )
        for port in ports
    ]
    try:
        for port in ports:
            await _listening(port)
        pages = []
        query = "subscription R($room: String!) { messageAdded(room: $room) { text author } }"
        for port in ports:
            ws = await connect(
                f"ws://127.0.0.1:{port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
            )
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "connection_ack"
            subscribe = {"query": query, "variables": {"room": "lobby"}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "pong"
            pages.append(ws)

        def post(port: int, text: str) -> None:
            body = json.dumps({"text": text, "author": f"port {port}"}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/rooms/lobby/messages",
                data=body,
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
                assert reply.status == 201

        await asyncio.to_thread(post, ports[0], "hello from the first")
        await asyncio.to_thread(post, ports[1], "hello from the second")
        for ws in pages:
            texts = [
                json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["payload"]["data"]["messageAdded"][
                    "text"
                ]
                for _ in range(2)
            ]
            assert texts == ["hello from the first", "hello from the second"]
            await ws.close()
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
            await process.wait()
