"""The Markdown tables of a full run (``bench_suite.py``), one per scenario, from its ``results.json``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from suite_plan import keeps_up

MIB = 1024 * 1024


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def number(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def rate(value: float) -> str:
    """An events/s rate: no decimals unless it has some."""
    return f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:g}"


def frames(record: dict[str, Any]) -> int:
    return max(int(record["client"]["received"]), 1)


def server_us_per_frame(record: dict[str, Any]) -> float:
    return float(record["server_cpu_s"]) / frames(record) * 1e6


def client_us_per_frame(record: dict[str, Any]) -> float:
    return float(record["client"]["client_cpu_s"]) / frames(record) * 1e6


def core_share(cpu_s: float, record: dict[str, Any]) -> str:
    """CPU time over the run's wall time, as a share of one core."""
    wall = float(record["wall_s"])
    return f"{cpu_s / wall:.0%}" if wall > 0 else "-"


def latency(record: dict[str, Any], name: str) -> str:
    percentiles = record["client"].get("latency_ms")
    return number(percentiles[name], 2) if percentiles else "-"


def cpu_cells(record: dict[str, Any]) -> list[str]:
    return [
        number(server_us_per_frame(record), 2),
        core_share(float(record["server_cpu_s"]), record),
        number(client_us_per_frame(record), 2),
        core_share(float(record["client"]["client_cpu_s"]), record),
    ]


CPU_HEADER = ("server µs/frame", "server CPU", "client µs/frame", "client CPU")


def fanout(records: list[dict[str, Any]]) -> list[str]:
    header = (
        "server", "subscribers", "events/s", "offered/s", "delivered/s", "p50 ms", "p99 ms",
        "p99.9 ms", "max ms", "lost", "kept up", *CPU_HEADER,
    )  # fmt: skip
    rows = []
    for record in records:
        client = record["client"]
        rows.append(
            [
                record["server"],
                number(record["subscribers"]),
                rate(record["rate"]),
                number(record["offered_per_s"]),
                number(client["deliveries_per_s"]),
                latency(record, "p50"),
                latency(record, "p99"),
                latency(record, "p99.9"),
                latency(record, "max"),
                number(client["lost"]),
                "yes" if keeps_up(record) else "no",
                *cpu_cells(record),
            ]
        )
    return table(header, rows)


def burst(records: list[dict[str, Any]]) -> list[str]:
    header = ("server", "subscribers", "events", "delivered/s", "events/s", "p99 ms", "lost", *CPU_HEADER)
    rows = []
    for record in records:
        client = record["client"]
        delivered = float(client["deliveries_per_s"])
        rows.append(
            [
                record["server"],
                number(record["subscribers"]),
                number(record["events"]),
                number(delivered),
                number(delivered / record["subscribers"]),
                latency(record, "p99"),
                number(client["lost"]),
                *cpu_cells(record),
            ]
        )
    return table(header, rows)


def rooms(records: list[dict[str, Any]]) -> list[str]:
    header = (
        "server", "rooms", "events/s", "delivered/s", "p50 ms", "p99 ms", "p99.9 ms", "lost", "kept up",
        *CPU_HEADER,
    )  # fmt: skip
    rows = []
    for record in records:
        client = record["client"]
        rows.append(
            [
                record["server"],
                number(record["subscribers"]),
                rate(record["rate"]),
                number(client["deliveries_per_s"]),
                latency(record, "p50"),
                latency(record, "p99"),
                latency(record, "p99.9"),
                number(client["lost"]),
                "yes" if keeps_up(record) else "no",
                *cpu_cells(record),
            ]
        )
    return table(header, rows)


def storm(records: list[dict[str, Any]]) -> list[str]:
    header = (
        "server", "connections", "connect errors", "all acknowledged s", "all registered s",
        "events", "last frame p50 ms", "last frame max ms", "lost", "server RSS MiB",
    )  # fmt: skip
    rows = []
    for record in records:
        client = record["client"]
        connect = client["connect"]
        last = client.get("event_last_frame_ms") or {}
        registered = record["registered_s"]
        rows.append(
            [
                record["server"],
                number(record["connections"]),
                number(connect["error_count"]),
                number(connect["connected_s"], 2),
                number(registered, 2)
                if registered is not None
                else f"never ({number(record['registered'])} counted)",
                number(client["events_seen"]),
                number(last.get("p50"), 1),
                number(last.get("max"), 1),
                number(client["lost"]),
                number(record["rss_bytes"] / MIB, 1),
            ]
        )
    return table(header, rows)


def memory(records: list[dict[str, Any]]) -> list[str]:
    header = (
        "server", "connections", "RSS idle MiB", "with connections MiB", "with subscriptions MiB",
        "B per idle connection", "B per subscription", "lost",
    )  # fmt: skip
    rows = []
    for record in records:
        rows.append(
            [
                record["server"],
                number(record["connections"]),
                number(record["rss_idle_bytes"] / MIB, 1),
                number(record["rss_connected_bytes"] / MIB, 1),
                number(record["rss_subscribed_bytes"] / MIB, 1),
                number(record["bytes_per_connection"]),
                number(record["bytes_per_subscription"]),
                number(record["client"]["lost"]),
            ]
        )
    return table(header, rows)


def not_measured(skipped: list[dict[str, Any]], failed: list[dict[str, Any]]) -> list[str]:
    rows = []
    for entry in skipped:
        what = ", ".join(f"{key} {value}" for key, value in entry.items() if key != "reason")
        rows.append([what, "skipped", entry["reason"]])
    for entry in failed:
        what = ", ".join(f"{key} {value}" for key, value in entry.items() if key != "error")
        rows.append([what, "failed", str(entry["error"]).replace("\n", " ").replace("|", "/")[:300]])
    return table(("run", "outcome", "why"), rows) if rows else ["Every planned run was measured."]
