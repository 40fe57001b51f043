"""The seeds' phase-3 examples (Python resolvers), as written (``pytest
tests/test_subscriptions_phase3.py`` is the seeds' file name).

Each test's first part is copied from "Phase 3: Python Resolver Integration" (seed 004); the
assertions after ``# --- as it behaves`` say what it does here. docs/seeds.md names the deliberate
differences and why.
"""

import pytest

from fraiseql import _fraiseql_rs
from fraiseql.subscriptions import GraphQLDocumentError, PySubscriptionExecutor
from tests.conftest import decode

# -- Task 3.1: "Code Example" ------------------------------------------------------------------------


# Python usage
def my_order_updated_resolver(event_data: dict, subscription_vars: dict) -> dict:
    """
    Called when an order update event is received.

    Args:
        event_data: The raw event data from the database
        subscription_vars: Variables from the subscription query

    Returns:
        GraphQL response data matching the subscription selection set
    """
    order_id = event_data.get("order_id")
    return {
        "id": order_id,
        "status": event_data.get("status"),
        "updated_at": event_data.get("updated_at"),
        "items": event_data.get("items", []),
    }


def test_seed_004_register_resolver_example():
    executor = PySubscriptionExecutor()

    # --- as it behaves: the seed names an operation its (anonymous) document does not define,
    # which GraphQL refuses; the same call with the operation named as the seed intends works.
    with pytest.raises(GraphQLDocumentError, match='Unknown operation named "OrderUpdated"'):
        # Register resolver for a subscription
        executor.register_subscription(
            connection_id="conn1",
            subscription_id="sub1",
            query="subscription { orderUpdated { id status updatedAt items { id } } }",
            operation_name="OrderUpdated",
            variables={},
            user_id=1,
            tenant_id=1,
        )
    executor.register_subscription(
        connection_id="conn1",
        subscription_id="sub1",
        query="subscription OrderUpdated { orderUpdated { id status updatedAt items { id } } }",
        operation_name="OrderUpdated",
        variables={},
        user_id=1,
        tenant_id=1,
    )

    # Register the resolver function
    executor.register_resolver("sub1", my_order_updated_resolver)

    # --- as it behaves
    executor.publish_event(
        "orderUpdated",
        "orderUpdated",
        {"order_id": "o1", "status": "paid", "items": [{"id": "i1"}], "tenant_id": 1},
    )
    payload = decode(executor.next_event("sub1"))["payload"]
    assert payload == {
        "data": {"orderUpdated": {"id": "o1", "status": "paid", "updatedAt": None, "items": [{"id": "i1"}]}}
    }


# -- Task 3.5: "Example Test" ------------------------------------------------------------------------


def test_resolver_invocation():
    """Test that Python resolver is actually called"""
    executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()

    # Track resolver calls
    call_count = 0

    def test_resolver(event_data):
        nonlocal call_count
        call_count += 1
        return {"id": event_data.get("id"), "transformed": True, "call_count": call_count}

    # Register subscription
    sub_id = executor.register_subscription(
        connection_id="conn1",
        subscription_id="sub1",
        query="subscription { test { id transformed } }",
        operation_name=None,
        variables={},
        user_id=1,
        tenant_id=1,
    )

    # Register resolver
    executor.register_resolver(sub_id, test_resolver)

    # Publish event
    executor.publish_event(
        event_type="test", channel="test", data={"user_id": 1, "tenant_id": 1, "id": "123"}
    )

    # Verify resolver was called
    assert call_count == 1

    # Publish another event
    executor.publish_event(
        event_type="test", channel="test", data={"user_id": 1, "tenant_id": 1, "id": "456"}
    )

    # Verify resolver called again
    assert call_count == 2
    # --- as it behaves: exactly the selected fields, in publish order
    frames = [decode(executor.next_event("sub1")) for _ in range(2)]
    assert [frame["payload"]["data"]["test"] for frame in frames] == [
        {"id": "123", "transformed": True},
        {"id": "456", "transformed": True},
    ]
