"""The seeds' phase-1 examples, as written (``pytest tests/test_subscriptions_phase1.py -v`` is the
seeds' own command).

Each test's first part is copied from a planning document in ``shared/seeds`` (only the formatter
re-wrapped lines); the assertions after ``# --- as it behaves`` say what it does here.
Where the project deliberately differs (fail-closed tenants), docs/seeds.md says so and why.
Sources: "Phase 1 Implementation Guide" (seed 000), "Implementation Quick Start" (seed 001),
"Phase 1 Success Story" (seed 002).
"""

import json

import pytest

from fraiseql import _fraiseql_rs

# -- seed 001, "Testing Phase 1": tests/test_subscriptions_phase1.py as the seed writes it ------------


def test_payload_creation():
    payload = _fraiseql_rs.subscriptions.PySubscriptionPayload(query="subscription { test }")
    assert payload.query == "subscription { test }"


def test_executor_instantiation():
    executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()
    assert executor is not None


@pytest.mark.asyncio
async def test_register_and_publish():
    executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()

    # Register
    executor.register_subscription(
        connection_id="conn1",
        subscription_id="sub1",
        query="subscription { test }",
        operation_name=None,
        variables={},
        user_id="user1",
        tenant_id="tenant1",
    )

    # Publish event
    executor.publish_event(
        event_type="test",
        channel="test",
        data={"id": "123"},
    )

    # Get event
    response = executor.next_event("sub1")
    assert response is None or isinstance(response, bytes)
    # --- as it behaves: the event names no tenant, the subscription is tenant1's (fail-closed)
    assert response is None


def test_event_bus_config_memory():
    config = _fraiseql_rs.subscriptions.PyEventBusConfig.memory()
    assert config is not None


def test_event_bus_config_redis():
    config = _fraiseql_rs.subscriptions.PyEventBusConfig.redis(
        url="redis://localhost:6379",
        consumer_group="test",
    )
    assert config is not None


# -- seed 000, "Step 2" to "Step 6" --------------------------------------------------------------------


def test_seed_000_payload_test_it(capsys):
    from fraiseql import _fraiseql_rs

    payload = _fraiseql_rs.subscriptions.PySubscriptionPayload("query { test }")
    print(payload.query)  # Should print: query { test }
    # --- as it behaves
    assert capsys.readouterr().out == "query { test }\n"


def test_seed_000_message_test_commands():
    # Test creation
    msg = _fraiseql_rs.subscriptions.PyGraphQLMessage()
    msg.type_ = "connection_ack"

    # Test dict conversion
    data = {"type": "next", "id": "sub1"}
    msg = _fraiseql_rs.subscriptions.PyGraphQLMessage.from_dict(data)
    result = msg.to_dict()
    # --- as it behaves
    assert result == {"type": "next", "id": "sub1"}


def test_seed_000_module_registration_test(capsys):
    from fraiseql import _fraiseql_rs

    print(dir(_fraiseql_rs.subscriptions))
    # Should show your classes
    # --- as it behaves
    shown = capsys.readouterr().out
    for name in ("PySubscriptionPayload", "PyGraphQLMessage", "PySubscriptionExecutor", "PyEventBusConfig"):
        assert name in shown


def test_seed_000_mission():
    from fraiseql import _fraiseql_rs

    # Create Rust executor from Python
    executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()

    # Register subscriptions
    executor.register_subscription(
        connection_id="conn1",
        subscription_id="sub1",
        query="subscription { users { id } }",
        variables={},
        user_id="user1",
        tenant_id="tenant1",
    )

    # Publish events
    executor.publish_event("userCreated", "users", {"id": "123"})

    # Get responses
    response_bytes = executor.next_event("sub1")
    # --- as it behaves: no tenant on the event, so tenant1's subscription does not see it
    assert response_bytes is None
    executor.publish_event("userCreated", "users", {"id": "123", "tenant_id": "tenant1"})
    assert (
        executor.next_event("sub1")
        == b'{"id":"sub1","type":"next","payload":{"data":{"users":{"id":"123"}}}}'
    )


def test_seed_000_unit_tests():
    def test_executor_instantiation():
        executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()
        assert executor is not None

    def test_register_subscription():
        executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()
        executor.register_subscription(
            connection_id="conn1",
            subscription_id="sub1",
            query="subscription { test }",
            variables={},
            user_id="user1",
            tenant_id="tenant1",
        )
        # Should not raise exception

    def test_publish_event():
        executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()
        executor.publish_event("test", "test", {"data": "test"})
        # Should not raise exception

    # --- as it behaves
    test_executor_instantiation()
    test_register_subscription()
    test_publish_event()


def test_seed_000_integration_test(capsys):
    from fraiseql import _fraiseql_rs

    # Complete workflow test
    executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()

    executor.register_subscription(
        connection_id="test_conn",
        subscription_id="test_sub",
        query="subscription { users { id } }",
        variables={},
        user_id="test_user",
        tenant_id="test_tenant",
    )

    executor.publish_event(
        event_type="userCreated",
        channel="users",
        data={"id": "123", "name": "Alice"},
    )

    response = executor.next_event("test_sub")
    metrics = executor.get_metrics()

    print("✅ Phase 1 implementation working!")
    # --- as it behaves: fail-closed tenants again; the metrics the seeds name are there
    assert response is None
    assert metrics["active_subscriptions"] == 1
    assert metrics["total_events_processed"] == 1
    assert "Phase 1 implementation working" in capsys.readouterr().out


# -- seed 001, "Success Criteria for Phase 1" ----------------------------------------------------------


def test_seed_001_success_criteria(capsys):
    from fraiseql import _fraiseql_rs

    # Create executor
    executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()

    # Register subscription
    executor.register_subscription(
        connection_id="conn1",
        subscription_id="sub1",
        query="subscription { users { id } }",
        operation_name=None,
        variables={},
        user_id="user1",
        tenant_id="tenant1",
    )

    # Publish event
    executor.publish_event(
        event_type="userCreated",
        channel="users",
        data={"id": "123", "name": "Alice"},
    )

    # Get response
    response_bytes = executor.next_event("sub1")
    if response_bytes:
        print(json.loads(response_bytes))  # Should contain subscription response

    # Get metrics
    metrics = executor.get_metrics()
    print(metrics)
    # --- as it behaves
    assert response_bytes is None, "fail-closed: the event has no tenant"
    assert "'total_events_processed': 1" in capsys.readouterr().out


# -- seed 002, "Phase 1 Success Story" -----------------------------------------------------------------


def test_seed_002_executor():
    from fraiseql import _fraiseql_rs

    executor = _fraiseql_rs.subscriptions.PySubscriptionExecutor()
    executor.register_subscription(
        connection_id="conn1",
        subscription_id="sub1",
        query="subscription { users { id } }",
        variables={},
        user_id="user1",
        tenant_id="tenant1",
    )
    executor.publish_event("userCreated", "users", {"id": "123"})
    response = executor.next_event("sub1")  # Pre-serialized bytes
    # --- as it behaves
    assert response is None, "fail-closed: the event has no tenant"


def test_seed_002_event_bus_configuration():
    # Memory (development)
    config = _fraiseql_rs.PyEventBusConfig.memory()

    # Redis (production)
    config = _fraiseql_rs.PyEventBusConfig.redis(url="redis://localhost:6379", consumer_group="myapp")

    # PostgreSQL (fallback)
    config = _fraiseql_rs.PyEventBusConfig.postgresql(connection_string="postgresql://...")
    # --- as it behaves
    assert config.bus_type == "postgresql"
