"""What ``bench_server.py --report DIR`` writes: the runs as JSON and a Markdown report, each with
the machine (CPU model, cores, memory), the versions of everything measured, and the date."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def _first_line(command: list[str]) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip().splitlines()[0]
    return None


def machine() -> dict[str, Any]:
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gib = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gib": memory_gib,
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "node": _first_line(["node", "--version"]),
        "rustc": _first_line(["rustc", "--version"]),
    }
    for package in (
        "fraiseql-subscriptions",
        "uvicorn",
        "uvloop",
        "websockets",
        "fastapi",
        "strawberry-graphql",
    ):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def write(directory: Path, options: dict[str, Any], runs: list[dict[str, Any]], summary: list[str]) -> None:
    """Writes ``server.json`` and ``server.md`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    taken = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    about, found = machine(), versions()
    document = {"date": taken, "machine": about, "versions": found, "options": options, "runs": runs}
    (directory / "server.json").write_text(json.dumps(document, indent=2) + "\n")
    lines = [
        "# Server benchmark (`scripts/bench.sh server`)",
        "",
        f"Taken {taken} on {about['cpu_model']}, {about['cpus']} CPUs, {about['memory_gib']} GiB "
        f"({about['system']}; load average at start {about['load_average_at_start']}).",
        "",
        "Versions: " + ", ".join(f"{name} {value}" for name, value in found.items() if value),
        "",
        f"Options: {json.dumps(options)}",
        "",
        "```",
        *summary,
        "```",
        "",
        "Every run, with the load client's and the server's CPU time, is in `server.json`.",
        "",
    ]
    (directory / "server.md").write_text("\n".join(lines))
