"""Profiles each system under the saturation load: where its CPU time goes while it fans out.

Run it with ``scripts/bench.sh profile [--servers a,b] [--seconds 10]``. For each server: a fresh
process, 100 subscribers (the compiled load client), then a burst as fast as possible, and while
it runs a sampling profiler attached to the server process for ``--seconds``:

* py-spy (``py-spy record --native``, which stops the process briefly for each sample) for the
  servers written in Python (``fraiseql``, ``fraiseql-serve``, ``strawberry``): Python frames,
  with the Rust and C frames below them;
* perf (``perf record -g``) for the others: ``fraiseql-native`` (tokio threads in Rust beside
  the Python event loop), ``async-graphql`` (Rust) and ``graphql-ws-node`` (started with
  ``--perf-basic-prof`` so that perf names the JavaScript functions).

It writes ``<server>.txt`` into ``--out`` (default ``docs/benchmarks/profiles/``): the samples'
top functions by self time (where the CPU is spent) and, for py-spy, by total time (which calls
lead there). A profile is proportions, so it means something on a busy machine too.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType

import servers
from measured_run import Load, client_command, read_line

ROOM = "bench"
DOCS = servers.BENCH_DIR.parent / "docs" / "benchmarks" / "profiles"
TOP = 25
TOP_TOTAL = 45
LINE_NUMBER = re.compile(r":\d+\)$")
#: Stacks of a thread waiting for work (a thread pool's idle worker): not the server's CPU time.
IDLE_MARKERS = ("Queue.get (queue.py", "_queue_SimpleQueue_get")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def top_frames(collapsed: str) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Self and total shares of each function in py-spy's raw output (``a;b;c count`` per line),
    leaving out the samples of threads waiting for work."""
    self_counts: collections.Counter[str] = collections.Counter()
    total_counts: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        if any(marker in stack for marker in IDLE_MARKERS):
            continue
        count = int(count_text)
        # One entry per function: "name (file.py:123)" -> "name (file.py)".
        frames = [LINE_NUMBER.sub(")", frame) for frame in stack.split(";")]
        samples += count
        self_counts[frames[-1]] += count
        for frame in set(frames):
            total_counts[frame] += count
    if samples == 0:
        return [], []

    def shares(counter: collections.Counter[str], top: int) -> list[tuple[str, float]]:
        return [(frame, count / samples) for frame, count in counter.most_common(top)]

    return shares(self_counts, TOP), shares(total_counts, TOP_TOTAL)


def _profiler_command(server: str, pid: int, seconds: float, output: Path) -> list[str]:
    if server in servers.PYTHON_SERVERS:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        return [
            py_spy, "record", "--pid", str(pid), "--duration", str(round(seconds)), "--rate", "200",
            "--native", "--format", "raw", "--output", str(output),
        ]  # fmt: skip
    perf = shutil.which("perf") or "/usr/bin/perf"
    return [perf, "record", "-F", "499", "-g", "-p", str(pid), "-o", str(output), "--", "sleep", str(seconds)]


def _perf_report(data: Path) -> str:
    perf = shutil.which("perf") or "/usr/bin/perf"
    command = [
        perf, "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,sym",
        "--percent-limit", "1", "-g", "none",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip() and not line.startswith("#")]
    return "\n".join(lines[: TOP * 2]) if lines else done.stderr


async def profile(server: str, client: list[str], subscribers: int, seconds: float, out: Path) -> Path:
    load = Load(connections=subscribers, expected=10**9, room=ROOM, timeout=seconds + 10, idle_timeout=10)
    node_flags = ("--perf-basic-prof",) if server == "graphql-ws-node" else ()
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryFile() as client_log:
        data = Path(scratch) / "profile.data"
        async with servers.running(server, node_flags=node_flags) as running:
            process = await servers.start(
                client_command(client, running.ws_url, load), client_log, pipe_stdio=True
            )
            try:
                await read_line(process, "ready", 120)
                await servers.wait_for_subscribers(running.base, subscribers, 30)
                # More events than the window can take: the server is saturated throughout.
                body = {"room": ROOM, "count": 2_000_000, "rate": 0}
                publishing = asyncio.ensure_future(
                    servers.http("POST", f"{running.base}/publish_loop", body, seconds + 60)
                )
                await asyncio.sleep(0.5)
                profiler = await asyncio.create_subprocess_exec(
                    *_profiler_command(server, running.pid, seconds, data),
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                )
                profiler_output, _ = await asyncio.wait_for(profiler.communicate(), seconds + 60)
                publishing.cancel()
            finally:
                await servers.stop(process)
        if server in servers.PYTHON_SERVERS:
            own, total = top_frames(data.read_text() if data.exists() else "")
            if not own:
                raise RuntimeError(f"py-spy recorded nothing:\n{profiler_output.decode(errors='replace')}")
            body_lines = ["top frames by self time:"]
            body_lines += [f"  {share:6.1%}  {frame}" for frame, share in own]
            body_lines += ["", "top frames by total time (the frame or a function it called):"]
            body_lines += [f"  {share:6.1%}  {frame}" for frame, share in total]
            tool = "py-spy record --native, 200 Hz"
        else:
            body_lines = ["top symbols by self time (perf report --no-children --sort dso,sym):"]
            body_lines += _perf_report(data).splitlines()
            tool = "perf record -g, 499 Hz"
            if len(body_lines) < 3:
                raise RuntimeError(f"perf recorded nothing:\n{profiler_output.decode(errors='replace')}")
    taken = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"{server} under the saturation load: {subscribers} subscribers, events published as fast "
        f"as possible; {tool} for {seconds:g} s; taken {taken} on {os.cpu_count()} CPUs "
        f"(load average {', '.join(f'{value:.2f}' for value in os.getloadavg())})",
        "",
    ]
    path = out / f"{server}.txt"
    path.write_text("\n".join(header + body_lines) + "\n")
    return path


async def main_async(options: argparse.Namespace, client: list[str]) -> None:
    try:
        for server in options.servers:
            print(f"... profiling {server} for {options.seconds:g} s", file=sys.stderr, flush=True)
            path = await profile(server, client, options.subscribers, options.seconds, options.out)
            print(f"    {path}", file=sys.stderr, flush=True)
    finally:
        await servers.stop_all()


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--servers", default=",".join(servers.APPS), help="comma-separated subset")
    parser.add_argument("--seconds", type=float, default=10.0, help="profiling window (default 10)")
    parser.add_argument("--subscribers", type=int, default=100, help="subscribers (default 100)")
    parser.add_argument("--out", type=Path, default=DOCS, help="directory of the summaries")
    options = parser.parse_args()
    options.servers = [name for name in options.servers.split(",") if name]
    unknown = [name for name in options.servers if name not in servers.APPS]
    if unknown:
        parser.error(f"unknown server: {', '.join(unknown)}")
    binary = os.environ.get("FRAISEQL_LOAD_CLIENT")
    if not (binary and Path(binary).is_file()):
        parser.error("FRAISEQL_LOAD_CLIENT must name the compiled load client (scripts/bench.sh builds it)")
    options.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        asyncio.run(main_async(options, [binary]))
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        servers.kill_leftovers()


if __name__ == "__main__":
    main()
