"""Across processes through a bus: publish on process A, frame received by a subscriber of process B.

Run it with ``scripts/bench.sh bus`` (release build in ``.venv-bench/``; Redis and PostgreSQL up,
as ``scripts/services.sh`` makes sure). For each bus, Redis then PostgreSQL, in separate processes
on loopback:

* two servers (``fraiseql_app.py``, as ``bench_server.py`` runs it) on the same bus: A publishes,
  B serves the subscribers;
* the load client (``load-client/``, compiled, when ``scripts/bench.sh`` built it; else
  ``load_client.py``): 10 WebSocket subscribers connected to B;
* A publishes ``--rate`` events/s (default 1,000) for ``--duration`` s (default 10), paced on an
  absolute schedule by A itself (``POST /publish_loop``), each publish an awaited
  ``manager.publish`` (the event stored on the bus and dispatched on A) started on schedule
  without waiting for the previous one (``overlap``: as an application's concurrent requests
  would; publishes keep their order).

Latency is the client's receive ``time.time()`` minus the ``time.time()`` A took right before its
publish call (same machine, same clock): Python on A, the bus (write, and read by B), the engine
on B, B's WebSocket writer and the client's read. Then a burst of ``--burst`` events published as
fast as A can (at most 1,000 in flight, B's connection queues large enough to hold it) gives the
sustained rate of that path: events delivered to every subscriber per second. The bus
alone (both ends in Rust) is measured by ``cargo run --release -p fraiseql-bus --example
bus_throughput``, which ``scripts/bench.sh bus`` runs too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from typing import Any

from servers import (
    BENCH_DIR,
    HOST,
    free_port,
    http,
    kill_leftovers,
    start,
    stop,
    tail,
    wait_for_subscribers,
    wait_until_healthy,
)

REDIS_URL = os.environ.get("FRAISEQL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("FRAISEQL_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
ROOM = "bench"
SUBSCRIBERS = 10


def server_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "fraiseql_app:app", "--app-dir", str(BENCH_DIR),
        "--host", HOST, "--port", str(port), "--loop", "asyncio", "--http", "h11",
        "--ws", "websockets-sansio", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


async def run(
    bus: str, url: str, body: dict[str, Any], expected: int, timeout: float, queue: int | None = None
) -> dict[str, Any]:
    """Two servers on one bus, the subscribers on B, the publish loop on A; the client's report.

    ``queue``: frames each connection of B may hold (``BENCH_MAX_QUEUED_FRAMES``; the default
    1,000 drops frames when B's socket writers fall that far behind).
    """
    env = dict(os.environ, BENCH_BUS=url, BENCH_BUS_NAME=f"fraiseql_bench_{uuid.uuid4().hex[:10]}")
    if queue is not None:
        env["BENCH_MAX_QUEUED_FRAMES"] = str(queue)
    ports = free_port(), free_port()
    publisher_base, subscriber_base = (f"http://{HOST}:{port}" for port in ports)
    # The compiled load client when scripts/bench.sh built it (FRAISEQL_LOAD_CLIENT), else Python's.
    binary = os.environ.get("FRAISEQL_LOAD_CLIENT")
    client_program = [binary] if binary else [sys.executable, str(BENCH_DIR / "load_client.py")]
    client_command = [
        *client_program, "--url", f"ws://{HOST}:{ports[1]}/graphql",
        "--connections", str(SUBSCRIBERS), "--expected", str(expected), "--room", ROOM,
        "--timeout", str(timeout), "--idle-timeout", "10", "--rate", str(body.get("rate", 0)),
    ]  # fmt: skip
    with (
        tempfile.TemporaryFile() as log_a,
        tempfile.TemporaryFile() as log_b,
        tempfile.TemporaryFile() as log_c,
    ):
        a = await start(server_command(ports[0]), log_a, env)
        b = await start(server_command(ports[1]), log_b, env)
        try:
            await wait_until_healthy(publisher_base, a, 30)
            await wait_until_healthy(subscriber_base, b, 30)
            client = await start(client_command, log_c, pipe_stdio=True)
            try:
                assert client.stdout is not None
                if (await asyncio.wait_for(client.stdout.readline(), 60)).strip() != b"ready":
                    raise RuntimeError(f"load client did not get ready:\n{tail(log_c)}")
                await wait_for_subscribers(subscriber_base, SUBSCRIBERS, 20)
                publishing = asyncio.ensure_future(
                    http("POST", f"{publisher_base}/publish_loop", body, timeout + 30)
                )
                output = await asyncio.wait_for(client.stdout.read(), timeout + 60)
                publish = await asyncio.wait_for(publishing, timeout + 30)
                await asyncio.wait_for(client.wait(), 10)
            except BaseException:
                print(f"--- {bus} logs ---\n{tail(log_a)}\n{tail(log_b)}\n{tail(log_c)}", file=sys.stderr)
                raise
            finally:
                await stop(client)
        finally:
            await stop(a)
            await stop(b)
    report: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    report["publish"] = publish
    return report


def line(bus: str, what: str, report: dict[str, Any], events: int) -> str:
    latency = report["latency_ms"]
    publish = report["publish"]
    return (
        f"{bus:<11} {what}: {events:,} events x {SUBSCRIBERS} subscribers, lost {report['lost']:,}, "
        f"out of order {report['out_of_order']}; publish loop {publish['achieved_rate']:,.0f} events/s; "
        f"latency ms p50 {latency['p50']:.2f}  p90 {latency['p90']:.2f}  p99 {latency['p99']:.2f}  "
        f"max {latency['max']:.2f}"
    )


async def main_async(options: argparse.Namespace) -> None:
    print("fraiseql bus benchmark: publish on process A, received by WebSocket subscribers of process B")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    for bus, url in (("Redis", REDIS_URL), ("PostgreSQL", POSTGRES_URL)):
        paced = round(options.rate * options.duration)
        body = {"room": ROOM, "rate": options.rate, "duration": options.duration, "overlap": True}
        print(
            f"... {bus}: {options.rate:,.0f} events/s for {options.duration:g} s", file=sys.stderr, flush=True
        )
        report = await run(bus, url, body, paced, options.duration + 60)
        print(line(bus, f"paced {options.rate:,.0f}/s", report, paced), flush=True)
        print(f"... {bus}: burst of {options.burst:,}", file=sys.stderr, flush=True)
        burst = {"room": ROOM, "count": options.burst, "rate": 0, "overlap": True}
        # B's queues hold the whole burst: the figure is the path's rate, with nothing dropped.
        report = await run(bus, url, burst, options.burst, 300, queue=options.burst)
        print(line(bus, "burst", report, options.burst), flush=True)
        rate = report["deliveries_per_s"] / SUBSCRIBERS
        print(f"{bus:<11} sustained: {rate:,.0f} events/s published on A and delivered on B", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=10_000)
    options = parser.parse_args()
    try:
        asyncio.run(main_async(options))
    finally:
        kill_leftovers()


if __name__ == "__main__":
    main()
