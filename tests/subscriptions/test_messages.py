from __future__ import annotations

import pytest

from fraiseql._fraiseql_rs.subscriptions import PyGraphQLMessage, PySubscriptionPayload


def test_payload_defaults_and_setters() -> None:
    payload = PySubscriptionPayload("subscription { a }")
    assert payload.query == "subscription { a }"
    assert payload.operation_name is None
    assert payload.variables == {}
    assert payload.extensions is None
    payload.query = "subscription B { b }"
    payload.operation_name = "B"
    payload.variables = {"x": 1}
    payload.extensions = {"persistedQuery": {}}
    assert (payload.query, payload.operation_name, payload.variables) == (
        "subscription B { b }",
        "B",
        {"x": 1},
    )
    assert payload.extensions == {"persistedQuery": {}}


def test_payload_variables_are_a_fresh_dict_each_time() -> None:
    first, second = PySubscriptionPayload("q"), PySubscriptionPayload("q")
    first.variables["x"] = 1
    assert second.variables == {}


def test_message_round_trip() -> None:
    data = {"type": "next", "id": "sub1", "payload": {"data": {"a": 1}}}
    message = PyGraphQLMessage.from_dict(data)
    assert (message.type_, message.id, message.payload) == ("next", "sub1", {"data": {"a": 1}})
    assert message.to_dict() == data


def test_message_without_id_or_payload() -> None:
    message = PyGraphQLMessage.from_dict({"type": "connection_ack"})
    assert message.id is None
    assert message.payload is None
    assert message.to_dict() == {"type": "connection_ack"}


def test_error_message_payload_is_a_list() -> None:
    message = PyGraphQLMessage("error", "s", [{"message": "boom"}])
    assert message.to_dict() == {"type": "error", "id": "s", "payload": [{"message": "boom"}]}


def test_message_fields_can_be_set() -> None:
    message = PyGraphQLMessage("ping")
    message.type_ = "pong"
    message.payload = {"x": 1}
    assert message.to_dict() == {"type": "pong", "payload": {"x": 1}}
    with pytest.raises(TypeError, match="payload must be a dict, a list or None"):
        message.payload = 3  # type: ignore[assignment]


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ({}, ValueError, 'no "type"'),
        ({"type": 1}, TypeError, '"type" must be a string'),
        ({"type": None}, TypeError, '"type" must be a string'),
        ({"type": "next", "id": 5}, TypeError, '"id" must be a string'),
        ({"type": "next", "payload": "x"}, TypeError, "payload must be"),
        (["type", "next"], TypeError, "must be a dict"),
    ],
)
def test_from_dict_refuses_malformed_messages(data: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        PyGraphQLMessage.from_dict(data)
