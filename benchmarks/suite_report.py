"""``report.md`` of a full run (``bench_suite.py``): the machine, versions and plan, the seed targets,
a table per scenario and the plots, all generated from the run's ``results.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import seed_targets
import suite_plots
import suite_tables

SCENARIO_TITLES = {
    "fanout": "Fan-out, paced (one room, events/s on a fixed schedule)",
    "burst": "Fan-out, burst (as fast as possible)",
    "rooms": "Many rooms (each subscriber its own room, one event per subscriber)",
    "storm": "Subscribe storm (every client connects and subscribes at once)",
    "memory": "Memory (server RSS, from /proc)",
}


def _records(document: dict[str, Any], scenario: str) -> list[dict[str, Any]]:
    return [record for record in document["results"] if record["scenario"] == scenario]


def _about(document: dict[str, Any]) -> list[str]:
    machine, versions = document["machine"], document["versions"]
    load = ", ".join(f"{value:g}" for value in machine["load_average_at_start"])
    return [
        f"Taken {document['date']} with plan `{document['plan']['name']}` in "
        f"{document['duration_s'] / 60:.1f} min, on {machine['cpu_model']}, {machine['cpus']} CPUs, "
        f"{machine['memory_gib']} GiB ({machine['system']}; load average at start {load}).",
        "",
        "Versions: " + ", ".join(f"{name} {value}" for name, value in versions.items() if value) + ".",
        "",
        "Everything on loopback; every run a fresh server process; the load client is "
        "`benchmarks/load-client` (Rust, one thread). How to read this: "
        "[../README.md](../README.md).",
    ]


def markdown(document: dict[str, Any], plots: list[str]) -> str:
    lines = ["# Benchmark run (`scripts/bench.sh suite`)", "", *_about(document), ""]
    lines += ["## Seed targets", "", *seed_targets.seed_table(document), ""]
    lines += ["## Native transport goals", "", *seed_targets.native_goals(document), ""]
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{name}]({name})" for name in plots]
        lines.append("")
    renderers = {
        "fanout": suite_tables.fanout,
        "burst": suite_tables.burst,
        "rooms": suite_tables.rooms,
        "storm": suite_tables.storm,
        "memory": suite_tables.memory,
    }
    for scenario, render_table in renderers.items():
        records = _records(document, scenario)
        if records:
            lines += [f"## {SCENARIO_TITLES[scenario]}", "", *render_table(records), ""]
    lines += ["## The engine alone", "", *_engine(document), ""]
    lines += ["## Not measured", "", *suite_tables.not_measured(document["skipped"], document["failed"]), ""]
    lines += [
        "CPU columns: the server's (all its threads, from /proc) and the load client's CPU time per "
        "delivered frame, and each as a share of one core over the run's wall time.",
        "",
    ]
    return "\n".join(lines)


def _engine(document: dict[str, Any]) -> list[str]:
    engine = document.get("engine")
    if not engine:
        return ["The engine alone was not measured in this run."]
    note = " (`--quick`: iteration counts / 10)" if engine.get("quick") else ""
    return [f"`bench_engine.py`{note}, its summary:", "", "```", *engine["summary"], "```"]


def render(directory: Path) -> None:
    """Writes ``report.md`` and the plots of ``directory/results.json`` into ``directory``."""
    document = json.loads((directory / "results.json").read_text())
    plots = suite_plots.draw_all(document, directory)
    (directory / "report.md").write_text(markdown(document, plots))
