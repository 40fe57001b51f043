"""``python -m fraiseql.cli demo``: starts, serves, and stops cleanly on Ctrl+C."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fraiseql.cli import _browser_url, main
from tests.buses.services import REDIS_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_demo(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "fraiseql.cli", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, process.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/rooms", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "the demo did not start"
        time.sleep(0.05)


@pytest.mark.parametrize("framework", ["fastapi", "starlette"])
async def test_demo_serves_and_stops_cleanly_on_sigint(framework: str) -> None:
    port = free_port()
    process = start_demo("--port", str(port), "--framework", framework, "--log-level", "warning")
    try:
        await asyncio.to_thread(wait_until_serving, port, process)
        async with connect(
            f"ws://127.0.0.1:{port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            query = 'subscription { messageAdded(room: "cli") { text author } }'
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}

            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/rooms/cli/messages",
                data=json.dumps({"text": "from the cli test", "author": "pytest"}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with await asyncio.to_thread(urllib.request.urlopen, request, timeout=5) as response:
                assert response.status == 201
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["payload"] == {
                "data": {"messageAdded": {"text": "from the cli test", "author": "pytest"}}
            }

            process.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1001
        stdout, stderr = await asyncio.to_thread(process.communicate, timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"Open http://127.0.0.1:{port}/ in a browser" in stdout
    assert stdout.rstrip().endswith("Stopped.")
    assert "Traceback" not in stderr


def test_a_configured_bus_is_used_and_announced() -> None:
    port = free_port()
    process = start_demo("--port", str(port), "--bus", REDIS_URL)
    try:
        wait_until_serving(port, process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=5) as response:
            info = json.load(response)
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert info["bus"] == {"type": "redis", "url": REDIS_URL, "note": info["bus"]["note"]}
    assert info["delivery"] == "all processes on the bus"
    assert "every server process on this bus" in info["bus"]["note"]
    assert "every server process on this bus" in stdout
    assert process.returncode == 0


@pytest.mark.parametrize("bus", ["kafka://x", "redis://", "postgresql://", "mem"])
def test_a_bad_bus_is_a_usage_error(bus: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--bus", bus])
    assert exited.value.code == 2
    assert "--bus" in capsys.readouterr().err


def test_without_a_command_help_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/"),
        ("0.0.0.0", "http://127.0.0.1:8000/"),
        ("::1", "http://[::1]:8000/"),
        ("localhost", "http://localhost:8000/"),
    ],
)
def test_browser_url(host: str, url: str) -> None:
    assert _browser_url(host, 8000) == url
