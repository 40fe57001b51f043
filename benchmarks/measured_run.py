"""One measured delivery run: a load client subscribes, the server publishes, the client reports.

The client (``load-client/`` or ``load_client.py``) opens its connections and prints ``ready``;
once the server's ``GET /stats`` counts every subscription, one ``POST /publish_loop`` makes the
server publish inside its own process, and the client receives until every frame arrived, its
timeout passed or no frame came for its idle timeout. The server's CPU time over that span comes
from ``/proc``; the client reports its own (``client_cpu_s``), its latencies and its losses.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import servers


@dataclass
class Load:
    """What the load client does: ``connections`` subscribers, each expecting ``expected`` frames."""

    connections: int
    expected: int
    room: str = "bench"
    #: events/s of the publisher's schedule (for the latency from the scheduled time), 0 for none.
    rate: float = 0.0
    timeout: float = 120.0
    idle_timeout: float = 10.0
    #: Further options of the compiled client (``--rooms``, ``--handshakes``, ``--keep-going``...).
    flags: Sequence[str] = field(default_factory=tuple)


def client_command(program: Sequence[str], ws_url: str, load: Load) -> list[str]:
    return [
        *program, "--url", ws_url, "--connections", str(load.connections),
        "--expected", str(load.expected), "--room", load.room, "--timeout", str(load.timeout),
        "--idle-timeout", str(load.idle_timeout), "--rate", str(load.rate), *load.flags,
    ]  # fmt: skip


async def read_line(process: asyncio.subprocess.Process, expected: str, timeout: float) -> None:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    if line.strip() != expected.encode():
        raise RuntimeError(f"load client printed {line!r}, expected {expected!r}")


async def deliver(
    server: servers.Server,
    program: Sequence[str],
    load: Load,
    publish: dict[str, Any],
    subscribed: int | None = None,
    connect_timeout: float = 90.0,
) -> dict[str, Any]:
    """Runs the load client against ``server`` and one publish loop; returns the measured record.

    ``subscribed``: how many subscriptions the server must count before publishing (default:
    every connection's).
    """
    with tempfile.TemporaryFile() as client_log:
        client = await servers.start(
            client_command(program, server.ws_url, load), client_log, pipe_stdio=True
        )
        try:
            await read_line(client, "ready", connect_timeout)
            count = load.connections if subscribed is None else subscribed
            await servers.wait_for_subscribers(server.base, count, max(30.0, count / 100))
            record = await publish_and_receive(server, client, publish, load.timeout)
        except BaseException:
            print(f"--- load client log ---\n{servers.tail(client_log)}", file=sys.stderr)
            raise
        finally:
            await servers.stop(client)
        if client.returncode != 0:
            raise RuntimeError(f"load client failed ({client.returncode}):\n{servers.tail(client_log)}")
    return record


async def publish_and_receive(
    server: servers.Server, client: asyncio.subprocess.Process, publish: dict[str, Any], timeout: float
) -> dict[str, Any]:
    """With the client ready: publishes, reads the client's report, measures the server's CPU."""
    assert client.stdout is not None
    cpu_before = server.cpu_seconds()
    started = time.monotonic()
    publishing = asyncio.ensure_future(
        servers.http("POST", f"{server.base}/publish_loop", publish, timeout + 30)
    )
    try:
        output = await asyncio.wait_for(client.stdout.read(), timeout + 60)
        wall = time.monotonic() - started
        published = await asyncio.wait_for(publishing, timeout + 30)
    finally:
        publishing.cancel()
    cpu_used = server.cpu_seconds() - cpu_before
    rss = server.rss_bytes()
    stats = await servers.http("GET", f"{server.base}/stats", timeout=30)
    await asyncio.wait_for(client.wait(), 10)
    lines = output.decode().strip().splitlines()
    if not lines:
        raise RuntimeError("the load client printed no report")
    report: dict[str, Any] = json.loads(lines[-1])
    return {
        "client": report,
        "publish": published,
        "stats": stats,
        "server_cpu_s": cpu_used,
        "server_rss_bytes": rss,
        "wall_s": wall,
    }
