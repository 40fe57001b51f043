"""Publishing: channels, visibility and shaping."""

from __future__ import annotations

import json

import pytest

from fraiseql.subscriptions import InvalidEventError, PySubscriptionExecutor
from tests.conftest import decode


def test_seed_end_to_end_example(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription(
        connection_id="conn1",
        subscription_id="sub1",
        query="subscription { users { id } }",
        variables={},
        user_id="user1",
        tenant_id="tenant1",
    )
    executor.publish_event(
        "userCreated", "users", {"id": "123", "name": "Alice", "user_id": "user1", "tenant_id": "tenant1"}
    )
    assert (
        executor.next_event("sub1")
        == b'{"id":"sub1","type":"next","payload":{"data":{"users":{"id":"123"}}}}'
    )
    assert executor.next_event("sub1") is None


def test_events_reach_only_their_channel(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "users", "subscription { users { id } }")
    executor.register_subscription("c", "orders", "subscription { orders { id } }")
    executor.publish_event("orderPlaced", "orders", {"id": 5})
    assert executor.next_event("users") is None
    assert decode(executor.next_event("orders"))["payload"] == {"data": {"orders": {"id": 5}}}


def test_channel_can_be_mapped(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "s", "subscription { messageAdded { id } }", channel="room:lobby")
    executor.publish_event("e", "messageAdded", {"id": 1})
    assert executor.next_event("s") is None
    executor.publish_event("e", "room:lobby", {"id": 2})
    assert decode(executor.next_event("s"))["payload"]["data"]["messageAdded"] == {"id": 2}


def test_shaping_follows_the_selection(executor: PySubscriptionExecutor) -> None:
    query = """
        subscription {
          order: orderUpdated {
            status
            orderId: id
            items { sku qty }
            customer { name }
            ... on Order { total }
          }
        }
    """
    executor.register_subscription("c", "s", query)
    event = {
        "id": "o1",
        "status": "PAID",
        "total": 10.5,
        "internal_note": "do not send",
        "items": [{"sku": "a", "qty": 1, "cost": 3}, {"sku": "b", "qty": 2}],
        "customer": {"name": "Ann", "email": "ann@example.com"},
    }
    executor.publish_event("e", "orderUpdated", event)
    frame = executor.next_event("s")
    assert frame is not None
    payload = json.loads(frame)["payload"]
    assert payload == {
        "data": {
            "order": {
                "status": "PAID",
                "orderId": "o1",
                "items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}],
                "customer": {"name": "Ann"},
                "total": 10.5,
            }
        }
    }
    assert list(payload["data"]["order"]) == ["status", "orderId", "items", "customer", "total"]
    assert b"do not send" not in frame
    assert b"ann@example.com" not in frame


def test_missing_fields_are_null(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "s", "subscription { a { id name } }")
    executor.publish_event("e", "a", {"id": 1})
    assert decode(executor.next_event("s"))["payload"] == {"data": {"a": {"id": 1, "name": None}}}


def test_skip_and_include_use_the_variables(executor: PySubscriptionExecutor) -> None:
    query = "subscription($full: Boolean!) { a { id name @include(if: $full) } }"
    executor.register_subscription("c", "short", query, variables={"full": False})
    executor.register_subscription("c", "full", query, variables={"full": True})
    executor.publish_event("e", "a", {"id": 1, "name": "n"})
    assert decode(executor.next_event("short"))["payload"]["data"]["a"] == {"id": 1}
    assert decode(executor.next_event("full"))["payload"]["data"]["a"] == {"id": 1, "name": "n"}


def test_tenant_isolation_is_fail_closed(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c1", "t1", "subscription { a { id } }", tenant_id="t1")
    executor.register_subscription("c2", "t2", "subscription { a { id } }", tenant_id="t2")
    executor.publish_event("e", "a", {"id": 1, "tenant_id": "t1"})
    assert executor.next_event("t1") is not None
    assert executor.next_event("t2") is None
    executor.publish_event("e", "a", {"id": 2})
    assert executor.next_event("t1") is None, "an event without tenant does not reach a tenant"
    executor.publish_event("e", "a", {"id": 3}, global_event=True)
    assert executor.next_event("t1") is not None
    assert executor.next_event("t2") is not None
    executor.publish_event("e", "a", {"id": 4}, tenant_id="t2")
    assert executor.next_event("t2") is not None
    assert executor.get_metrics()["events_filtered_out"] >= 3


def test_targeted_events_reach_only_their_user(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c1", "alice", "subscription { inbox { id } }", user_id="alice")
    executor.register_subscription("c2", "bob", "subscription { inbox { id } }", user_id="bob")
    executor.publish_event("e", "inbox", {"id": 1, "user_id": "alice"})
    assert executor.next_event("alice") is not None
    assert executor.next_event("bob") is None
    executor.publish_event("e", "inbox", {"id": 2}, user_id="bob")
    assert executor.next_event("bob") is not None
    executor.publish_event("e", "inbox", {"id": 3})
    assert executor.next_event("alice") is not None
    assert executor.next_event("bob") is not None


def test_scope_fields_are_configurable() -> None:
    executor = PySubscriptionExecutor(tenant_field="org", user_field=None)
    executor.register_subscription("c", "s", "subscription { a { id } }", tenant_id="acme", user_id="u")
    executor.publish_event("e", "a", {"id": 1, "org": "acme", "user_id": "someone-else"})
    assert executor.next_event("s") is not None, "user_field=None: the data's user_id is not read"
    executor.publish_event("e", "a", {"id": 2, "tenant_id": "acme"})
    assert executor.next_event("s") is None, "tenant read from 'org' only"


def test_malformed_scope_field_is_refused(executor: PySubscriptionExecutor) -> None:
    with pytest.raises(InvalidEventError, match='"tenant_id" must be a string or an integer'):
        executor.publish_event("e", "a", {"tenant_id": ["t1"]})


def test_identical_subscriptions_share_one_serialization(executor: PySubscriptionExecutor) -> None:
    for index in range(100):
        executor.register_subscription(f"c{index}", f"s{index}", "subscription { a { id } }", user_id=index)
    executor.publish_event("e", "a", {"id": 1})
    metrics = executor.get_metrics()
    assert metrics["payloads_serialized"] == 1
    assert metrics["frames_queued"] == 100
    frames = {executor.next_event(f"s{index}") for index in range(100)}
    assert len(frames) == 100, "each frame has its own id"
    assert all(
        frame is not None and frame.endswith(b'"payload":{"data":{"a":{"id":1}}}}') for frame in frames
    )


def test_non_object_event_data(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "count", "subscription { counter }")
    executor.register_subscription("c", "list", "subscription { items { id } }")
    executor.publish_event("e", "counter", 42)
    executor.publish_event("e", "items", [{"id": 1, "x": 0}])
    assert decode(executor.next_event("count"))["payload"] == {"data": {"counter": 42}}
    assert decode(executor.next_event("list"))["payload"] == {"data": {"items": [{"id": 1}]}}


def test_ids_are_escaped_in_the_envelope(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", 'a"b\\c', "subscription { a }")
    executor.publish_event("e", "a", 1)
    assert decode(executor.next_event('a"b\\c'))["id"] == 'a"b\\c'
