"""Prometheus metrics of a :class:`SubscriptionManager`, in the text exposition format.

Needs ``prometheus_client`` (the ``metrics`` extra; the ``fastapi`` and ``starlette`` extras
include it). Nothing is counted twice: a collector reads the engine's counters and histograms
and the handlers' :class:`~fraiseql.subscriptions.stats.ServerStats` when Prometheus scrapes.

Expose them on any ASGI framework::

    from starlette.routing import Route
    from fraiseql.subscriptions.metrics import metrics_app

    app.router.routes.append(Route("/metrics", metrics_app(manager)))  # FastAPI or Starlette

or add the collector to a registry of your own: ``registry.register(SubscriptionCollector(manager))``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from fraiseql.subscriptions.manager import SubscriptionManager

__all__ = ["NAMESPACE", "MetricsApp", "SubscriptionCollector", "metrics_app", "metrics_registry"]

NAMESPACE = "fraiseql_subscriptions"

_GAUGES = {
    "active_connections": "Connections open in the engine.",
    "active_subscriptions": "Subscriptions registered in the engine.",
    "active_groups": "Groups of identical subscriptions (one shaping and serialization per event each).",
    "pending_resolver_jobs": "Resolver calls started and not finished.",
    "cached_documents": "Compiled GraphQL documents in the cache.",
    "cached_document_bytes": "Estimated bytes the cached compiled documents hold (document_cache_bytes).",
    "registered_resolvers": "Distinct resolver callables in use.",
}
_COUNTERS = {
    "events_published": "Events published to the engine.",
    "frames_queued": "Frames put in connection queues.",
    "frames_delivered": "Frames taken from connection queues by socket writers.",
    "events_filtered_out": "(event, subscription) pairs refused by tenant or user visibility.",
    "events_filtered_by_filter": "(event, subscription) pairs refused by the field's row-level filter.",
    "payloads_serialized": "Payloads shaped and serialized (once per event and group).",
    "resolver_calls": "Resolver calls finished.",
    "resolver_errors": "Resolver calls that raised, returned an unusable result or were cancelled.",
    "resolver_timeouts": "Resolver calls that exceeded resolver_timeout.",
    "subscriptions_registered": "Subscriptions registered.",
    "subscriptions_completed": "Subscriptions completed by the client or by a closed connection.",
    "subscriptions_terminated_by_error": "Subscriptions ended by an error message (end_stream policy).",
}
_BUS_COUNTERS = {
    "bus_reconnects": "Reconnections of the Redis or PostgreSQL bus.",
    "bus_events_published": "Events this process stored on the bus.",
    "bus_events_received": "Events this process read from the bus (its own included).",
    "bus_duplicates_dropped": "Events read twice (a retried write) and dropped.",
    "bus_publish_timeouts": "Publishes the bus did not store within publish_timeout.",
    "bus_gaps": "Times events were pruned before this process read them (cut off too long).",
    "bus_events_malformed": "Entries on the bus that were not events, skipped.",
    "bus_resolver_jobs_dropped": "Resolver jobs of bus events dropped while Python was too far behind.",
}
_HISTOGRAMS = {
    "publish_latency": ("dispatch_seconds", "Engine time of a publish: from the event to frames queued."),
    "resolver_duration": ("resolver_seconds", "From the publish until a resolver's result was delivered."),
}


def _histogram(name: str, documentation: str, snapshot: Mapping[str, Any]) -> HistogramMetricFamily:
    buckets: list[tuple[str, float]] = []
    cumulative = 0
    for bound_us, count in zip(snapshot["le_us"], snapshot["counts"], strict=True):
        cumulative += count
        bound = "+Inf" if bound_us == float("inf") else repr(bound_us / 1_000_000)
        buckets.append((bound, cumulative))
    return HistogramMetricFamily(
        f"{NAMESPACE}_{name}", documentation, buckets=buckets, sum_value=snapshot["sum_us"] / 1_000_000
    )


def _by_label(name: str, documentation: str, label: str, counts: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(f"{NAMESPACE}_{name}", documentation, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


class SubscriptionCollector(Collector):
    """Reads a manager's engine metrics and connection counters at each scrape."""

    def __init__(self, manager: SubscriptionManager) -> None:
        self._manager = manager

    def collect(self) -> Iterator[Metric]:
        engine = self._manager.executor.get_metrics()
        stats = self._manager.update_stats()
        for key, documentation in _GAUGES.items():
            yield GaugeMetricFamily(f"{NAMESPACE}_{key}", documentation, value=engine[key])
        for key, documentation in _COUNTERS.items():
            yield CounterMetricFamily(f"{NAMESPACE}_{key}", documentation, value=engine[key])
        dropped = {
            "overflow": engine["frames_dropped_overflow"],
            "unsent": engine["frames_dropped_unsent"],
            "rate": engine["frames_dropped_rate"],
        }
        yield _by_label(
            "frames_dropped",
            "Frames never sent, by cause: overflow (a full connection queue), unsent (still "
            "queued when their subscription or connection ended) or rate (over "
            "max_frames_per_second).",
            "cause",
            dropped,
        )
        yield CounterMetricFamily(
            f"{NAMESPACE}_frames_sent", "Frames written to sockets.", value=stats.frames_sent
        )
        yield CounterMetricFamily(
            f"{NAMESPACE}_connections_acknowledged",
            "Connections whose connection_init was accepted.",
            value=stats.connections_acknowledged,
        )
        yield _by_label(
            "connections_closed_by_server",
            "Connections the server closed, by WebSocket close code.",
            "code",
            {str(code): count for code, count in stats.closed_by_server.items()},
        )
        yield _by_label(
            "subscriptions_refused",
            "Subscribe messages answered with an error, by extensions.code.",
            "code",
            stats.subscriptions_refused,
        )
        yield _by_label(
            "limits_reached",
            "Times a client reached a limit (its connection refused, closed, or its subscribe refused).",
            "limit",
            stats.limits_reached,
        )
        yield _by_label(
            "authentication_failures",
            "Connections closed with 4403: refused by on_connect, or their credentials expired.",
            "reason",
            stats.authentication_failures,
        )
        yield _by_label(
            "connections_dropped",
            "TCP connections the transport closed outside the protocol, by reason: refused (503, "
            "their address at its limit), evicted (still silent, closed to make room), "
            "handshake_timeout, write_timeout (unsent bytes stuck too long).",
            "reason",
            stats.connections_dropped,
        )
        up = GaugeMetricFamily(
            f"{NAMESPACE}_bus_up",
            "1 when the event bus is usable (in-memory, or Redis/PostgreSQL with both connections up).",
            labels=["bus", "state"],
        )
        bus = self._manager.executor.bus_config.bus_type
        state = engine["bus_state"]
        up.add_metric([bus, state], 1 if state in ("memory", "connected") else 0)
        yield up
        yield GaugeMetricFamily(
            f"{NAMESPACE}_bus_lag_seconds",
            "Age of the last event read from the bus when it was read.",
            value=engine["bus_lag_seconds"],
        )
        for key, documentation in _BUS_COUNTERS.items():
            yield CounterMetricFamily(f"{NAMESPACE}_{key}", documentation, value=engine[key])
        for key, (name, documentation) in _HISTOGRAMS.items():
            yield _histogram(name, documentation, engine[key])


def metrics_registry(manager: SubscriptionManager) -> CollectorRegistry:
    """A registry holding only this manager's metrics."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SubscriptionCollector(manager))
    return registry


class MetricsApp:
    """An ASGI app serving a registry in the Prometheus text format (or OpenMetrics when the
    scraper asks for it). An object rather than a function, so that Starlette's and FastAPI's
    ``add_route`` mount it as an ASGI app."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _respond(
                send, 405, b"Method Not Allowed", "text/plain; charset=utf-8", [(b"allow", b"GET, HEAD")]
            )
            return
        headers = dict(scope.get("headers") or [])
        encoder, content_type = choose_encoder(headers.get(b"accept", b"").decode("latin-1"))
        body = b"" if scope["method"] == "HEAD" else encoder(self.registry)
        await _respond(send, 200, body, content_type)


async def _respond(
    send: Any, status: int, body: bytes, content_type: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


def metrics_app(manager: SubscriptionManager, registry: CollectorRegistry | None = None) -> MetricsApp:
    """An ASGI app answering ``GET`` with the manager's metrics in the Prometheus text format.

    ``registry``: serve this registry instead (the manager's collector is added to it), for
    example ``prometheus_client.REGISTRY`` to expose the process metrics beside them.
    """
    if registry is None:
        registry = metrics_registry(manager)
    else:
        registry.register(SubscriptionCollector(manager))
    return MetricsApp(registry)
