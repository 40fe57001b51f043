"""The server benchmark, seconds long, so that it never rots: every FraiseQL server it measures
starts, takes its subscribers and delivers every frame, with the report written. Figures are
printed by ``scripts/bench.sh server``, never asserted here."""

from __future__ import annotations

import json
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
