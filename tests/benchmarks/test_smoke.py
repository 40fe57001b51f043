"""The benchmarks, seconds long, so that they never rot: the server benchmark and every scenario of
the full run (``bench_suite.py``) against every FraiseQL server, each starting, taking its
subscribers and delivering every frame, with the reports written. Figures are printed by
``scripts/bench.sh server|suite``, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.slow
def test_the_server_benchmark_runs(tmp_path: Path) -> None:
    servers = "fraiseql,fraiseql-serve,fraiseql-native"
    command = [sys.executable, "bench_server.py", "--quick", "--client", "python", "--servers", servers]
    command += ["--connections", "5", "--burst", "100", "--rate", "100", "--duration", "1"]
    done = subprocess.run(
        [*command, "--report", str(tmp_path)],
        cwd=BENCHMARKS,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "server.json").read_text())
    measured = {(run["server"], run["mode"]): run for run in report["runs"]}
    for server in ("fraiseql", "fraiseql-serve", "fraiseql-native"):
        for mode, expected in (("rate", 5 * 100), ("saturation", 5 * 100)):
            client = measured[(server, mode)]["client"]
            outcome = (client["received"], client["lost"], client["error_count"])
            assert outcome == (expected, 0, 0), (server, mode)
    assert report["machine"]["cpus"] >= 1
    assert "fraiseql-native" in (tmp_path / "server.md").read_text()


def load_client_binary() -> Path:
    """The compiled load client: ``FRAISEQL_LOAD_CLIENT``, else built here (cargo; cached after)."""
    named = os.environ.get("FRAISEQL_LOAD_CLIENT")
    if named:
        return Path(named)
    manifest = BENCHMARKS / "load-client" / "Cargo.toml"
    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--manifest-path", str(manifest)],
        check=True,
        timeout=1800,
    )
    metadata = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--manifest-path", str(manifest)],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(json.loads(metadata.stdout)["target_directory"]) / "release" / "fraiseql-load-client"


@pytest.mark.slow
def test_every_scenario_of_the_full_run_runs(tmp_path: Path) -> None:
    """``bench_suite.py --plan smoke``: every scenario against every FraiseQL server, with the
    report, the seed targets and the plots written from the results."""
    servers = ("fraiseql", "fraiseql-serve", "fraiseql-websockets", "fraiseql-native")
    env = {**os.environ, "FRAISEQL_LOAD_CLIENT": str(load_client_binary())}
    command = [sys.executable, "bench_suite.py", "--plan", "smoke", "--servers", ",".join(servers)]
    done = subprocess.run(
        [*command, "--out", str(tmp_path)],
        cwd=BENCHMARKS,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads((tmp_path / "results.json").read_text())
    assert document["failed"] == []
    measured = {(record["scenario"], record["server"]) for record in document["results"]}
    for scenario in ("fanout", "burst", "rooms", "storm", "memory"):
        for server in servers:
            assert (scenario, server) in measured, (scenario, server)
    for record in document["results"]:
        client = record["client"]
        assert (client["lost"], client["error_count"]) == (0, 0), (record["scenario"], record["server"])
        if record["scenario"] == "storm":
            assert client["connect"]["error_count"] == 0
            assert record["registered"] == record["connections"]
            assert client["events_seen"] == record["events"]
        if record["scenario"] == "memory":
            assert record["rss_subscribed_bytes"] > 0
    assert document["engine"]["values"]["p99_us"] > 0
    report = (tmp_path / "report.md").read_text()
    for heading in ("## Seed targets", "## Native transport goals", "## Many rooms", "## Subscribe storm"):
        assert heading in report
    for plot in ("throughput.png", "latency.png", "cpu_per_frame.png"):
        assert (tmp_path / plot).read_bytes().startswith(b"\x89PNG"), plot
