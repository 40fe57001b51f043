"""The scenarios of the full benchmark run (``bench_suite.py``), each against one fresh server.

* ``fanout``: N subscribers of one room, events published on a paced schedule (``rate`` events/s
  for ``duration`` seconds, so ``rate * N`` deliveries/s offered); latency percentiles, losses,
  CPU per delivered frame. The client waits ``grace`` seconds at most after the last event: a
  server that cannot keep up loses the frames it had not delivered by then.
* ``burst``: N subscribers, events published as fast as possible (the saturation throughput).
* ``rooms``: N subscribers, each in its own room; events spread over the rooms, so each event
  goes to one subscriber (``rate`` events/s = deliveries/s).
* ``storm``: N clients connect and subscribe as fast as the client can (1,000 handshakes in
  flight); the time until every one was
  acknowledged (client side) and until the server counted every subscription, with the errors;
  then a few events reach all N, each timed to its last frame.
* ``memory``: the server's resident memory (``/proc/<pid>/status``) idle, after N acknowledged
  connections without subscriptions, and after those N subscribed: bytes per idle connection
  and per subscription. One event then checks every subscription works.

Every function returns a JSON-ready record: the scenario's parameters, then what was measured.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import servers
from measured_run import Load, client_command, deliver, publish_and_receive, read_line

ROOM = "bench"
#: Handshakes the storm's client keeps in flight: as fast as it can, without its one thread
#: falling seconds behind on the handshakes it started (the servers close a connection whose
#: ``connection_init`` is late: 3 s for FraiseQL).
STORM_HANDSHAKES = 1_000
#: Seconds the server settles before its memory is read (allocations freed, tasks idle).
SETTLE_S = 1.0


def _environment(server: str, max_queued_frames: int | None) -> dict[str, str]:
    env = dict(os.environ)
    if max_queued_frames and server.startswith("fraiseql"):
        env["BENCH_MAX_QUEUED_FRAMES"] = str(max_queued_frames)
    return env


async def fanout(
    server: str,
    client: Sequence[str],
    subscribers: int,
    rate: float,
    duration: float,
    grace: float,
    max_queued_frames: int | None = None,
) -> dict[str, Any]:
    events = max(1, round(rate * duration))
    load = Load(
        connections=subscribers,
        expected=events,
        room=ROOM,
        rate=rate,
        timeout=duration + grace,
        idle_timeout=grace,
        flags=("--handshakes", "100", "--connect-timeout", "120"),
    )
    body = {"room": ROOM, "rate": rate, "count": events}
    async with servers.running(server, _environment(server, max_queued_frames)) as running:
        measured = await deliver(running, client, load, body, connect_timeout=180)
    parameters = {"rate": rate, "duration": duration, "events": events, "offered_per_s": rate * subscribers}
    return {"scenario": "fanout", "server": server, "subscribers": subscribers, **parameters, **measured}


async def burst(
    server: str,
    client: Sequence[str],
    subscribers: int,
    events: int,
    timeout: float,
    idle_timeout: float,
    max_queued_frames: int | None = None,
) -> dict[str, Any]:
    load = Load(
        connections=subscribers,
        expected=events,
        room=ROOM,
        timeout=timeout,
        idle_timeout=idle_timeout,
        flags=("--handshakes", "100", "--connect-timeout", "120"),
    )
    body = {"room": ROOM, "count": events, "rate": 0}
    async with servers.running(server, _environment(server, max_queued_frames)) as running:
        measured = await deliver(running, client, load, body, connect_timeout=180)
    return {"scenario": "burst", "server": server, "subscribers": subscribers, "events": events, **measured}


async def rooms(
    server: str, client: Sequence[str], subscribers: int, rate: float, duration: float, grace: float
) -> dict[str, Any]:
    events = max(subscribers, round(rate * duration))
    events -= events % subscribers  # the same number of events for every room
    load = Load(
        connections=subscribers,
        expected=events // subscribers,
        room=ROOM,
        rate=rate,
        timeout=duration + grace,
        idle_timeout=grace,
        flags=("--rooms", str(subscribers), "--handshakes", "100", "--connect-timeout", "120"),
    )
    body = {"room": ROOM, "rate": rate, "count": events, "rooms": subscribers}
    async with servers.running(server) as running:
        measured = await deliver(running, client, load, body, connect_timeout=180)
    parameters = {"rate": rate, "duration": duration, "events": events, "offered_per_s": rate}
    return {"scenario": "rooms", "server": server, "subscribers": subscribers, **parameters, **measured}


async def _count_subscriptions_until(
    base: str, target: int, client: asyncio.subprocess.Process, ready: asyncio.Future[None]
) -> tuple[int, float | None]:
    """Polls ``/stats`` every 20 ms until ``target`` subscriptions (returns when, epoch seconds)
    or, once the client is ready or gone, until the count stops growing for 2 s."""
    best, changed = 0, time.monotonic()
    while True:
        try:
            count = int((await servers.http("GET", f"{base}/stats", timeout=10))["subscribers"])
        except OSError:
            count = best
        now = time.monotonic()
        if count >= target:
            return count, time.time()
        if count > best:
            best, changed = count, now
        if (ready.done() or client.returncode is not None) and now - changed > 2.0:
            return best, None
        await asyncio.sleep(0.02)


async def storm(
    server: str, client: Sequence[str], connections: int, events: int, connect_timeout: float
) -> dict[str, Any]:
    load = Load(
        connections=connections,
        expected=events,
        room=ROOM,
        rate=0,
        timeout=30,
        idle_timeout=5,
        flags=(
            "--handshakes",
            str(STORM_HANDSHAKES),
            "--keep-going",
            "--connect-timeout",
            str(connect_timeout),
        ),
    )
    record: dict[str, Any] = {"scenario": "storm", "server": server, "connections": connections}
    async with servers.running(server) as running:
        with tempfile.TemporaryFile() as client_log:
            process = await servers.start(
                client_command(client, running.ws_url, load), client_log, pipe_stdio=True
            )
            try:
                ready = asyncio.ensure_future(read_line(process, "ready", connect_timeout + 30))
                counted, all_at = await _count_subscriptions_until(running.base, connections, process, ready)
                await ready
                record["registered"] = counted
                record["rss_bytes"] = running.rss_bytes()
                # A few events, 0.2 s apart, each timed to its last frame (``event_last_frame_ms``).
                body = {"room": ROOM, "rate": 5.0, "count": events}
                measured = await publish_and_receive(running, process, body, load.timeout)
            except BaseException:
                print(f"--- load client log ---\n{servers.tail(client_log)}", file=sys.stderr)
                raise
            finally:
                await servers.stop(process)
    connect = measured["client"]["connect"]
    record["registered_s"] = all_at - connect["started_at"] if all_at is not None else None
    return {**record, "events": events, **measured}


async def memory(server: str, client: Sequence[str], connections: int) -> dict[str, Any]:
    load = Load(
        connections=connections,
        expected=1,
        room=ROOM,
        timeout=30,
        idle_timeout=5,
        flags=("--subscribe-on-stdin", "--handshakes", "100", "--connect-timeout", "120"),
    )
    async with servers.running(server) as running:
        await asyncio.sleep(SETTLE_S)
        idle = running.rss_bytes()
        with tempfile.TemporaryFile() as client_log:
            process = await servers.start(
                client_command(client, running.ws_url, load), client_log, pipe_stdio=True
            )
            try:
                await read_line(process, "acked", 180)
                await asyncio.sleep(SETTLE_S)
                connected = running.rss_bytes()
                assert process.stdin is not None
                process.stdin.write(b"subscribe\n")
                await process.stdin.drain()
                await read_line(process, "ready", 180)
                await servers.wait_for_subscribers(running.base, connections, 60)
                await asyncio.sleep(SETTLE_S)
                subscribed = running.rss_bytes()
                measured = await publish_and_receive(running, process, {"room": ROOM, "count": 1}, 30)
            except BaseException:
                print(f"--- load client log ---\n{servers.tail(client_log)}", file=sys.stderr)
                raise
            finally:
                await servers.stop(process)
    return {
        "scenario": "memory",
        "server": server,
        "connections": connections,
        "rss_idle_bytes": idle,
        "rss_connected_bytes": connected,
        "rss_subscribed_bytes": subscribed,
        "bytes_per_connection": (connected - idle) / connections,
        "bytes_per_subscription": (subscribed - connected) / connections,
        **measured,
    }
