"""The FraiseQL side of ``bench_server.py``: a FastAPI app serving graphql-transport-ws at ``/graphql``.

One subscription field, ``messageAdded(room: String!)``, on channel ``room:{room}`` and without
resolver: subscribers get the published message, shaped to their selection by the engine.

Run by ``bench_server.py`` as ``python -m uvicorn fraiseql_app:app`` (asyncio loop). The engine's
queue bound per connection is ``SubscriptionConfig``'s default unless ``BENCH_MAX_QUEUED_FRAMES``
is set (``bench_server.py --saturation-queue``); the connection limits are lifted (see below).
``BENCH_BUS`` (a ``redis://`` URL or a
``postgresql://`` connection string) and ``BENCH_BUS_NAME`` (the Redis consumer group or the
PostgreSQL table) put it on a shared bus (``bench_bus.py``: several of these processes).

HTTP endpoints (loopback only): ``GET /health``; ``GET /stats`` (active subscriptions and the
engine's counters); ``POST /publish`` and ``POST /publish_loop`` (see ``publisher.PublishRequest``),
which publish inside this process and answer when the last message was published.
"""

from __future__ import annotations

import os
import time
from typing import Any

from fastapi import FastAPI

from fraiseql.integrations.fastapi import SubscriptionRouterFactory
from fraiseql.subscriptions import PyEventBusConfig
from fraiseql.subscriptions.manager import SubscriptionConfig, SubscriptionManager
from publisher import PublishRequest, message_fields, run_publish

_max_queued = os.environ.get("BENCH_MAX_QUEUED_FRAMES")
config = SubscriptionConfig(max_queued_frames=int(_max_queued)) if _max_queued else SubscriptionConfig()
# The load comes from one address (loopback), up to 10,000 connections at once (bench_suite.py's
# storm and memory scenarios), beside the harness's HTTP requests: the limits a production server
# keeps against that (per address, per process, waiting for their request) would refuse the
# benchmark itself, and the peers have none.
config.max_connections_per_address = None
config.max_connections = None
config.max_pending_connections = 100_000
_bus = os.environ.get("BENCH_BUS")
if _bus:
    _name = os.environ.get("BENCH_BUS_NAME", "fraiseql_bench")
    config.bus = (
        PyEventBusConfig.redis(_bus, _name)
        if _bus.startswith(("redis://", "rediss://"))
        else PyEventBusConfig.postgresql(_bus, table=_name)
    )
manager = SubscriptionManager(config)
manager.add_field("messageAdded", channel="room:{room}")

app = FastAPI()
app.include_router(SubscriptionRouterFactory.create(manager, path="/graphql"))


async def publish_one(room: str, sequence: int, text: str) -> None:
    message = message_fields(room, sequence, text)
    channel = f"room:{room}"
    message["at"] = time.time()
    await manager.publish(channel, message)


@app.get("/health")
async def health() -> dict[str, Any]:
    return {"ok": True, "server": "fraiseql"}


@app.get("/stats")
async def stats() -> dict[str, Any]:
    metrics = manager.executor.get_metrics()
    keys = (
        "active_connections",
        "active_subscriptions",
        "events_published",
        "frames_queued",
        "frames_delivered",
        "frames_dropped_overflow",
    )
    result: dict[str, Any] = {key: metrics[key] for key in keys}
    result["subscribers"] = metrics["active_subscriptions"]
    result["max_queued_frames"] = manager.executor.max_queued_frames
    return result


@app.post("/publish")
async def publish(request: PublishRequest) -> dict[str, Any]:
    return await run_publish(publish_one, request)


@app.post("/publish_loop")
async def publish_loop(request: PublishRequest) -> dict[str, Any]:
    return await run_publish(publish_one, request)
