"""Registering, completing and addressing subscriptions."""

from __future__ import annotations

import pytest

from fraiseql.subscriptions import (
    AmbiguousSubscriptionError,
    ConfigurationError,
    DuplicateSubscriptionError,
    GraphQLDocumentError,
    PySubscriptionExecutor,
    SubscriptionError,
    SubscriptionNotFoundError,
)
from tests.conftest import decode

QUERY = "subscription { users { id } }"


def test_register_returns_the_client_id(executor: PySubscriptionExecutor) -> None:
    assert executor.register_subscription("conn1", "sub1", QUERY) == "sub1"
    assert executor.get_metrics()["active_subscriptions"] == 1
    assert executor.get_metrics()["active_connections"] == 1


def test_duplicate_id_on_the_same_connection_is_refused(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("conn1", "sub1", QUERY)
    with pytest.raises(DuplicateSubscriptionError, match='"sub1" is already active on connection "conn1"'):
        executor.register_subscription("conn1", "sub1", QUERY)
    assert isinstance(DuplicateSubscriptionError("x"), ValueError)


def test_same_id_on_another_connection_needs_the_connection(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("a", "s", QUERY)
    executor.register_subscription("b", "s", QUERY)
    with pytest.raises(AmbiguousSubscriptionError, match="active on 2 connections"):
        executor.next_event("s")
    executor.publish_event("e", "users", {"id": 1})
    assert decode(executor.next_event("s", connection_id="a"))["id"] == "s"
    executor.complete_subscription("s", connection_id="a")
    assert executor.next_event("s") is not None


def test_id_can_be_reused_after_completion(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "s", QUERY)
    executor.complete_subscription("s")
    executor.register_subscription("c", "s", QUERY)


@pytest.mark.parametrize(
    ("query", "operation_name", "message"),
    [
        ("subscription { users { id }", None, "expected"),
        ("query { users { id } }", None, "Operation is a query, not a subscription."),
        ("mutation { m }", None, "Operation is a mutation, not a subscription."),
        ("subscription A { a } subscription B { b }", "C", 'Unknown operation named "C".'),
        ("subscription A { a } subscription B { b }", None, "Must provide operation name"),
        ("subscription { a b }", None, "must select only one top level field"),
        ("subscription { a(x: $v) }", None, 'Variable "$v" is not defined.'),
        ("subscription { a { ...Missing } }", None, "Missing"),
        ("", None, "Unexpected <EOF>"),
        ("fragment F on T { a }", None, "fragment `F` must be used in an operation"),
    ],
)
def test_invalid_documents_raise_with_graphql_errors(
    executor: PySubscriptionExecutor, query: str, operation_name: str | None, message: str
) -> None:
    with pytest.raises(GraphQLDocumentError) as caught:
        executor.register_subscription("c", "s", query, operation_name)
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, SubscriptionError)
    assert any(message in formatted["message"] for formatted in error.errors), error.errors
    assert executor.get_metrics()["active_connections"] == 0


def test_syntax_errors_carry_locations(executor: PySubscriptionExecutor) -> None:
    with pytest.raises(GraphQLDocumentError) as caught:
        executor.register_subscription("c", "s", "subscription {\n  users { id ")
    located = [error for error in caught.value.errors if "locations" in error]
    assert located
    assert located[0]["locations"][0]["line"] >= 1


def test_operation_name_selects_the_subscription(executor: PySubscriptionExecutor) -> None:
    document = "query Q { a } subscription S { users { id } }"
    executor.register_subscription("c", "s", document, "S")
    executor.publish_event("e", "users", {"id": 9})
    assert decode(executor.next_event("s"))["payload"] == {"data": {"users": {"id": 9}}}


def test_required_variables_are_checked(executor: PySubscriptionExecutor) -> None:
    query = "subscription($room: String!) { messageAdded(room: $room) { id } }"
    with pytest.raises(GraphQLDocumentError, match=r'"\$room" of required type "String!" was not provided'):
        executor.register_subscription("c", "s", query)
    executor.register_subscription("c", "s", query, variables={"room": "lobby"})


def test_complete_removes_everything(executor: PySubscriptionExecutor) -> None:
    executor.register_subscription("c", "s", QUERY)
    executor.publish_event("e", "users", {"id": 1})
    executor.complete_subscription("s")
    metrics = executor.get_metrics()
    assert (metrics["active_subscriptions"], metrics["active_connections"], metrics["active_groups"]) == (
        0,
        0,
        0,
    )
    with pytest.raises(SubscriptionNotFoundError, match='no active subscription "s"'):
        executor.next_event("s")
    executor.publish_event("e", "users", {"id": 2})
    with pytest.raises(SubscriptionNotFoundError):
        executor.complete_subscription("s")


def test_not_found_error_is_a_key_error_with_a_readable_message(executor: PySubscriptionExecutor) -> None:
    with pytest.raises(KeyError) as caught:
        executor.complete_subscription("nope", connection_id="c")
    assert str(caught.value) == 'no active subscription "nope" on connection "c"'


@pytest.mark.parametrize("user_id", [7, "7"])
def test_user_and_tenant_accept_str_or_int(executor: PySubscriptionExecutor, user_id: str | int) -> None:
    executor.register_subscription("c", "s", QUERY, user_id=user_id, tenant_id=1)
    executor.publish_event("e", "users", {"id": 1, "user_id": 7, "tenant_id": "1"})
    assert executor.next_event("s") is not None


@pytest.mark.parametrize("bad", [1.5, True, ["u"], b"u"])
def test_user_id_of_another_type_is_refused(executor: PySubscriptionExecutor, bad: object) -> None:
    with pytest.raises(TypeError, match="user_id must be a str or an int"):
        executor.register_subscription("c", "s", QUERY, user_id=bad)  # type: ignore[arg-type]


def test_variables_must_be_a_dict(executor: PySubscriptionExecutor) -> None:
    with pytest.raises(TypeError, match="variables must be a dict"):
        executor.register_subscription("c", "s", QUERY, variables=[1])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_queued_frames": 0}, "max_queued_frames must be at least 1"),
        ({"overflow": "block"}, 'overflow must be "drop_oldest" or "drop_newest"'),
        ({"resolver_timeout": 0.0}, "resolver_timeout must be a positive number"),
        ({"resolver_timeout": float("nan")}, "resolver_timeout must be a positive number"),
        ({"document_cache_size": 0}, "document_cache_size must be at least 1"),
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        PySubscriptionExecutor(**kwargs)  # type: ignore[arg-type]


def test_settings_are_exposed() -> None:
    executor = PySubscriptionExecutor(max_queued_frames=5, overflow="drop_newest", resolver_timeout=None)
    assert (executor.max_queued_frames, executor.overflow, executor.resolver_timeout) == (
        5,
        "drop_newest",
        None,
    )
    assert PySubscriptionExecutor().resolver_timeout == 5.0


def test_documents_are_cached_by_text(executor: PySubscriptionExecutor) -> None:
    for index in range(50):
        executor.register_subscription(f"c{index}", "s", QUERY)
    assert executor.get_metrics()["cached_documents"] == 1
    assert executor.get_metrics()["active_groups"] == 1


def test_inspect_subscription_reports_root_field_and_arguments(executor: PySubscriptionExecutor) -> None:
    query = "subscription On($room: String!, $n: Int = 5) { m: messageAdded(room: $room, last: $n) { id } }"
    info = executor.inspect_subscription(query, variables={"room": "lobby"})
    assert info == {
        "root_field": "messageAdded",
        "response_key": "m",
        "operation_name": "On",
        "arguments": {"room": "lobby", "last": 5},
        "variables": {"room": "lobby", "n": 5},
    }
    assert executor.get_metrics()["active_subscriptions"] == 0
    with pytest.raises(GraphQLDocumentError, match="not provided"):
        executor.inspect_subscription(query)


def test_exponential_fragment_expansion_is_refused_quickly(executor: PySubscriptionExecutor) -> None:
    # A kilobyte document whose fragments double at each level would expand to 2^20 selections.
    parts = ["subscription { a { ...F0 } }"]
    parts += [f"fragment F{n} on T {{ id ...F{n + 1} ...F{n + 1} }}" for n in range(20)]
    parts.append("fragment F20 on T { id }")
    with pytest.raises(GraphQLDocumentError, match="selects too much"):
        executor.register_subscription("c", "s", " ".join(parts))


def test_document_limits_are_configurable() -> None:
    executor = PySubscriptionExecutor(max_document_size=60, max_depth=2, max_selections=5, max_aliases=1)
    refusals = {
        "subscription { a { b { c { d } } } }": "deeper than 2 levels",
        "subscription { a { x: b y: c } }": "more than 1 aliases",
        "subscription { a { b c d e f } }": "more than 5 selections",
        "subscription { a { " + "b " * 40 + "} }": "larger than 60 bytes",
    }
    for query, message in refusals.items():
        with pytest.raises(GraphQLDocumentError, match=message) as caught:
            executor.register_subscription("c", "s", query)
        assert caught.value.errors[0]["extensions"] == {"code": "DOCUMENT_TOO_LARGE"}
    executor.register_subscription("c", "s", "subscription { a { x: b } }")
    with pytest.raises(ConfigurationError, match="max_depth must be at least 1"):
        PySubscriptionExecutor(max_depth=0)
