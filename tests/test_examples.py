"""The examples run as their documentation says: the engine tour, and the seeds'
``examples/subscriptions-*/app.py`` (FastAPI, Starlette, a custom server) with their client page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent


def test_engine_tour_runs() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "engine_tour.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "carol <- next" in result.stdout
    assert "0 subscriptions left" in result.stdout


# -- the seeds' examples/subscriptions-*/app.py, run the way the seeds run them ------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _example(name: str, port: int) -> Iterator[subprocess.Popen[str]]:
    """``cd examples/<name> && python app.py --port <port>``, until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT / "examples" / name,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the example did not start listening"
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.communicate(timeout=30)


async def _first_next(
    port: int, query: str, variables: dict[str, Any], publish: Any = None
) -> dict[str, Any]:
    async with connect(
        f"ws://127.0.0.1:{port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )
        if publish is not None:
            # The subscription is registered once a later message of the same socket is answered.
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "pong"
            await asyncio.to_thread(publish)
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        return message


@pytest.mark.parametrize("name", ["subscriptions-fastapi", "subscriptions-starlette"])
def test_seed_framework_examples_serve_the_page_and_deliver_posted_messages(name: str) -> None:
    port = _free_port()
    with _example(name, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert b"graphql-transport-ws" in page.read()

        def post() -> None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/rooms/lobby/messages",
                data=json.dumps({"text": "hello"}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as reply:
                assert reply.status == 201

        query = "subscription Room($room: String!) { messageAdded(room: $room) { text } }"
        message = asyncio.run(_first_next(port, query, {"room": "lobby"}, post))
    assert message == {"id": "1", "type": "next", "payload": {"data": {"messageAdded": {"text": "hello"}}}}


def test_seed_custom_server_example_ticks() -> None:
    port = _free_port()
    with _example("subscriptions-custom", port):
        message = asyncio.run(_first_next(port, "subscription { tick { n } }", {}))
    assert message["type"] == "next"
    assert isinstance(message["payload"]["data"]["tick"]["n"], int)
