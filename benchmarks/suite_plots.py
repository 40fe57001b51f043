"""The PNG plots of a full run (``bench_suite.py``), drawn with matplotlib from its ``results.json``.

* ``throughput.png``: deliveries/s of the burst (as fast as possible) against subscribers;
* ``latency.png``: p50, p99 and p99.9 end-to-end latency against offered deliveries/s, one panel
  per system, one line style per subscriber count (a hollow marker: the server did not keep up);
* ``cpu_per_frame.png``: server and load client CPU per delivered frame in the burst with 100
  subscribers (the figure that holds across machines).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from suite_plan import keeps_up
from suite_tables import client_us_per_frame, server_us_per_frame

PERCENTILES = (("p50", "tab:blue"), ("p99", "tab:orange"), ("p99.9", "tab:red"))
LINE_STYLES = ("-", "--", ":", "-.")


def _servers(results: list[dict[str, Any]], scenario: str) -> list[str]:
    seen: list[str] = []
    for record in results:
        if record["scenario"] == scenario and record["server"] not in seen:
            seen.append(record["server"])
    return seen


def throughput(results: list[dict[str, Any]], path: Path) -> None:
    servers = _servers(results, "burst")
    if not servers:
        return
    figure, axes = plt.subplots(figsize=(8, 5))
    for server in servers:
        runs = sorted(
            (record for record in results if record["scenario"] == "burst" and record["server"] == server),
            key=lambda record: record["subscribers"],
        )
        axes.plot(
            [record["subscribers"] for record in runs],
            [record["client"]["deliveries_per_s"] for record in runs],
            marker="o",
            label=server,
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("subscribers (one room)")
    axes.set_ylabel("deliveries/s (burst, as fast as possible)")
    axes.set_title("Fan-out throughput against subscribers")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def latency(results: list[dict[str, Any]], path: Path) -> None:
    servers = _servers(results, "fanout")
    if not servers:
        return
    columns = min(3, len(servers))
    rows = math.ceil(len(servers) / columns)
    figure, grid = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False, sharey=True)
    subscriber_counts = sorted(
        {record["subscribers"] for record in results if record["scenario"] == "fanout"}
    )
    for index, server in enumerate(servers):
        axes = grid[index // columns][index % columns]
        for style, subscribers in zip(LINE_STYLES, subscriber_counts, strict=False):
            runs = sorted(
                (
                    record
                    for record in results
                    if record["scenario"] == "fanout"
                    and record["server"] == server
                    and record["subscribers"] == subscribers
                    and record["client"].get("latency_ms")
                ),
                key=lambda record: record["offered_per_s"],
            )
            if not runs:
                continue
            offered = [record["offered_per_s"] for record in runs]
            for name, colour in PERCENTILES:
                values = [record["client"]["latency_ms"][name] for record in runs]
                axes.plot(
                    offered, values, linestyle=style, color=colour, label=f"{name}, {subscribers:,} subs"
                )
                kept = [keeps_up(record) for record in runs]
                axes.scatter(
                    offered,
                    values,
                    color=colour,
                    facecolors=[colour if ok else "none" for ok in kept],
                    s=22,
                    zorder=3,
                )
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_title(server)
        axes.set_xlabel("offered deliveries/s")
        axes.grid(True, which="both", alpha=0.3)
        if index % columns == 0:
            axes.set_ylabel("latency, ms (publish to receive)")
        axes.legend(fontsize=6, ncol=2)
    for index in range(len(servers), rows * columns):
        grid[index // columns][index % columns].axis("off")
    figure.suptitle("Latency percentiles against offered load (hollow: did not keep up)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def cpu_per_frame(results: list[dict[str, Any]], path: Path) -> None:
    runs = [record for record in results if record["scenario"] == "burst"]
    if not runs:
        return
    smallest = min(record["subscribers"] for record in runs)
    runs = [record for record in runs if record["subscribers"] == smallest]
    names = [record["server"] for record in runs]
    positions = range(len(runs))
    figure, axes = plt.subplots(figsize=(8, 5))
    width = 0.4
    server_cpu = [server_us_per_frame(record) for record in runs]
    client_cpu = [client_us_per_frame(record) for record in runs]
    axes.bar([p - width / 2 for p in positions], server_cpu, width, label="server")
    axes.bar([p + width / 2 for p in positions], client_cpu, width, label="load client")
    for position, value in zip(positions, server_cpu, strict=True):
        label = f"{value:.1f}" if value < 10 else f"{value:,.0f}"
        axes.annotate(label, (position - width / 2, value), ha="center", va="bottom", fontsize=8)
    axes.set_xticks(list(positions), names, rotation=20)
    axes.set_yscale("log")
    axes.set_ylabel("CPU µs per delivered frame")
    axes.set_title(f"CPU per delivered frame (burst, {smallest:,} subscribers)")
    axes.grid(True, axis="y", which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def draw_all(document: dict[str, Any], directory: Path) -> list[str]:
    """Draws every plot the results allow; returns the file names written."""
    results = document["results"]
    written = []
    for name, draw in (
        ("throughput.png", throughput),
        ("latency.png", latency),
        ("cpu_per_frame.png", cpu_per_frame),
    ):
        path = directory / name
        draw(results, path)
        if path.exists():
            written.append(name)
    return written
