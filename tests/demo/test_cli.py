"""``python -m fraiseql.cli demo``: starts, serves, and stops cleanly on Ctrl+C."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jwt
import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fraiseql.cli import SECRET_VARIABLE, _browser_url, main
from fraiseql.subscriptions.jwt_auth import JWTAuthenticator
from fraiseql.subscriptions.manager import SubscriptionManager
from tests.buses.services import REDIS_URL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_demo(*args: str, secret: str | None = None) -> subprocess.Popen[str]:
    """The demo in a child process; ``secret`` goes in its environment (none is inherited)."""
    env = {name: value for name, value in os.environ.items() if name != SECRET_VARIABLE}
    if secret is not None:
        env[SECRET_VARIABLE] = secret
    return subprocess.Popen(
        [sys.executable, "-m", "fraiseql.cli", "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_until_serving(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, process.communicate()
        try:
            # /info: public also when the demo requires a token.
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/info", timeout=1) as response:
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


async def test_demo_on_the_native_transport() -> None:
    """``--transport native``: the page and API on --port, graphql-transport-ws in Rust on
    --ws-port (the page is told where), 1001 on Ctrl+C."""
    port, ws_port = free_port(), free_port()
    process = start_demo("--port", str(port), "--transport", "native", "--ws-port", str(ws_port))
    try:
        await asyncio.to_thread(wait_until_serving, port, process)
        with await asyncio.to_thread(
            urllib.request.urlopen, f"http://127.0.0.1:{port}/", timeout=5
        ) as response:
            page = response.read().decode()
            policy = response.headers["Content-Security-Policy"]
        assert f'<meta name="fraiseql-graphql-ws-port" content="{ws_port}">' in page
        assert f"connect-src 'self' ws://*:{ws_port} wss://*:{ws_port};" in policy
        async with connect(
            f"ws://127.0.0.1:{ws_port}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            query = 'subscription { messageAdded(room: "native") { text } }'
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
            await ws.send(json.dumps({"type": "ping"}))
            assert json.loads(await ws.recv()) == {"type": "pong"}
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/rooms/native/messages",
                data=json.dumps({"text": "through Rust", "author": "pytest"}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with await asyncio.to_thread(urllib.request.urlopen, request, timeout=5) as response:
                assert response.status == 201
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame == {
                "id": "1",
                "type": "next",
                "payload": {"data": {"messageAdded": {"text": "through Rust"}}},
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
    assert f"native transport: port {ws_port}" in stdout
    assert "Traceback" not in stderr


def test_ws_port_needs_the_native_transport(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["demo", "--ws-port", "9000"])
    assert "--ws-port needs --transport native" in capsys.readouterr().err


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


# -- --auth-jwt-secret and the token command ------------------------------------------------------

SECRET = "cli-test-secret-0123456789abcdef-xyz"


def post_status(port: int, bearer: str | None) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/rooms/cli/messages",
        data=json.dumps({"text": "hi"}).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {bearer}"} if bearer else {}),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status: int = response.status
    except urllib.error.HTTPError as error:
        with error:
            status = error.code
    return status


def test_the_demo_with_a_jwt_secret_says_so_and_wants_tokens() -> None:
    port = free_port()
    process = start_demo("--port", str(port), "--auth-jwt-secret", SECRET)
    try:
        wait_until_serving(port, process)
        minted = subprocess.run(
            [sys.executable, "-m", "fraiseql.cli", "token", "--user", "ann", "--tenant", "acme"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, SECRET_VARIABLE: SECRET},
        ).stdout.strip()
        assert post_status(port, None) == 401
        assert post_status(port, minted) == 201
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "Authentication is on" in stdout
    assert "fraiseql-subscriptions token --user ann --tenant acme" in stdout
    assert SECRET not in stdout + stderr


def test_the_demo_reads_the_secret_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    served: list[Starlette] = []

    def run(app: Starlette, manager: SubscriptionManager, **options: object) -> None:  # not uvicorn
        served.append(app)
        asyncio.run(manager.shutdown())

    monkeypatch.setattr("fraiseql.integrations.uvicorn_server.run", run)
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    assert main(["demo", "--port", "0"]) == 0
    (app,) = served
    assert app.state.board.auth is not None
    assert "Authentication is on" in capsys.readouterr().out

    monkeypatch.delenv(SECRET_VARIABLE)
    assert main(["demo", "--port", "0"]) == 0
    assert served[1].state.board.auth is None
    assert "Authentication" not in capsys.readouterr().out


def test_a_short_demo_secret_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--auth-jwt-secret", "s3cret"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "--auth-jwt-secret" in error
    assert "at least 32 bytes" in error


@pytest.mark.parametrize("from_environment", [False, True])
def test_the_token_command_prints_a_token_the_demo_accepts(
    from_environment: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["token", "--user", "ann", "--tenant", "acme", "--name", "Ann", "--lifetime", "120"]
    if from_environment:
        monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    else:
        monkeypatch.delenv(SECRET_VARIABLE, raising=False)
        args += ["--secret", SECRET]
    before = time.time()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1
    authenticator = JWTAuthenticator(key=SECRET, algorithms=["HS256"])
    claims = authenticator.verify(printed.strip(), SECRET)
    assert (claims["sub"], claims["tenant_id"], claims["name"]) == ("ann", "acme", "Ann")
    assert before + 119 <= claims["exp"] <= time.time() + 121
    assert jwt.get_unverified_header(printed.strip())["alg"] == "HS256"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ann", "--tenant", "acme"], SECRET_VARIABLE),
        (["--user", "ann", "--tenant", "acme", "--secret", "short"], "at least 32 bytes"),
        (["--user", "ann", "--tenant", "acme", "--secret", SECRET, "--lifetime", "0"], "--lifetime"),
        (["--user", " ", "--tenant", "acme", "--secret", SECRET], "must not be empty"),
        (["--user", "ann", "--secret", SECRET], "--tenant"),
    ],
)
def test_token_usage_errors(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["token", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_help_documents_the_secret_variable(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("demo", "token"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert SECRET_VARIABLE in capsys.readouterr().out
