"""Scopes, roles and row-level filters over real sockets, on every integration."""

from __future__ import annotations

from typing import Any

from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import AUDIT_LOG, MY_ORDERS, scrape, wait_for_subscriptions


def context_from(payload: dict[str, Any] | None, request: object) -> dict[str, Any]:
    """``on_connect``: the identity the test client claims (tests only!)."""
    assert payload is not None
    return {key: payload[key] for key in ("user_id", "tenant_id", "scopes", "roles") if key in payload}


async def test_a_missing_scope_or_role_gets_forbidden_and_the_connection_stays_open(
    make_server: ServerFactory,
) -> None:
    server = await make_server(on_connect=context_from)
    reader = await server.connect()
    await reader.init({"user_id": "ann", "scopes": ["audit:read"]})
    await reader.subscribe("1", AUDIT_LOG)
    assert await reader.receive_json() == {
        "id": "1",
        "type": "error",
        "payload": [{"message": "Forbidden", "extensions": {"code": "FORBIDDEN"}}],
    }
    await reader.expect_open()
    auditor = await server.connect()
    await auditor.init({"user_id": "bob", "scopes": ["audit:read"], "roles": ["auditor"]})
    await auditor.subscribe("1", AUDIT_LOG)
    await wait_for_subscriptions(server, 1)
    await server.publish("audit", {"action": "login"})
    assert (await auditor.receive_json())["payload"] == {"data": {"auditLog": {"action": "login"}}}
    assert server.manager.stats.subscriptions_refused["FORBIDDEN"] == 1
    assert scrape(server)["fraiseql_subscriptions_subscriptions_refused_total{code=FORBIDDEN}"] == 1


async def test_a_row_level_filter_sends_each_subscriber_its_own_rows(make_server: ServerFactory) -> None:
    server = await make_server(on_connect=context_from)
    clients = {}
    for user in ("ann", "bob"):
        clients[user] = await server.connect()
        await clients[user].init({"user_id": user})
        await clients[user].subscribe("orders", MY_ORDERS)
    await wait_for_subscriptions(server, 2)
    for number, owner in enumerate(["ann", "bob", "eve", "ann"]):
        await server.publish("orders", {"id": number, "owner": owner})
    assert [(await clients["ann"].receive_json())["payload"]["data"]["myOrders"]["id"] for _ in range(2)] == [
        0,
        3,
    ]
    assert (await clients["bob"].receive_json())["payload"]["data"]["myOrders"]["id"] == 1
    for client in clients.values():
        await client.expect_open()  # nothing else was queued for either
    metrics = server.metrics()
    assert metrics["events_filtered_by_filter"] == 8 - 3, "(event, subscriber) pairs refused"
    assert metrics["payloads_serialized"] == 3, "one serialization per event someone sees"
