"""The systems the benchmarks measure: how each server is started, watched and stopped.

Every server runs in a fresh process on loopback (127.0.0.1, a free port) with the same HTTP
endpoints (``GET /health``, ``GET /stats``, ``POST /publish_loop``; see ``publisher.py``) and
graphql-transport-ws at ``/graphql``. Its CPU time and resident memory are read from
``/proc/<pid>``. Every child process started here is stopped by ``stop`` or, as a last resort,
by ``kill_leftovers``; each also gets SIGTERM if the benchmark dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH_DIR = Path(__file__).resolve().parent
APPS = {
    "fraiseql": "fraiseql_app:app",
    # The same app through fraiseql.integrations.uvicorn_server.run (serve_fraiseql.py).
    "fraiseql-serve": "serve_fraiseql.py",
    # The same app's subscriptions on the native transport (serve_native.py: manager.serve()).
    "fraiseql-native": "serve_native.py",
    # The same app's subscriptions on the `websockets` integration (serve_websockets.py).
    "fraiseql-websockets": "serve_websockets.py",
    "strawberry": "strawberry_app:app",
    # The graphql-ws reference server on Node (peers/graphql-ws-node/server.mjs).
    "graphql-ws-node": "peers/graphql-ws-node/server.mjs",
    # async-graphql on axum (peers/async-graphql-axum), built by scripts/bench.sh.
    "async-graphql": "FRAISEQL_PEER_ASYNC_GRAPHQL",
}
#: The servers written in Python (profiled with py-spy); the others are profiled with perf.
PYTHON_SERVERS = ("fraiseql", "fraiseql-serve", "fraiseql-websockets", "strawberry")
#: The servers whose graphql-transport-ws endpoint has a port of its own, beside the HTTP one.
SEPARATE_WS_PORT = ("fraiseql-native", "fraiseql-websockets")
HOST = "127.0.0.1"

#: Every child process started, so that none outlives the benchmark.
_children: list[asyncio.subprocess.Process] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the benchmark process dies (Linux)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After the name: state is field 3, utime field 14, stime field 15 (1-based, man proc).
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def rss_bytes_of(pid: int) -> int:
    """Resident memory of a process (``VmRSS`` in ``/proc/<pid>/status``), in bytes."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def server_command(server: str, port: int, ws_port: int, node_flags: Sequence[str] = ()) -> list[str]:
    """The command line of ``server`` (``ws_port`` differs from ``port`` for ``SEPARATE_WS_PORT``)."""
    if server == "fraiseql-serve":
        return [sys.executable, str(BENCH_DIR / APPS[server]), "--host", HOST, "--port", str(port)]
    if server == "async-graphql":
        binary = os.environ.get(APPS[server])
        if not binary:
            raise RuntimeError(f"{APPS[server]} is not set: scripts/bench.sh builds the async-graphql peer")
        return [binary, "--host", HOST, "--port", str(port)]
    if server == "graphql-ws-node":
        script = str(BENCH_DIR / APPS[server])
        return ["node", *node_flags, script, "--host", HOST, "--port", str(port)]
    if server in SEPARATE_WS_PORT:
        return [
            sys.executable, str(BENCH_DIR / APPS[server]), "--host", HOST, "--port", str(port),
            "--ws-port", str(ws_port),
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", APPS[server], "--app-dir", str(BENCH_DIR),
        "--host", HOST, "--port", str(port), "--loop", "asyncio", "--http", "h11",
        "--ws", "websockets-sansio", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


async def start(
    args: list[str], log: IO[bytes], env: dict[str, str] | None = None, *, pipe_stdio: bool = False
) -> asyncio.subprocess.Process:
    """Starts a child in the benchmarks' directory; ``pipe_stdio``: stdin and stdout are pipes."""
    process = await asyncio.create_subprocess_exec(
        *args,
        cwd=BENCH_DIR,
        env=env,
        stdin=asyncio.subprocess.PIPE if pipe_stdio else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if pipe_stdio else log,
        stderr=log,
        preexec_fn=_die_with_parent,
    )
    _children.append(process)
    return process


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except asyncio.TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def stop_all() -> None:
    for process in _children:
        await stop(process)


def kill_leftovers() -> None:
    """Last resort (also on Ctrl-C): SIGKILL every child still running."""
    for process in _children:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)


async def _exchange(method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    data = json.dumps(body).encode() if body is not None else b""
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        head = (
            f"{method} {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    status_line, _, rest = response.partition(b"\r\n")
    status = status_line.split()[1:2]
    if status != [b"200"]:
        raise RuntimeError(f"{method} {url}: {status_line.decode(errors='replace')}")
    headers, _, content = rest.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in headers.lower():
        content = _unchunked(content)
    result: dict[str, Any] = json.loads(content)
    return result


def _unchunked(content: bytes) -> bytes:
    chunks = []
    while content:
        size_line, _, content = content.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        chunks.append(content[:size])
        content = content[size + 2 :]
    return b"".join(chunks)


async def http(
    method: str, url: str, body: dict[str, Any] | None = None, timeout: float = 5
) -> dict[str, Any]:
    """One HTTP/1.1 request on its own connection (asyncio, no thread); the JSON answer."""
    try:
        return await asyncio.wait_for(_exchange(method, url, body), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"{method} {url}: no answer within {timeout:g} s") from None


def tail(log: IO[bytes], lines: int = 30) -> str:
    log.flush()
    log.seek(0)
    return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])


async def wait_until_healthy(base: str, process: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            await http("GET", f"{base}/health", timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not healthy after {timeout:g} s") from None
            await asyncio.sleep(0.1)


async def wait_for_subscribers(base: str, count: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        # A server taking thousands of subscriptions at once may answer slowly.
        stats = await http("GET", f"{base}/stats", timeout=max(5.0, timeout / 2))
        if stats["subscribers"] >= count:
            return stats
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {stats['subscribers']} of {count} subscriptions registered")
        await asyncio.sleep(0.05)


@dataclass
class Server:
    """A running server: its process, HTTP base URL, WebSocket URL and log."""

    name: str
    process: asyncio.subprocess.Process
    base: str
    ws_url: str
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self.pid)

    def rss_bytes(self) -> int:
        return rss_bytes_of(self.pid)


@contextlib.asynccontextmanager
async def running(
    name: str, env: dict[str, str] | None = None, node_flags: Sequence[str] = ()
) -> AsyncIterator[Server]:
    """A fresh ``name`` server, healthy; stopped on exit (its log's tail printed on an error)."""
    if name not in APPS:
        raise ValueError(f"unknown server {name!r} (known: {', '.join(APPS)})")
    port = free_port()
    ws_port = free_port() if name in SEPARATE_WS_PORT else port
    with tempfile.TemporaryFile() as log:
        process = await start(server_command(name, port, ws_port, node_flags), log, env)
        try:
            await wait_until_healthy(f"http://{HOST}:{port}", process, 30)
            yield Server(name, process, f"http://{HOST}:{port}", f"ws://{HOST}:{ws_port}/graphql", log)
        except BaseException:
            print(f"--- {name} server log ---\n{tail(log)}", file=sys.stderr)
            raise
        finally:
            await stop(process)
