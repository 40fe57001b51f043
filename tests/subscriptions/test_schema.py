"""Validation against a schema at subscribe time, and variable coercion to its types."""

from __future__ import annotations

import graphql
import pytest

from fraiseql.subscriptions import ConfigurationError, GraphQLDocumentError, PySubscriptionExecutor
from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionConfig, SubscriptionManager
from tests.conftest import decode

SDL = """
type Query { ok: Boolean }
enum Color { RED GREEN }
input Filter { color: Color!, min: Int = 0 }
type Message { id: ID! room: String! text: String! }
type Subscription {
  messageAdded(room: String!, filter: Filter): Message!
  tick(every: Int = 1): Int!
}
"""


@pytest.fixture
def executor() -> PySubscriptionExecutor:
    return PySubscriptionExecutor(schema_sdl=SDL)


def test_valid_subscription_is_served(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "s", 'subscription { messageAdded(room: "r") { id text } }')
    executor.publish_event("e", "messageAdded", {"id": "1", "room": "r", "text": "hi"})
    assert decode(executor.next_event("s"))["payload"] == {
        "data": {"messageAdded": {"id": "1", "text": "hi"}}
    }
    assert executor.schema_sdl == SDL


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ('subscription { messageAdded(room: "r") { nope } }', "nope"),
        ("subscription { missing }", "missing"),
        ('subscription { tick(every: "often") }', "expected value of type Int"),
        ('subscription { messageAdded(room: "r", bogus: 1) { id } }', "bogus"),
        ('subscription { messageAdded(room: "r", filter: {color: BLUE}) { id } }', "BLUE"),
        ("subscription { messageAdded { id } }", "room"),
        ('subscription { messageAdded(room: "r") }', "selection"),
        ("subscription { tick { x } }", "must not have subselections"),
    ],
)
def test_invalid_documents_are_refused_with_located_errors(
    executor: PySubscriptionExecutor, query: str, fragment: str
) -> None:
    with pytest.raises(GraphQLDocumentError) as caught:
        executor.register_subscription("c", "s", query)
    errors = caught.value.errors
    assert any(fragment in error["message"] for error in errors), errors
    assert all("locations" in error for error in errors), errors
    assert executor.get_metrics()["active_subscriptions"] == 0


def test_variables_are_coerced_to_their_declared_types(executor: PySubscriptionExecutor) -> None:
    query = "subscription($every: Int) { tick(every: $every) }"
    for bad in ("x", 1.5, 2**31, True):
        with pytest.raises(GraphQLDocumentError):
            executor.register_subscription("c", "s", query, variables={"every": bad})
    executor.register_subscription("c", "s", query, variables={"every": 3})


def test_input_objects_enums_and_defaults(executor: PySubscriptionExecutor) -> None:
    query = 'subscription($f: Filter) { messageAdded(room: "r", filter: $f) { id } }'
    info = executor.inspect_subscription(query, variables={"f": {"color": "RED"}})
    assert info["arguments"] == {"room": "r", "filter": {"color": "RED", "min": 0}}
    with pytest.raises(GraphQLDocumentError):
        executor.inspect_subscription(query, variables={"f": {"color": "BLUE"}})
    with pytest.raises(GraphQLDocumentError):
        executor.inspect_subscription(query, variables={"f": {"min": 1}})
    assert executor.inspect_subscription("subscription { tick }")["arguments"] == {"every": 1}


@pytest.mark.parametrize(
    ("sdl", "match"),
    [
        ("type Query { a: Missing } type Subscription { t: Int }", "Missing"),
        ("type Query { a: Int }", "no Subscription"),
    ],
)
def test_invalid_schemas_are_refused(sdl: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        PySubscriptionExecutor(schema_sdl=sdl)


def test_manager_accepts_sdl_or_a_graphql_core_schema() -> None:
    from_sdl = SubscriptionManager(SubscriptionConfig(schema=SDL))
    assert from_sdl.schema_sdl() == SDL
    schema = graphql.build_schema(SDL)
    from_core = SubscriptionManager(SubscriptionConfig(schema=schema))
    printed = from_core.schema_sdl()
    assert printed is not None
    assert "messageAdded(room: String!, filter: Filter): Message!" in printed
    assert SubscriptionManager().schema_sdl() is None
    with pytest.raises(ConfigurationError, match="SDL text or a graphql-core GraphQLSchema"):
        SubscriptionManager(SubscriptionConfig(schema=42))


def test_manager_validates_subscriptions_against_its_schema() -> None:
    manager = SubscriptionManager(SubscriptionConfig(schema=SDL))
    manager.add_field("messageAdded", channel="room:{room}")
    with pytest.raises(GraphQLDocumentError) as caught:
        manager.subscribe(
            "c", "s", 'subscription { messageAdded(room: "r") { nope } }', None, None, ConnectionContext()
        )
    assert "locations" in caught.value.errors[0]
    manager.subscribe(
        "c", "s", 'subscription { messageAdded(room: "r") { id } }', None, None, ConnectionContext()
    )
    assert manager.executor.get_metrics()["active_subscriptions"] == 1


def test_dataclasses_resolve_interfaces_by_their_class_name() -> None:
    from dataclasses import dataclass

    @dataclass
    class Dog:
        name: str
        barks: bool

    executor = PySubscriptionExecutor(
        schema_sdl="""
        type Query { ok: Boolean }
        interface Pet { name: String! }
        type Dog implements Pet { name: String! barks: Boolean! }
        type Cat implements Pet { name: String! }
        type Subscription { pet: Pet }
        """
    )
    executor.register_subscription("c", "s", "subscription { pet { __typename name ... on Dog { barks } } }")
    executor.publish_event("e", "pet", Dog("rex", True))
    assert decode(executor.next_event("s"))["payload"] == {
        "data": {"pet": {"__typename": "Dog", "name": "rex", "barks": True}}
    }
