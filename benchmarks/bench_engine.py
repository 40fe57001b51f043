"""Benchmark of the Rust subscription engine through its Python API (``PySubscriptionExecutor``).

Run it with ``scripts/bench.sh`` (release build in ``.venv-bench/``); ``--quick`` divides every
iteration count by 10 for a smoke run. Timings use ``time.perf_counter_ns``; the figures are:

1. Publish latency: one event reaching 100 subscriptions, each on its own connection and with
   its own ``user_id`` (so visibility is checked per member). Each ``publish_event`` call is
   timed on its own, from the call until it returns with the 100 frames queued; the connections
   are drained outside the timed section. Reported as p50/p90/p99/p99.9 in microseconds, next to
   the engine's own ``publish_latency`` histogram (time inside the engine, without the Python
   conversion of the event), estimated as the upper bound of the bucket holding the quantile.
2. Throughput: 10,000 identical subscriptions (100 connections x 100) on one channel. Events are
   published in batches, each batch followed by draining every connection; publishing and
   draining are timed separately. Reported as frames queued per second (publish only), frames
   drained per second (``drain_frames`` materializing the ``bytes`` objects), and both together.
3. Shared resolver: 100 identical subscriptions given the same resolver object, which therefore
   runs once per event. Events per second, with the draining of every connection every 100
   events included in the time; once with a sync resolver, once with an ``async def`` resolver
   on an asyncio loop (there, until every frame of a batch reached its writer via
   ``wait_for_frames``).
4. Registration cost: time per ``register_subscription`` and per ``complete_subscription`` call
   over 100,000 subscriptions (1,000 connections x 100), and the resident memory (RSS from
   ``/proc/self/statm``) they add, per subscription. It runs first, on a fresh heap, so that
   memory freed by the other figures cannot hide its growth; it is printed last.
5. Subscribe with a schema: register + complete of a subscription whose document is cached,
   validated against a schema, with variables coerced to its types (an input object, an enum).

6. Filtered publish latency: as 1, but every subscription has a row-level filter (its own rows,
   or all of them for an admin, above a threshold it chose; half the subscribers are admins), and
   the same run without the filters, to quote the ratio.

A summary compares each figure to its goal. ``scripts/bench.sh engine`` then prints the cost of
shaping alone and of filters alone, in Rust (``crates/fraiseql-engine/examples/shaping.rs`` and
``filters.rs``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fraiseql._fraiseql_rs as native
from fraiseql._fraiseql_rs.subscriptions import CompiledFilter
from fraiseql.subscriptions import PySubscriptionExecutor
from fraiseql.subscriptions.filters import arg, context, event, value

QUERY = "subscription { users { id name } }"
EVENT_TYPE = "userCreated"
CHANNEL = "users"


@dataclass
class Section:
    """The printed lines of one figure and the values the summary compares to the goals."""

    title: str
    lines: list[str] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)

    def add(self, line: str) -> None:
        self.lines.append(line)


def progress(message: str) -> None:
    print(f"... {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[int], q: float) -> int:
    """The nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def histogram_quantile(le_us: Sequence[float], counts: Sequence[int], q: float) -> float:
    """Upper bound (µs) of the bucket where the cumulative count reaches ``q`` of the total."""
    total = sum(counts)
    if total == 0:
        return math.nan
    target = q * total
    cumulative = 0
    for bound, count in zip(le_us, counts, strict=True):
        cumulative += count
        if cumulative >= target:
            return bound
    return le_us[-1]


def format_bound(bound_us: float) -> str:
    return "> last bound" if math.isinf(bound_us) else f"<= {bound_us:g} µs"


def rss_bytes() -> int:
    """Resident set size of this process: resident pages x page size."""
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def drain_all(executor: PySubscriptionExecutor, connections: Sequence[str]) -> int:
    """Drains every connection and returns how many frames were taken."""
    taken = 0
    for connection in connections:
        taken += len(executor.drain_frames(connection))
    return taken


def rate(count: float, elapsed_ns: int) -> float:
    return count * 1e9 / elapsed_ns


# --- 1. latency ------------------------------------------------------------------------------------


def bench_latency(iterations: int, warmup: int) -> Section:
    section = Section("1. Publish latency, one event to 100 subscriptions (publish call to frames queued)")
    section.add(
        "method: each publish_event call timed alone with perf_counter_ns (100 connections, one "
        "subscription each, distinct user_id); draining happens outside the timed section"
    )
    members = 100
    executor = PySubscriptionExecutor()
    connections = [f"c{i}" for i in range(members)]
    for i, connection in enumerate(connections):
        executor.register_subscription(connection, "s", QUERY, user_id=i)

    executor.publish_event(EVENT_TYPE, CHANNEL, {"id": -1, "name": "Alice", "email": "a@x"})
    frame = executor.drain_frames("c0")
    message = json.loads(frame[0])
    assert message["type"] == "next", message
    assert message["id"] == "s", message
    assert message["payload"]["data"]["users"] == {"id": -1, "name": "Alice"}, message
    drain_all(executor, connections)

    publish = executor.publish_event
    drain = executor.drain_frames
    clock = time.perf_counter_ns
    samples: list[int] = []
    histogram_before: list[int] = []
    for i in range(warmup + iterations):
        if i == warmup:
            histogram_before = list(executor.get_metrics()["publish_latency"]["counts"])
        data = {"id": i, "name": "Alice", "email": "a@x"}
        t0 = clock()
        publish(EVENT_TYPE, CHANNEL, data)
        t1 = clock()
        if i >= warmup:
            samples.append(t1 - t0)
        if i % 1000 == 0 or i == warmup + iterations - 1:
            received = [len(drain(connection)) for connection in connections]
            assert received == [1] * members, f"expected one frame per connection, got {received}"
        else:
            for connection in connections:
                drain(connection)

    samples.sort()
    p50, p90, p99, p999 = (percentile(samples, q) / 1000 for q in (0.50, 0.90, 0.99, 0.999))
    section.add(
        f"publish_event latency over {iterations:,} events: p50 {p50:.1f} µs, p90 {p90:.1f} µs, "
        f"p99 {p99:.1f} µs, p99.9 {p999:.1f} µs (mean {sum(samples) / len(samples) / 1000:.1f} µs)"
    )
    histogram = executor.get_metrics()["publish_latency"]
    le_us: list[float] = list(histogram["le_us"])
    counts = [after - before for after, before in zip(histogram["counts"], histogram_before, strict=True)]
    engine_p50 = histogram_quantile(le_us, counts, 0.50)
    engine_p99 = histogram_quantile(le_us, counts, 0.99)
    section.add(
        f"in-engine time (engine histogram, excludes Python conversion; bucket upper bounds) over "
        f"{sum(counts):,} events: p50 {format_bound(engine_p50)}, p99 {format_bound(engine_p99)}; "
        f"all-time mean {histogram['sum_us'] / histogram['count']:.1f} µs"
    )
    section.values["p99_us"] = p99
    return section


# --- 6. filtered publish latency -----------------------------------------------------------------

ORDERS_QUERY = "subscription { orderUpdated { id total owner } }"


def _orders_executor(members: int, filtered: bool) -> tuple[PySubscriptionExecutor, list[str]]:
    executor = PySubscriptionExecutor()
    rule = ((event("owner") == context("user_id")) | value("admin").is_in(context("roles"))) & (
        event("total") >= arg("minTotal")
    )
    compiled = CompiledFilter(rule.spec)
    connections = [f"c{i}" for i in range(members)]
    for i, connection in enumerate(connections):
        inputs = {
            "context": {"user_id": connection, "roles": ["admin"] if i % 2 == 0 else ["member"]},
            "args": {"minTotal": 100},
        }
        executor.register_subscription(
            connection,
            "s",
            ORDERS_QUERY,
            channel="orders",
            filter=compiled if filtered else None,
            filter_inputs=inputs if filtered else None,
        )
    return executor, connections


def _publish_samples(
    executor: PySubscriptionExecutor, connections: list[str], iterations: int, warmup: int
) -> list[int]:
    publish, drain, clock = executor.publish_event, executor.drain_frames, time.perf_counter_ns
    samples: list[int] = []
    for i in range(warmup + iterations):
        data = {"id": i, "total": 120.5, "owner": connections[i % len(connections)]}
        t0 = clock()
        publish("orderUpdated", "orders", data)
        t1 = clock()
        if i >= warmup:
            samples.append(t1 - t0)
        for connection in connections:
            drain(connection)
    samples.sort()
    return samples


def bench_filtered_latency(iterations: int, warmup: int) -> Section:
    section = Section("6. Publish latency, one event to 100 subscriptions with a row-level filter each")
    section.add(
        "filter: (event.owner == context.user_id or 'admin' in context.roles) and event.total >= "
        "args.minTotal; half the subscribers are admins, so each event reaches 51 of 100"
    )
    members = 100
    filtered, connections = _orders_executor(members, filtered=True)
    filtered.publish_event("orderUpdated", "orders", {"id": 0, "total": 120.5, "owner": "c1"})
    received = [len(filtered.drain_frames(connection)) for connection in connections]
    assert (sum(received), received[1], received[3]) == (51, 1, 0), received
    plain, _ = _orders_executor(members, filtered=False)
    # Interleaved rounds, so that a noisy neighbour weighs on both alike.
    with_filter: list[int] = []
    without: list[int] = []
    for _ in range(5):
        with_filter += _publish_samples(filtered, connections, iterations // 5, warmup // 5)
        without += _publish_samples(plain, connections, iterations // 5, warmup // 5)
    with_filter.sort()
    without.sort()
    p50, p99 = (percentile(with_filter, q) / 1000 for q in (0.50, 0.99))
    plain_p50, plain_p99 = (percentile(without, q) / 1000 for q in (0.50, 0.99))
    section.add(
        f"publish_event latency over {len(with_filter):,} events: with filters p50 {p50:.1f} µs, "
        f"p99 {p99:.1f} µs; "
        f"same subscriptions without filters (every event to all 100) p50 {plain_p50:.1f} µs, "
        f"p99 {plain_p99:.1f} µs (ratio of p50s {p50 / plain_p50:.2f})"
    )
    section.values["filtered_p99_us"] = p99
    return section


# --- 2. throughput ---------------------------------------------------------------------------------


def bench_throughput(events: int, batch: int) -> Section:
    section = Section("2. Sustained frames/s, 10,000 identical subscriptions on one channel")
    connections_count, per_connection = 100, 100
    section.add(
        f"method: {events:,} events published in batches of {batch}, every connection drained after each "
        f"batch; publish and drain timed separately ({connections_count} connections x "
        f"{per_connection} subscriptions)"
    )
    executor = PySubscriptionExecutor(max_queued_frames=1_000_000)
    connections = [f"c{k}" for k in range(connections_count)]
    for connection in connections:
        for j in range(per_connection):
            executor.register_subscription(connection, f"s{j}", QUERY)
    subscriptions = connections_count * per_connection

    publish = executor.publish_event
    clock = time.perf_counter_ns
    # Warm-up batch, not timed.
    for i in range(batch):
        publish(EVENT_TYPE, CHANNEL, {"id": i, "name": "Alice", "email": "a@x"})
    assert drain_all(executor, connections) == batch * subscriptions

    publish_ns = drain_ns = 0
    drained = 0
    sent = 0
    while sent < events:
        size = min(batch, events - sent)
        payloads = [{"id": sent + i, "name": "Alice", "email": "a@x"} for i in range(size)]
        t0 = clock()
        for data in payloads:
            publish(EVENT_TYPE, CHANNEL, data)
        t1 = clock()
        drained_now = drain_all(executor, connections)
        t2 = clock()
        publish_ns += t1 - t0
        drain_ns += t2 - t1
        drained += drained_now
        sent += size
    frames = events * subscriptions
    assert drained == frames, f"drained {drained} frames, expected {frames}"
    metrics = executor.get_metrics()
    assert metrics["frames_dropped_overflow"] == 0, metrics["frames_dropped_overflow"]

    queued_rate = rate(frames, publish_ns)
    drain_rate = rate(frames, drain_ns)
    combined_rate = rate(frames, publish_ns + drain_ns)
    section.add(
        f"frames queued (publish only): {queued_rate:,.0f} frames/s "
        f"({frames:,} frames in {publish_ns / 1e6:.1f} ms, {publish_ns / events / 1000:.0f} µs per event)"
    )
    section.add(
        f"frames drained (drain_frames, bytes materialized): {drain_rate:,.0f} frames/s "
        f"({drain_ns / 1e6:.1f} ms)"
    )
    section.add(f"publish + drain combined: {combined_rate:,.0f} frames/s")
    section.values["queued_fps"] = queued_rate
    section.values["combined_fps"] = combined_rate
    return section


# --- 3. shared resolver ----------------------------------------------------------------------------


def setup_resolver_subscriptions(executor: PySubscriptionExecutor, resolver: Callable[..., Any]) -> list[str]:
    connections = [f"c{i}" for i in range(100)]
    for connection in connections:
        executor.register_subscription(connection, "s", QUERY)
        executor.register_resolver("s", resolver, connection_id=connection)
    return connections


def bench_sync_resolver(events: int, warmup: int, section: Section) -> None:
    calls = 0

    def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"id": event["id"], "name": "x"}

    executor = PySubscriptionExecutor()
    connections = setup_resolver_subscriptions(executor, resolver)
    publish = executor.publish_event
    clock = time.perf_counter_ns

    def run(count: int) -> int:
        frames = 0
        for i in range(count):
            publish(EVENT_TYPE, CHANNEL, {"id": i, "name": "Alice", "email": "a@x"})
            if i % 100 == 99:
                frames += drain_all(executor, connections)
        return frames + drain_all(executor, connections)

    assert run(warmup) == warmup * len(connections)
    calls = 0
    t0 = clock()
    frames = run(events)
    elapsed = clock() - t0
    assert frames == events * len(connections), f"got {frames} frames, expected {events * len(connections)}"
    assert calls == events, f"resolver ran {calls} times for {events} events"
    assert executor.get_metrics()["resolver_errors"] == 0
    events_rate = rate(events, elapsed)
    section.add(
        f"sync resolver: {events_rate:,.0f} events/s ({events:,} events, {frames:,} frames, "
        f"{elapsed / events / 1000:.1f} µs per event incl. draining; resolver calls = {calls:,} = events)"
    )
    section.values["sync_eps"] = events_rate


async def run_async_resolver(events: int, warmup: int, section: Section) -> None:
    calls = 0

    async def resolver(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        return {"id": event["id"], "name": "x"}

    executor = PySubscriptionExecutor()
    connections = setup_resolver_subscriptions(executor, resolver)
    publish = executor.publish_event
    clock = time.perf_counter_ns

    async def run(count: int) -> int:
        frames = 0
        sent = 0
        while sent < count:
            size = min(100, count - sent)
            for i in range(size):
                publish(EVENT_TYPE, CHANNEL, {"id": sent + i, "name": "Alice", "email": "a@x"})
            sent += size
            for connection in connections:
                received = 0
                while received < size:
                    received += len(await executor.wait_for_frames(connection))
                assert received == size, f"{connection}: {received} frames for {size} events"
                frames += received
        return frames

    assert await run(warmup) == warmup * len(connections)
    calls = 0
    t0 = clock()
    frames = await run(events)
    elapsed = clock() - t0
    assert calls == events, f"resolver ran {calls} times for {events} events"
    metrics = executor.get_metrics()
    assert metrics["resolver_errors"] == 0
    assert metrics["resolver_timeouts"] == 0
    events_rate = rate(events, elapsed)
    section.add(
        f"async resolver: {events_rate:,.0f} events/s ({events:,} events, {frames:,} frames, "
        f"{elapsed / events / 1000:.1f} µs per event until every frame reached wait_for_frames; "
        f"resolver calls = {calls:,} = events)"
    )
    section.values["async_eps"] = events_rate


def bench_resolver(events: int, warmup: int) -> Section:
    section = Section("3. Events/s with one Python resolver shared by 100 identical subscriptions")
    section.add(
        "method: 100 connections x 1 subscription, same resolver object (one call per event); "
        "time includes draining every connection every 100 events"
    )
    bench_sync_resolver(events, warmup, section)
    asyncio.run(run_async_resolver(events, warmup, section))
    return section


# --- 4. register / complete ------------------------------------------------------------------------


def bench_registration(connections_count: int, per_connection: int) -> Section:
    total = connections_count * per_connection
    title = f"4. Register and complete {total:,} subscriptions ({connections_count:,} connections x 100)"
    section = Section(title)
    section.add(
        "method: timed register loop and complete loop; RSS from /proc/self/statm before/after "
        "(id strings built before the baseline; measured first, on a fresh heap)"
    )
    executor = PySubscriptionExecutor()
    connections = [f"c{k}" for k in range(connections_count)]
    subscription_ids = [f"s{j}" for j in range(per_connection)]
    register = executor.register_subscription
    complete = executor.complete_subscription
    clock = time.perf_counter_ns

    gc.collect()
    rss_before = rss_bytes()
    t0 = clock()
    for connection in connections:
        for subscription_id in subscription_ids:
            register(connection, subscription_id, QUERY)
    register_ns = clock() - t0
    gc.collect()
    rss_registered = rss_bytes()
    assert executor.get_metrics()["active_subscriptions"] == total

    t0 = clock()
    for connection in connections:
        for subscription_id in subscription_ids:
            complete(subscription_id, connection_id=connection)
    complete_ns = clock() - t0
    gc.collect()
    rss_completed = rss_bytes()
    metrics = executor.get_metrics()
    assert metrics["active_subscriptions"] == 0

    per_register = register_ns / total / 1000
    per_complete = complete_ns / total / 1000
    per_subscription = (rss_registered - rss_before) / total
    mib = 1024 * 1024
    section.add(f"register_subscription: {per_register:.2f} µs per call ({register_ns / 1e6:.0f} ms total)")
    section.add(
        f"memory: RSS {rss_before / mib:.1f} MiB -> {rss_registered / mib:.1f} MiB, "
        f"{per_subscription:,.0f} bytes per subscription"
    )
    section.add(f"complete_subscription: {per_complete:.2f} µs per call ({complete_ns / 1e6:.0f} ms total)")
    section.add(
        f"RSS after completing all: {rss_completed / mib:.1f} MiB "
        f"({(rss_completed - rss_before) / mib:+.1f} MiB vs baseline; "
        f"active connections {metrics['active_connections']})"
    )
    section.values["register_us"] = per_register
    section.values["complete_us"] = per_complete
    section.values["bytes_per_sub"] = per_subscription
    return section


# --- 5. subscribe with a schema --------------------------------------------------------------------

SCHEMA_SDL = """
type Query { ok: Boolean }
enum Status { ACTIVE CLOSED }
input Filter { status: Status!, minTotal: Float = 0 }
type Item { sku: ID! qty: Int! }
type Order { id: ID! status: Status! total: Float! items: [Item!]! }
type Subscription { orderUpdated(customer: ID!, filter: Filter): Order! }
"""
SCHEMA_QUERY = (
    "subscription Orders($customer: ID!, $filter: Filter) "
    "{ orderUpdated(customer: $customer, filter: $filter) { id status total items { sku qty } } }"
)


def bench_schema_subscribe(count: int) -> Section:
    section = Section("5. Subscribe with a cached document, validated against a schema")
    section.add(
        "method: register_subscription + complete_subscription timed together, same document each time "
        "(cached after the first), variables coerced to the schema's types (an input object with an enum)"
    )
    executor = PySubscriptionExecutor(schema_sdl=SCHEMA_SDL)
    variables = {"customer": "c-1", "filter": {"status": "ACTIVE"}}
    ids = [f"s{i}" for i in range(count)]
    executor.register_subscription("warm", "w", SCHEMA_QUERY, "Orders", variables)
    started = time.perf_counter_ns()
    for sub_id in ids:
        executor.register_subscription("c", sub_id, SCHEMA_QUERY, "Orders", variables)
        executor.complete_subscription(sub_id, "c")
    elapsed = time.perf_counter_ns() - started
    per_call = elapsed / count / 1000
    section.add(f"subscribe + complete: {per_call:.2f} µs per subscription ({count:,} subscriptions)")
    section.values["schema_subscribe_us"] = per_call
    return section


# --- summary ---------------------------------------------------------------------------------------


def summary(values: dict[str, float]) -> list[str]:
    rows: list[tuple[str, str, str, bool]] = []

    def row(name: str, measured: str, goal: str, met: bool) -> None:
        rows.append((name, measured, goal, met))

    row("1. publish p99 (100 subs)", f"{values['p99_us']:.1f} µs", "< 50 µs", values["p99_us"] < 50)
    row(
        "2. frames/s queued",
        f"{values['queued_fps']:,.0f}",
        "> 2,000,000",
        values["queued_fps"] > 2_000_000,
    )
    row(
        "2. frames/s publish+drain",
        f"{values['combined_fps']:,.0f}",
        "> 2,000,000",
        values["combined_fps"] > 2_000_000,
    )
    row("3. events/s sync resolver", f"{values['sync_eps']:,.0f}", "> 50,000", values["sync_eps"] > 50_000)
    row("3. events/s async resolver", f"{values['async_eps']:,.0f}", "> 50,000", values["async_eps"] > 50_000)
    row(
        "6. publish p99 (100 filtered)",
        f"{values['filtered_p99_us']:.1f} µs",
        "< 50 µs",
        values["filtered_p99_us"] < 50,
    )
    row("4. register per call", f"{values['register_us']:.2f} µs", "< 5 µs", values["register_us"] < 5)
    row("4. complete per call", f"{values['complete_us']:.2f} µs", "< 5 µs", values["complete_us"] < 5)
    row(
        "4. memory per subscription",
        f"{values['bytes_per_sub']:,.0f} B",
        "< 2 KiB (2,048 B)",
        values["bytes_per_sub"] < 2048,
    )
    row(
        "5. subscribe, cached + schema",
        f"{values['schema_subscribe_us']:.2f} µs",
        "< 20 µs",
        values["schema_subscribe_us"] < 20,
    )
    lines = [f"{'figure':<30} {'measured':>14}  {'goal':<18} status"]
    for name, measured, goal, met in rows:
        lines.append(f"{name:<30} {measured:>14}  {goal:<18} {'met' if met else 'NOT MET'}")
    return lines


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--quick", action="store_true", help="divide every iteration count by 10 (smoke run)")
    parser.add_argument(
        "--json", type=Path, help="also write the summary's values here (bench_suite.py reads them)"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1

    print("fraiseql engine benchmark" + (" (--quick: iteration counts / 10)" if args.quick else ""))
    python = f"{platform.python_version()} ({platform.python_implementation()})"
    print(f"python {python}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"extension module (release/debug not detectable here): {native.__file__}")

    progress("4. register/complete (runs first: fresh heap for the RSS figure)")
    registration = bench_registration(1_000 // scale, 100)
    progress("1. latency")
    latency = bench_latency(20_000 // scale, 1_000 // scale)
    progress("2. throughput")
    throughput = bench_throughput(200 // scale, 20)
    progress("3. shared resolver")
    resolver = bench_resolver(50_000 // scale, 1_000 // scale)
    progress("5. subscribe with a schema")
    schema = bench_schema_subscribe(20_000 // scale)
    progress("6. filtered latency")
    filtered = bench_filtered_latency(20_000 // scale, 1_000 // scale)

    values: dict[str, float] = {}
    for section in (latency, throughput, resolver, registration, schema, filtered):
        print()
        print(section.title)
        for line in section.lines:
            print(f"  {line}")
        values.update(section.values)
    print()
    print("Summary")
    for line in summary(values):
        print(f"  {line}")
    if args.json is not None:
        document = {"quick": args.quick, "values": values, "summary": summary(values)}
        args.json.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
