"""End-to-end load benchmark: FraiseQL's graphql-transport-ws server against an equivalent Strawberry app.

Run it with ``scripts/bench.sh server`` (release build in ``.venv-bench/``); ``--quick`` shortens
the rate run to 3 s and the saturation burst to 1,000 events. Everything runs on loopback
(127.0.0.1, free ports) in separate processes, all on the default asyncio event loop (no uvloop,
no httptools) for fairness:

* a server: ``python -m uvicorn fraiseql_app:app`` or ``strawberry_app:app`` (h11, uvicorn's
  ``websockets-sansio`` WebSocket implementation), graphql-transport-ws at ``/graphql``, with a
  fresh process for every run; and ``fraiseql-serve``, the same FraiseQL app run as the project
  recommends (``serve_fraiseql.py``: ``uvicorn_server.run``, which writes each batch of frames
  at once and uses uvloop and httptools when installed, as they are here); and
  ``fraiseql-native``, its subscriptions on the native transport (``serve_native.py``:
  ``manager.serve()`` on a second port, the HTTP endpoints on uvicorn); and the peer
  ``graphql-ws-node``, the graphql-ws reference server on Node (``peers/graphql-ws-node``:
  ``ws``, graphql-js, graphql-subscriptions' PubSub, the same HTTP endpoints); and the peer
  ``async-graphql``, async-graphql on axum (``peers/async-graphql-axum``, Rust, a tokio broadcast
  channel per room, built by ``scripts/bench.sh`` and named by ``FRAISEQL_PEER_ASYNC_GRAPHQL``).
  All publish inside their own process when asked by one HTTP request (``POST /publish_loop``,
  see ``publisher.py``), so HTTP is not in the measured path;
* the load client: ``load-client/`` (Rust, one thread, built by ``scripts/bench.sh`` and named
  by ``FRAISEQL_LOAD_CLIENT``) or, without it or with ``--client python``, ``load_client.py``;
  both take the same options and print the same report: 100 WebSocket connections, each
  subscribed once to
  ``subscription { messageAdded(room: "bench") { id text at } }``; the publish loop starts only
  once the server reports all 100 subscriptions registered (``GET /stats``).

Each server gets two runs with the same parameters; the figures are:

1. Rate run: 500 events/s for 10 s, paced by the server on an absolute schedule, i.e. 50,000
   frames/s offered to 100 subscribers. Reported: deliveries/s (frames received over the span
   from the first event's ``at`` to the last receive), end-to-end latency p50/p90/p99/max (client
   receive ``time.time()`` minus the ``time.time()`` the server took right before its publish
   call; same clock), lost frames (expected minus received), how late the publish loop ran behind
   its schedule (a sign the server's event loop was saturated), and the latency from each event's
   scheduled time (which, unlike the first, includes that delay).
2. Saturation run: a burst of 5,000 events published as fast as possible (yielding to the event
   loop after each publish), 500,000 frames in all; the client receives until every frame arrived,
   no frame came for 10 s, or 300 s passed. Reported: deliveries/s and lost frames.

Both apps run with their defaults: FraiseQL's ``SubscriptionConfig`` (1,000 frames queued per
connection, then ``drop_oldest``: a connection that falls that far behind loses frames, counted
as lost), Strawberry's unbounded per-subscriber queues. ``--saturation-queue N`` raises FraiseQL's
bound for the saturation run (``BENCH_MAX_QUEUED_FRAMES``).

For every run, the CPU time of the server process (``/proc/<pid>/stat``) and of the load client
is printed per delivered frame, to show which side bounds the figure. The summary compares
FraiseQL to the goals: no frame lost, p99 under 50 ms, at least five times Strawberry's
deliveries/s in the saturation run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import platform
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import fraiseql
import report
import servers
from measured_run import Load, deliver
from servers import APPS, BENCH_DIR

ROOM = "bench"


@dataclass
class Run:
    """What one (server, mode) run measured."""

    server: str
    mode: str
    client: dict[str, Any]
    publish: dict[str, Any]
    stats: dict[str, Any]
    server_cpu_s: float
    wall_s: float

    @property
    def received(self) -> int:
        return int(self.client["received"])

    @property
    def lost(self) -> int:
        return int(self.client["lost"])

    @property
    def deliveries_per_s(self) -> float:
        return float(self.client["deliveries_per_s"])

    def latency(self, name: str) -> float:
        return float(self.client["latency_ms"][name])


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: unwind like Ctrl-C, so that every ``finally`` stops its processes."""
    raise KeyboardInterrupt


async def run_once(server: str, mode: str, options: argparse.Namespace) -> Run:
    """One fresh server process, one load client, one publish loop."""
    if mode == "rate":
        expected = round(options.rate * options.duration)
        body: dict[str, Any] = {"room": ROOM, "rate": options.rate, "duration": options.duration}
        client_timeout = options.duration + options.grace
    else:
        expected = options.burst
        body = {"room": ROOM, "count": options.burst, "rate": 0}
        client_timeout = options.saturation_timeout
    env = dict(os.environ)
    if mode == "saturation" and server.startswith("fraiseql") and options.saturation_queue:
        env["BENCH_MAX_QUEUED_FRAMES"] = str(options.saturation_queue)
    program = (
        [options.client_binary]
        if options.client_binary
        else [sys.executable, str(BENCH_DIR / "load_client.py")]
    )
    load = Load(
        connections=options.connections,
        expected=expected,
        room=ROOM,
        rate=options.rate if mode == "rate" else 0,
        timeout=client_timeout,
        idle_timeout=options.idle_timeout,
    )
    async with servers.running(server, env) as running:
        measured = await deliver(running, program, load, body)
    return Run(
        server,
        mode,
        measured["client"],
        measured["publish"],
        measured["stats"],
        measured["server_cpu_s"],
        measured["wall_s"],
    )


def describe(run: Run) -> list[str]:
    client, publish = run.client, run.publish
    latency = client["latency_ms"]
    per_connection = client["received_per_connection"]
    lines = [
        f"delivered {run.received:,} of {run.received + run.lost:,} frames "
        f"(lost {run.lost:,}, per connection min {min(per_connection):,} max {max(per_connection):,}, "
        f"out of order {client['out_of_order']}, errors {client['error_count']}; "
        f"client stopped: {client['stop_reason']})",
        f"deliveries/s {run.deliveries_per_s:,.0f} over {client['span_s']:.2f} s; latency ms "
        f"p50 {latency['p50']:.2f}, p90 {latency['p90']:.2f}, p99 {latency['p99']:.2f}, "
        f"max {latency['max']:.2f}",
        f"publish loop: {publish['published']:,} events in {publish['elapsed_s']:.2f} s "
        f"({publish['achieved_rate']:,.0f}/s), at most {publish['max_lag_ms']:.1f} ms behind schedule",
    ]
    schedule = client.get("schedule_latency_ms")
    if schedule:
        lines.append(
            f"latency from the scheduled publish time, ms: p50 {schedule['p50']:.2f}, "
            f"p99 {schedule['p99']:.2f}, max {schedule['max']:.2f}"
        )
    frames = max(run.received, 1)
    client_busy = client["client_cpu_s"] / client["span_s"] if client["span_s"] > 0 else math.nan
    lines.append(
        f"CPU: server {run.server_cpu_s:.2f} s ({run.server_cpu_s / frames * 1e6:.1f} µs per frame), "
        f"load client {client['client_cpu_s']:.2f} s ({client['client_cpu_s'] / frames * 1e6:.1f} µs "
        f"per frame, {client_busy:.0%} of one core over the span)"
    )
    if "frames_dropped_overflow" in run.stats:
        lines.append(
            f"engine: max_queued_frames {run.stats['max_queued_frames']:,}, frames dropped on overflow "
            f"{run.stats['frames_dropped_overflow']:,}, frames delivered {run.stats['frames_delivered']:,}"
        )
    for error in client["errors"][:3]:
        lines.append(f"client error: {error}")
    return lines


def summary(runs: dict[tuple[str, str], Run]) -> list[str]:
    def cell(server: str, mode: str, value: str) -> str:
        run = runs.get((server, mode))
        if run is None:
            return "-"
        if value == "pub/s":
            return f"{run.publish['achieved_rate']:,.0f}"
        if value == "deliv/s":
            return f"{run.deliveries_per_s:,.0f}"
        if value == "lost":
            return f"{run.lost:,}"
        if value == "cpu":
            return f"{run.server_cpu_s / max(run.received, 1) * 1e6:.1f}"
        if value == "client":
            return f"{run.client['client_cpu_s'] / max(run.received, 1) * 1e6:.1f}"
        if value == "sched p99":
            schedule = run.client.get("schedule_latency_ms")
            return f"{schedule['p99']:,.1f}" if schedule else "-"
        return f"{run.latency(value):,.1f}"

    rate_columns = (("pub/s", 7), ("deliv/s", 8), ("p50", 6), ("p99", 7), ("sched p99", 9), ("lost", 5))
    saturation_columns = (("deliv/s", 8), ("lost", 5), ("cpu", 5), ("client", 6))
    lines = [
        f"{'':<15} {'rate run (latency in ms)':<{sum(w + 1 for _, w in rate_columns)}}  saturation run",
        f"{'server':<15} "
        + " ".join(f"{name:>{width}}" for name, width in rate_columns)
        + "   "
        + " ".join(f"{name:>{width}}" for name, width in saturation_columns),
    ]
    measured = [server for server in APPS if any((server, mode) in runs for mode in ("rate", "saturation"))]
    for server in measured:
        lines.append(
            f"{server:<15} "
            + " ".join(f"{cell(server, 'rate', name):>{width}}" for name, width in rate_columns)
            + "   "
            + " ".join(f"{cell(server, 'saturation', name):>{width}}" for name, width in saturation_columns)
        )
    lines.append(
        "(pub/s: events/s the publish loop achieved; sched p99: latency from the scheduled publish "
        "time; cpu, client: server and load client CPU µs per delivered frame)"
    )
    ratios: dict[str, float] = {}
    for server in ("fraiseql", "fraiseql-serve", "fraiseql-native"):
        server_ratios: dict[str, float] = {}
        for mode in ("rate", "saturation"):
            ours, theirs = runs.get((server, mode)), runs.get(("strawberry", mode))
            if ours is not None and theirs is not None and theirs.deliveries_per_s > 0:
                server_ratios[mode] = ours.deliveries_per_s / theirs.deliveries_per_s
        if server_ratios:
            lines.append(
                f"{server} / strawberry deliveries/s: "
                + ", ".join(f"{mode} run {ratio:.2f}x" for mode, ratio in server_ratios.items())
            )
        if server == "fraiseql":
            ratios = server_ratios
        ours, theirs = runs.get((server, "saturation")), runs.get(("strawberry", "saturation"))
        if (
            ours is not None
            and theirs is not None
            and ours.received
            and theirs.received
            and ours.server_cpu_s > 0
        ):
            cpu_ratio = (theirs.server_cpu_s / theirs.received) / (ours.server_cpu_s / ours.received)
            lines.append(f"strawberry / {server} server CPU per frame (saturation run): {cpu_ratio:.2f}x")

    goals: list[tuple[str, str, str, bool]] = []
    rate_run, saturation_run = runs.get(("fraiseql", "rate")), runs.get(("fraiseql", "saturation"))
    if rate_run is not None:
        goals.append(("no frame lost (rate run)", f"{rate_run.lost:,} lost", "0", rate_run.lost == 0))
        p99 = rate_run.latency("p99")
        goals.append(("p99 latency (rate run)", f"{p99:.2f} ms", "< 50 ms", p99 < 50))
    if saturation_run is not None:
        goals.append(
            ("no frame lost (saturation)", f"{saturation_run.lost:,} lost", "0", saturation_run.lost == 0)
        )
    if "saturation" in ratios:
        ratio = ratios["saturation"]
        goals.append(("deliveries/s vs Strawberry", f"{ratio:.2f}x", ">= 5x (saturation)", ratio >= 5))
    lines.append("")
    lines.append(f"{'FraiseQL goal':<28} {'measured':>12}  {'goal':<20} status")
    for name, value, goal, met in goals:
        lines.append(f"{name:<28} {value:>12}  {goal:<20} {'met' if met else 'NOT MET'}")
    return lines


async def main_async(options: argparse.Namespace) -> dict[tuple[str, str], Run]:
    runs: dict[tuple[str, str], Run] = {}
    try:
        for mode in options.modes:
            for server in options.servers:
                progress(f"{server}: {mode} run")
                run = await run_once(server, mode, options)
                runs[(server, mode)] = run
                progress(
                    f"{server} {mode}: {run.deliveries_per_s:,.0f} deliveries/s, lost {run.lost:,}, "
                    f"p99 {run.latency('p99'):.2f} ms ({run.wall_s:.1f} s)"
                )
    finally:
        await servers.stop_all()
    return runs


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--quick", action="store_true", help="3 s rate run, 1,000-event burst (smoke run)")
    parser.add_argument("--connections", type=int, default=100, help="subscribers (default 100)")
    parser.add_argument("--rate", type=float, default=500.0, help="events/s of the rate run (default 500)")
    parser.add_argument("--duration", type=float, help="seconds of the rate run (default 10, --quick 3)")
    parser.add_argument(
        "--burst", type=int, help="events of the saturation run (default 5,000, --quick 1,000)"
    )
    parser.add_argument(
        "--grace", type=float, default=120.0, help="rate run: seconds to wait after publishing"
    )
    parser.add_argument("--saturation-timeout", type=float, default=300.0, help="saturation run: max seconds")
    parser.add_argument(
        "--saturation-queue",
        type=int,
        help="FraiseQL's max_queued_frames in the saturation run (default: SubscriptionConfig's)",
    )
    parser.add_argument(
        "--idle-timeout", type=float, default=10.0, help="stop after this long without frames"
    )
    parser.add_argument(
        "--servers",
        default="fraiseql,fraiseql-serve,fraiseql-native,strawberry,graphql-ws-node,async-graphql",
        help="comma-separated subset",
    )
    parser.add_argument("--modes", default="rate,saturation", help="comma-separated subset")
    parser.add_argument(
        "--report", type=Path, help="also write server.json and server.md (machine, versions) here"
    )
    parser.add_argument(
        "--client",
        choices=("rust", "python"),
        help="load client (default: rust when FRAISEQL_LOAD_CLIENT names its binary, else python)",
    )
    options = parser.parse_args()
    if options.duration is None:
        options.duration = 3.0 if options.quick else 10.0
    if options.burst is None:
        options.burst = 1_000 if options.quick else 5_000
    binary = os.environ.get("FRAISEQL_LOAD_CLIENT")
    if options.client is None:
        options.client = "rust" if binary else "python"
    if options.client == "rust" and not (binary and Path(binary).is_file()):
        parser.error("--client rust needs FRAISEQL_LOAD_CLIENT (scripts/bench.sh builds and sets it)")
    options.client_binary = binary if options.client == "rust" else None
    options.servers = [name for name in options.servers.split(",") if name]
    options.modes = [name for name in options.modes.split(",") if name]
    unknown = [name for name in options.servers if name not in APPS]
    unknown += [name for name in options.modes if name not in ("rate", "saturation")]
    if unknown:
        parser.error(f"unknown server or mode: {', '.join(unknown)}")

    print("fraiseql server benchmark" + (" (--quick)" if options.quick else ""))
    python = f"{platform.python_version()} ({platform.python_implementation()})"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"python {python}, {platform.machine()}, {os.cpu_count()} CPUs, load average {load}")
    print(f"fraiseql from {Path(fraiseql.__file__).parent}")
    print(
        f"{options.connections} subscribers on {servers.HOST}; rate run {options.rate:g} events/s x "
        f"{options.duration:g} s; saturation run {options.burst:,} events as fast as possible"
    )
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        runs = asyncio.run(main_async(options))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        servers.kill_leftovers()

    for (server, mode), run in runs.items():
        print()
        print(f"{server}, {mode} run ({run.wall_s:.1f} s from the publish request to the client's report)")
        for line in describe(run):
            print(f"  {line}")
    print()
    print("Summary")
    lines = summary(runs)
    for line in lines:
        print(f"  {line}")
    if options.report is not None:
        settings = {
            key: value
            for key, value in vars(options).items()
            if key not in ("report", "client_binary") and not callable(value)
        }
        recorded = [dataclasses.asdict(run) for run in runs.values()]
        report.write(options.report, settings, recorded, lines)
        print(f"report written to {options.report}/server.md and server.json")


if __name__ == "__main__":
    main()
