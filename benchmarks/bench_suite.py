"""The full benchmark run: every scenario, every system, one load client, one report.

Run it with ``scripts/bench.sh suite`` (release build in ``.venv-bench/``, the compiled load client
and both peers built): it measures, in this order and each against a fresh server process,

* fan-out sweeps (``fanout``): 100, 1,000 and 10,000 subscribers of one room at paced rates up
  to the first one the server cannot keep up with, then a burst as fast as possible (``burst``)
  for each subscriber count;
* many rooms (``rooms``): each subscriber in its own room, one event per subscriber;
* a subscribe storm (``storm``) of 10,000 clients, then a few events each timed to its last frame;
* memory (``memory``): resident memory per idle connection and per subscription;
* the engine alone (``engine``): ``bench_engine.py``, no sockets;

for the systems of ``servers.APPS`` (``--servers`` for a subset). It writes ``results.json``,
``report.md`` (a Markdown table per scenario, the seed targets) and PNG plots into
``docs/benchmarks/<date>/`` (``--out``), and refreshes ``docs/benchmarks/runs.md``, the index of
the committed runs. ``--plan quick`` runs every scenario in a few minutes (checks, not figures);
``--render DIR`` rewrites a run's report and plots from its ``results.json``.

The load client is ``load-client/`` (Rust, one thread), named by ``FRAISEQL_LOAD_CLIENT``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import report
import scenarios
import servers
import suite_report
from suite_plan import PLANS, Plan, keeps_up

SCENARIOS = ("fanout", "burst", "rooms", "storm", "memory", "engine")
DOCS = servers.BENCH_DIR.parent / "docs" / "benchmarks"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: unwind like Ctrl-C, so that every ``finally`` stops its processes."""
    raise KeyboardInterrupt


def headline(record: dict[str, Any]) -> str:
    client = record["client"]
    latency = client.get("latency_ms") or {}
    frames = max(int(client["received"]), 1)
    return (
        f"{client['deliveries_per_s']:,.0f} deliveries/s, lost {client['lost']:,}, "
        f"p99 {latency.get('p99', float('nan')):.2f} ms, server {record['server_cpu_s'] / frames * 1e6:.1f} "
        f"µs/frame, client {client['client_cpu_s'] / frames * 1e6:.1f} µs/frame"
    )


class Suite:
    """Runs the plan's scenarios, records every result (or why a run is missing)."""

    def __init__(self, plan: Plan, servers_: Sequence[str], client: Sequence[str]) -> None:
        self.plan = plan
        self.servers = list(servers_)
        self.client = list(client)
        self.results: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.failed: list[dict[str, Any]] = []
        self.engine: dict[str, Any] | None = None

    async def attempt(
        self, label: dict[str, Any], run: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any] | None:
        """One run; a failure is recorded (with its message) and the suite goes on."""
        described = ", ".join(f"{key} {value}" for key, value in label.items())
        progress(f"{described} ...")
        started = time.monotonic()
        try:
            record = await run()
        except (RuntimeError, OSError, asyncio.TimeoutError, ValueError) as error:
            progress(f"  FAILED: {type(error).__name__}: {error}")
            self.failed.append({**label, "error": f"{type(error).__name__}: {error}"})
            return None
        record["elapsed_s"] = time.monotonic() - started
        self.results.append(record)
        if "client" in record and record["client"].get("latency_ms") is not None:
            progress(f"  {headline(record)} ({record['elapsed_s']:.1f} s)")
        return record

    def skip(self, label: dict[str, Any], reason: str) -> None:
        progress(f"{', '.join(f'{key} {value}' for key, value in label.items())}: skipped ({reason})")
        self.skipped.append({**label, "reason": reason})

    async def fanout(self) -> None:
        plan = self.plan
        for subscribers, rates in plan.fanout.items():
            for server in self.servers:
                label = {"scenario": "fanout", "server": server, "subscribers": subscribers}
                capped = plan.cap_for(server, subscribers)
                if capped:
                    self.skip(label, capped)
                    continue
                for index, rate in enumerate(rates):
                    record = await self.attempt(
                        {**label, "rate": rate},
                        partial(
                            scenarios.fanout,
                            server,
                            self.client,
                            subscribers,
                            rate,
                            plan.fanout_duration_s,
                            plan.grace_s,
                        ),
                    )
                    if record is None or not keeps_up(record):
                        if index + 1 < len(rates):
                            higher = ", ".join(f"{value:g}" for value in rates[index + 1 :])
                            self.skip({**label, "rate": higher}, "saturated at a lower rate")
                        break

    async def burst(self) -> None:
        plan = self.plan
        for subscribers in plan.fanout:
            events = max(1, plan.burst_frames // subscribers)
            for server in self.servers:
                label = {"scenario": "burst", "server": server, "subscribers": subscribers}
                capped = plan.cap_for(server, subscribers)
                if capped:
                    self.skip(label, capped)
                    continue
                await self.attempt(
                    label,
                    partial(
                        scenarios.burst,
                        server,
                        self.client,
                        subscribers,
                        events,
                        plan.burst_timeout_s,
                        plan.grace_s,
                    ),
                )

    async def rooms(self) -> None:
        plan = self.plan
        for server in self.servers:
            label = {"scenario": "rooms", "server": server, "subscribers": plan.rooms_subscribers}
            for index, rate in enumerate(plan.rooms_rates):
                record = await self.attempt(
                    {**label, "rate": rate},
                    partial(
                        scenarios.rooms,
                        server,
                        self.client,
                        plan.rooms_subscribers,
                        rate,
                        plan.fanout_duration_s,
                        plan.grace_s,
                    ),
                )
                if record is None or not keeps_up(record):
                    if index + 1 < len(plan.rooms_rates):
                        higher = ", ".join(f"{value:g}" for value in plan.rooms_rates[index + 1 :])
                        self.skip({**label, "rate": higher}, "saturated at a lower rate")
                    break

    async def storm(self) -> None:
        plan = self.plan
        for server in self.servers:
            connections = plan.connections_for(server, plan.storm_connections)
            label = {"scenario": "storm", "server": server, "connections": connections}
            if connections < plan.storm_connections:
                self.skip({**label, "connections": plan.storm_connections}, plan.caps[server][1])
            record = await self.attempt(
                label,
                partial(scenarios.storm, server, self.client, connections, plan.storm_events, 120),
            )
            if record is not None:
                connect = record["client"]["connect"]
                last = record["client"].get("event_last_frame_ms") or {}
                registered = record["registered_s"]
                progress(
                    f"  {record['registered']:,} subscribed, connect errors {connect['error_count']}, "
                    f"all acknowledged after {connect['connected_s']:.2f} s, all registered after "
                    + (f"{registered:.2f} s" if registered is not None else "never")
                    + f"; last frame of an event p50 {last.get('p50', float('nan')):.1f} ms"
                )

    async def memory(self) -> None:
        plan = self.plan
        for server in self.servers:
            connections = plan.connections_for(server, plan.memory_connections)
            label = {"scenario": "memory", "server": server, "connections": connections}
            if connections < plan.memory_connections:
                self.skip({**label, "connections": plan.memory_connections}, plan.caps[server][1])
            record = await self.attempt(
                label,
                partial(scenarios.memory, server, self.client, connections),
            )
            if record is not None:
                progress(
                    f"  {record['bytes_per_connection']:,.0f} B per idle connection, "
                    f"{record['bytes_per_subscription']:,.0f} B per subscription"
                )

    def run_engine(self) -> None:
        """``bench_engine.py`` in a child process (a fresh heap for its memory figure)."""
        progress("engine alone (bench_engine.py) ...")
        with tempfile.TemporaryDirectory() as scratch:
            values = Path(scratch) / "engine.json"
            command = [sys.executable, "bench_engine.py", *self.plan.engine_arguments, "--json", str(values)]
            done = subprocess.run(command, cwd=servers.BENCH_DIR, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                progress(f"  FAILED: bench_engine.py exited with {done.returncode}")
                self.failed.append({"scenario": "engine", "error": done.stderr[-2000:]})
                return
            self.engine = json.loads(values.read_text())
        progress("  done")


async def run_suite(suite: Suite, chosen: Sequence[str]) -> None:
    try:
        for scenario in chosen:
            if scenario == "engine":
                suite.run_engine()
            else:
                await getattr(suite, scenario)()
    finally:
        await servers.stop_all()


def write_index(docs: Path) -> None:
    """``docs/benchmarks/runs.md``: every committed run, newest first, with its machine and plan."""
    rows = []
    for results in sorted(docs.glob("*/results.json"), reverse=True):
        document = json.loads(results.read_text())
        machine = document["machine"]
        rows.append(
            f"| [{results.parent.name}]({results.parent.name}/report.md) | {document['date']} | "
            f"{document['plan']['name']} | {machine['cpu_model']}, {machine['cpus']} CPUs, "
            f"{machine['memory_gib']} GiB |"
        )
    lines = [
        "# Benchmark runs",
        "",
        "Written by `scripts/bench.sh suite` (benchmarks/bench_suite.py); newest first. How to read "
        "them: [README.md](README.md).",
        "",
        "| run | date | plan | machine |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
    (docs / "runs.md").write_text("\n".join(lines))


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument(
        "--plan", choices=sorted(PLANS), default="full", help="sizes and rates (default full)"
    )
    parser.add_argument("--servers", default=",".join(servers.APPS), help="comma-separated subset")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated subset")
    parser.add_argument("--out", type=Path, help="output directory (default docs/benchmarks/<date>)")
    parser.add_argument(
        "--render", type=Path, help="only rewrite report.md and the plots from DIR/results.json"
    )
    options = parser.parse_args()
    if options.render is not None:
        suite_report.render(options.render)
        print(f"rendered {options.render}/report.md")
        return
    chosen_servers = [name for name in options.servers.split(",") if name]
    chosen = [name for name in options.scenarios.split(",") if name]
    unknown = [name for name in chosen_servers if name not in servers.APPS]
    unknown += [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(f"unknown server or scenario: {', '.join(unknown)}")
    binary = os.environ.get("FRAISEQL_LOAD_CLIENT")
    if not (binary and Path(binary).is_file()):
        parser.error("FRAISEQL_LOAD_CLIENT must name the compiled load client (scripts/bench.sh builds it)")
    plan = PLANS[options.plan]
    date = datetime.datetime.now(datetime.timezone.utc)
    out: Path = options.out or DOCS / date.strftime("%Y-%m-%d")
    suite = Suite(plan, chosen_servers, [binary])

    progress(f"plan {plan.name}: scenarios {', '.join(chosen)}; servers {', '.join(chosen_servers)}")
    progress(f"results go to {out}")
    machine = report.machine()
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        asyncio.run(run_suite(suite, chosen))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        servers.kill_leftovers()
    document = {
        "date": date.strftime("%Y-%m-%d %H:%M UTC"),
        "duration_s": time.monotonic() - started,
        "machine": machine,
        "versions": report.versions(),
        "plan": plan.to_json(),
        "servers": chosen_servers,
        "scenarios": chosen,
        "results": suite.results,
        "skipped": suite.skipped,
        "failed": suite.failed,
        "engine": suite.engine,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    suite_report.render(out)
    if out.parent.resolve() == DOCS.resolve():
        write_index(DOCS)
    progress(f"done in {(time.monotonic() - started) / 60:.1f} min: {out}/report.md, results.json and plots")
    if suite.failed:
        progress(f"{len(suite.failed)} run(s) failed: see report.md")
        sys.exit(1)


if __name__ == "__main__":
    main()
