"""Scopes and roles checked at subscribe, and the tenant taken from the context only."""

from __future__ import annotations

from typing import Any

import pytest

from fraiseql.subscriptions import ConfigurationError, SubscriptionForbidden, subscription
from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionConfig, SubscriptionManager
from tests.conftest import decode

AUDIT = "subscription { auditLog { action } }"


def manager_with_audit_log() -> SubscriptionManager:
    manager = SubscriptionManager()
    manager.add_field("auditLog", requires_scopes=["audit:read"], requires_roles=["auditor", "staff"])
    return manager


def test_a_context_holding_every_scope_and_role_may_subscribe() -> None:
    manager = manager_with_audit_log()
    allowed = ConnectionContext(scopes=("audit:read", "other"), roles=("staff", "auditor"))
    manager.subscribe("c", "s", AUDIT, None, None, allowed)
    manager.executor.publish_event("e", "auditLog", {"action": "login"})
    assert decode(manager.executor.next_event("s", "c"))["payload"]["data"] == {
        "auditLog": {"action": "login"}
    }


@pytest.mark.parametrize(
    ("scopes", "roles", "missing_scopes", "missing_roles"),
    [
        ((), (), ["audit:read"], ["auditor", "staff"]),
        (("audit:read",), ("staff",), [], ["auditor"]),
        (("audit:write",), ("auditor", "staff"), ["audit:read"], []),
    ],
)
def test_a_missing_scope_or_role_is_forbidden(
    scopes: tuple[str, ...], roles: tuple[str, ...], missing_scopes: list[str], missing_roles: list[str]
) -> None:
    manager = manager_with_audit_log()
    with pytest.raises(SubscriptionForbidden) as raised:
        manager.subscribe("c", "s", AUDIT, None, None, ConnectionContext(scopes=scopes, roles=roles))
    assert (raised.value.missing_scopes, raised.value.missing_roles) == (missing_scopes, missing_roles)
    # What the client is told says nothing of what it lacks.
    assert raised.value.errors == [{"message": "Forbidden", "extensions": {"code": "FORBIDDEN"}}]
    assert isinstance(raised.value, PermissionError)
    assert manager.executor.get_metrics()["active_subscriptions"] == 0


def test_requirements_declared_with_the_decorator_travel_with_the_function() -> None:
    @subscription(requires_scopes=["chat:read"])
    def messages(event: dict[str, Any]) -> dict[str, Any]:
        return event

    manager = SubscriptionManager(fields=[messages])
    with pytest.raises(SubscriptionForbidden, match=r'"messages" needs the scope\(s\) chat:read'):
        manager.subscribe("c", "s", "subscription { messages { x } }", None, None, ConnectionContext())


@pytest.mark.parametrize("bad", ["chat:read", [""], [3]])
def test_requirements_are_lists_of_names(bad: Any) -> None:
    with pytest.raises(TypeError, match="requires_scopes"):
        SubscriptionManager().add_field("feed", requires_scopes=bad)


def test_a_resolver_cannot_take_the_tenant_as_an_argument() -> None:
    manager = SubscriptionManager()

    def orders(event: dict[str, Any], *, tenant_id: str) -> dict[str, Any]:
        return event

    with pytest.raises(ConfigurationError, match="the tenant comes from the connection's context only"):
        manager.add_field("orders", orders)


def test_a_schema_field_cannot_take_the_tenant_as_an_argument() -> None:
    sdl = "type Query { ok: Boolean }\ntype Order { id: ID }\n"
    sdl += "type Subscription { orders(tenant_id: ID): Order }"
    manager = SubscriptionManager(SubscriptionConfig(schema=sdl))
    with pytest.raises(ConfigurationError, match="which a client would choose"):
        manager.add_field("orders")


def test_variables_cannot_choose_the_tenant() -> None:
    """A client naming a tenant in its variables or the event's fields gains nothing."""
    manager = SubscriptionManager()
    manager.add_field("messageAdded", channel="room:{room}")
    query = (
        "subscription ($room: String!, $tenant_id: ID) "
        "{ messageAdded(room: $room, tenant_id: $tenant_id) { text } }"
    )
    manager.subscribe(
        "eve", "s", query, None, {"room": "lobby", "tenant_id": "acme"}, ConnectionContext(tenant_id="evil")
    )
    manager.executor.publish_event("e", "room:lobby", {"text": "acme only", "tenant_id": "acme"})
    assert manager.executor.next_event("s", "eve") is None
    assert manager.executor.get_metrics()["events_filtered_out"] == 1
