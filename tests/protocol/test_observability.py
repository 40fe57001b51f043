"""Observability over real sockets, on every integration: the Prometheus metrics follow what
the connections did, and the log records are structured and never hold a token or an event."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from fraiseql.subscriptions import ConnectionContext, ConnectionRejected
from fraiseql.subscriptions.adapter import RequestInfo
from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import COUNTER, FAILING, RunningServer, scrape, wait_for_subscriptions, wait_until

SECRET_TOKEN = "eyJhbGciOi.secret-token.never-logged"
SECRET_EVENT = "event-payload-never-logged"


async def test_metrics_follow_connections_subscriptions_and_frames(server: RunningServer) -> None:
    client = await server.connect()
    await client.init()
    await client.subscribe("c", COUNTER)
    await client.subscribe("f", FAILING)
    await client.subscribe("bad", "subscription { nope }")
    assert (await client.receive_json())["id"] == "bad"
    await wait_for_subscriptions(server, 2)
    for n in range(3):
        await server.publish("counter", {"n": n})
    await server.publish("failing", {"fail": True})
    for _ in range(4):
        await client.receive_json()
    await wait_until(lambda: scrape(server)["fraiseql_subscriptions_frames_sent_total"] == 4)
    samples = scrape(server)
    expected = {
        "fraiseql_subscriptions_active_connections": 1,
        "fraiseql_subscriptions_active_subscriptions": 2,
        "fraiseql_subscriptions_connections_acknowledged_total": 1,
        "fraiseql_subscriptions_events_published_total": 4,
        "fraiseql_subscriptions_frames_queued_total": 4,
        "fraiseql_subscriptions_frames_sent_total": 4,
        "fraiseql_subscriptions_resolver_calls_total": 1,
        "fraiseql_subscriptions_resolver_errors_total": 1,
        "fraiseql_subscriptions_frames_dropped_total{cause=overflow}": 0,
        "fraiseql_subscriptions_subscriptions_refused_total{code=GRAPHQL_VALIDATION_FAILED}": 1,
        "fraiseql_subscriptions_dispatch_seconds_count": 4,
    }
    assert {key: samples.get(key) for key in expected} == expected
    buckets = [
        value
        for key, value in samples.items()
        if key.startswith("fraiseql_subscriptions_dispatch_seconds_bucket")
    ]
    assert buckets == sorted(buckets), "cumulative buckets"
    assert buckets[-1] == 4
    await client.send_raw("not json")
    await client.expect_close(4400)
    await wait_until(lambda: scrape(server).get("fraiseql_subscriptions_active_connections") == 0)
    assert scrape(server)["fraiseql_subscriptions_connections_closed_by_server_total{code=4400}"] == 1


async def test_log_records_are_structured_and_hold_no_secret(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> ConnectionContext:
        if (payload or {}).get("token") != SECRET_TOKEN:
            raise ConnectionRejected
        return ConnectionContext(user_id="ann", tenant_id="t1")

    server = await make_server(on_connect=on_connect)
    with caplog.at_level(logging.INFO, logger="fraiseql.subscriptions"):
        accepted = await server.connect()
        await accepted.init({"token": SECRET_TOKEN})
        await accepted.subscribe("f", FAILING)
        await wait_for_subscriptions(server, 1)
        await server.publish("failing", {"fail": True, "secret": SECRET_EVENT, "tenant_id": "t1"})
        await accepted.receive_json()
        refused = await server.connect()
        await refused.send_json({"type": "connection_init", "payload": {"token": SECRET_TOKEN + "x"}})
        await refused.expect_close(4403)
    records = {record.__dict__.get("event"): record for record in caplog.records}
    assert {"connection.accepted", "connection.refused", "resolver.failed"} <= set(records)
    accepted_record = records["connection.accepted"]
    assert accepted_record.__dict__["user_id"] == "ann"
    assert accepted_record.__dict__["tenant_id"] == "t1"
    assert accepted_record.__dict__["client"] == "127.0.0.1"
    assert records["connection.refused"].__dict__["code"] == 4403
    for record in caplog.records:
        everything = json.dumps({**record.__dict__, "message": record.getMessage()}, default=str)
        if record.exc_info:
            everything += caplog.text
        assert SECRET_TOKEN not in everything, record
        assert SECRET_EVENT not in everything, record
        if record.__dict__.get("event", "").startswith("connection."):
            assert record.__dict__["connection_id"]


async def test_the_subscription_limit_is_logged_and_counted(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server(max_subscriptions_per_connection=1)
    client = await server.connect()
    await client.init()
    await client.subscribe("one", COUNTER)
    with caplog.at_level(logging.INFO, logger="fraiseql.subscriptions"):
        await client.subscribe("two", COUNTER)
        assert (await client.receive_json())["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    (record,) = [r for r in caplog.records if r.__dict__.get("event") == "limit.reached"]
    assert record.levelno == logging.WARNING
    assert record.__dict__["subscription_id"] == "two"
    assert (
        scrape(server)["fraiseql_subscriptions_subscriptions_refused_total{code=TOO_MANY_SUBSCRIPTIONS}"] == 1
    )
