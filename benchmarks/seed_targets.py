"""The seeds' performance targets (and the native transport's goals of issue 12), each with the value
a full run measured and the conditions it was measured under, from that run's ``results.json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from suite_plan import keeps_up
from suite_tables import table

FRAISEQL_SERVERS = ("fraiseql", "fraiseql-serve", "fraiseql-websockets", "fraiseql-native")
KIB = 1024

Row = list[str]


def _of(results: list[dict[str, Any]], scenario: str, server: str) -> list[dict[str, Any]]:
    return [record for record in results if record["scenario"] == scenario and record["server"] == server]


def _status(met: bool | None) -> str:
    return "-" if met is None else ("met" if met else "NOT MET")


def end_to_end(results: list[dict[str, Any]], server: str) -> Row | None:
    """p99 end to end at 100 subscribers, the paced rate nearest 500 events/s."""
    runs = [record for record in _of(results, "fanout", server) if record["subscribers"] == 100]
    if not runs:
        return None
    run = min(runs, key=lambda record: abs(record["rate"] - 500))
    p99 = float(run["client"]["latency_ms"]["p99"])
    conditions = (
        f"{server}: p99 from publish to receive, 100 subscribers, {run['rate']:g} events/s "
        f"({run['offered_per_s']:,.0f} deliveries/s) for {run['duration']:g} s"
    )
    return ["end to end < 10 ms", f"{p99:.2f} ms", conditions, _status(p99 < 10)]


def events_per_second(results: list[dict[str, Any]], server: str) -> Row | None:
    """Events/s with 100 subscriptions: the burst's delivered frames/s over 100."""
    runs = [record for record in _of(results, "burst", server) if record["subscribers"] == 100]
    if not runs:
        return None
    run = runs[0]
    events = float(run["client"]["deliveries_per_s"]) / 100
    paced = [
        record["rate"]
        for record in _of(results, "fanout", server)
        if record["subscribers"] == 100 and keeps_up(record)
    ]
    kept = f"; highest paced rate kept up with: {max(paced):,.0f} events/s" if paced else ""
    conditions = (
        f"{server}: {run['events']:,} events as fast as possible to 100 subscribers "
        f"({run['client']['deliveries_per_s']:,.0f} deliveries/s, lost {run['client']['lost']:,}){kept}"
    )
    return [
        "> 10,000 events/s with 100 subscriptions",
        f"{events:,.0f} events/s",
        conditions,
        _status(events > 10_000),
    ]


def dispatch(engine: dict[str, Any] | None) -> Row | None:
    if not engine:
        return None
    p99 = float(engine["values"]["p99_us"])
    conditions = (
        "engine alone (bench_engine.py 1): one publish_event call until the frames of 100 "
        "subscriptions (100 connections) are queued, p99"
    )
    return ["dispatch to 100 subscriptions < 1 ms", f"{p99:.1f} µs", conditions, _status(p99 < 1000)]


def resolver(engine: dict[str, Any] | None) -> Row | None:
    if not engine:
        return None
    sync_us = 1e6 / float(engine["values"]["sync_eps"])
    async_us = 1e6 / float(engine["values"]["async_eps"])
    conditions = (
        "engine alone (bench_engine.py 3): time per event with one Python resolver shared by 100 "
        "subscriptions, draining their frames included; sync resolver, async resolver"
    )
    measured = f"{sync_us:.1f} µs, {async_us:.1f} µs"
    return ["resolver overhead < 100 µs", measured, conditions, _status(max(sync_us, async_us) < 100)]


def many_subscriptions(results: list[dict[str, Any]], server: str) -> Row | None:
    runs = _of(results, "storm", server)
    if not runs:
        return None
    run = runs[0]
    client = run["client"]
    connect = client["connect"]
    ok = run["registered"] >= 10_000 and connect["error_count"] == 0 and client["lost"] == 0
    registered = run["registered_s"]
    conditions = (
        f"{server}: {run['connections']:,} clients connect and subscribe at once; "
        f"{connect['error_count']:,} errors, all registered after "
        + (f"{registered:.2f} s" if registered is not None else "never")
        + f", then {client['events_seen']} events reached them all (lost {client['lost']:,})"
    )
    return ["10,000+ subscriptions", f"{run['registered']:,}", conditions, _status(ok)]


def idle_connection_memory(results: list[dict[str, Any]], server: str) -> Row | None:
    runs = _of(results, "memory", server)
    if not runs:
        return None
    run = runs[0]
    per_connection = float(run["bytes_per_connection"])
    conditions = (
        f"{server}: server RSS growth over {run['connections']:,} acknowledged connections without "
        f"subscriptions (per subscription: {run['bytes_per_subscription']:,.0f} B more)"
    )
    return [
        "memory per idle connection < 16 KiB",
        f"{per_connection / KIB:,.1f} KiB",
        conditions,
        _status(per_connection < 16 * KIB),
    ]


def last_frame(results: list[dict[str, Any]], server: str) -> Row | None:
    runs = _of(results, "storm", server)
    if not runs or not runs[0]["client"].get("event_last_frame_ms"):
        return None
    run = runs[0]
    last = run["client"]["event_last_frame_ms"]
    conditions = (
        f"{server}: one event to {run['registered']:,} subscribed connections, from the publish call "
        f"to the last of their frames received; over {run['client']['events_seen']} events 0.2 s apart "
        f"(max {last['max']:.1f} ms)"
    )
    # The goal is for 10,000 subscribers: a smaller run (a quick or smoke plan) is not judged.
    at_scale = run["registered"] >= 10_000
    return [
        "one event to 10,000: last frame < 20 ms",
        f"p50 {last['p50']:.1f} ms",
        conditions,
        _status(last["max"] < 20 if at_scale else None),
    ]


def p99_at_100k(results: list[dict[str, Any]], server: str) -> list[Row]:
    rows = []
    for record in _of(results, "fanout", server):
        if abs(record["offered_per_s"] - 100_000) > 1:
            continue
        p99 = float(record["client"]["latency_ms"]["p99"])
        conditions = (
            f"{server}: {record['subscribers']:,} subscribers x {record['rate']:g} events/s for "
            f"{record['duration']:g} s; delivered {record['client']['deliveries_per_s']:,.0f}/s, "
            f"lost {record['client']['lost']:,}"
        )
        met = p99 < 5 and keeps_up(record)
        rows.append(["p99 at 100,000 deliveries/s < 5 ms", f"{p99:.2f} ms", conditions, _status(met)])
    return rows


def seed_table(document: dict[str, Any]) -> list[str]:
    results, engine = document["results"], document.get("engine")
    rows: list[Row] = []
    per_server: list[Callable[[list[dict[str, Any]], str], Row | None]] = [end_to_end, events_per_second]
    for target in per_server:
        rows += [row for server in FRAISEQL_SERVERS if (row := target(results, server)) is not None]
    rows += [row for row in (dispatch(engine), resolver(engine)) if row is not None]
    rows += [row for server in FRAISEQL_SERVERS if (row := many_subscriptions(results, server)) is not None]
    return table(("seed target", "measured", "conditions", "status"), rows)


def native_goals(document: dict[str, Any]) -> list[str]:
    results = document["results"]
    rows = [row for row in (idle_connection_memory(results, "fraiseql-native"),) if row is not None]
    rows += [row for row in (last_frame(results, "fraiseql-native"),) if row is not None]
    rows += p99_at_100k(results, "fraiseql-native")
    return table(("goal (issue 12, native transport)", "measured", "conditions", "status"), rows)
