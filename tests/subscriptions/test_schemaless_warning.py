"""A manager that ends up without a schema says so (``SubscriptionConfig.schemaless``)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fraiseql.subscriptions import ConfigurationError, GraphQLDocumentError
from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionConfig, SubscriptionManager
from tests.conftest import decode

SDL = """
type Message { id: ID! text: String! }
type Query { ok: Boolean }
type Subscription { messageAdded(room: String!): Message! }
"""
NOSUCH = 'subscription { messageAdded(room: "r") { nosuch } }'


def schema_missing(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.__dict__.get("event") == "schema.missing"]


def test_the_first_untyped_field_logs_one_warning_and_subscribes_do_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        manager = SubscriptionManager()
        assert not schema_missing(caplog), "nothing to say before a field is declared"
        manager.add_field("messageAdded", channel="room:{room}")
        manager.add_field("other")
        for n in range(3):
            manager.subscribe("c", f"s{n}", NOSUCH, None, None, ConnectionContext())
    (record,) = schema_missing(caplog)
    assert record.name == "fraiseql.subscriptions"
    assert record.levelno == logging.WARNING
    assert record.__dict__["field"] == "messageAdded"
    message = record.getMessage()
    for words in ("no schema", "messageAdded", "validated without types", "null", "schema=", "annotate"):
        assert words in message, words
    assert "schemaless='allow'" in message

    # What the warning is about: without types, a field the events do not have is null.
    manager.executor.publish_event("e", "room:r", {"id": "1"})
    frame = decode(manager.executor.next_event("s0"))
    assert frame["payload"] == {"data": {"messageAdded": {"nosuch": None}}}


def test_every_manager_warns_once_of_its_own(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        for _ in range(2):
            SubscriptionManager().add_field("messageAdded")
    assert len(schema_missing(caplog)) == 2


def test_generate_schema_false_without_a_schema_warns(caplog: pytest.LogCaptureFixture) -> None:
    manager = SubscriptionManager(SubscriptionConfig(generate_schema=False))

    def typed(event: Any, variables: Any) -> int:
        return 1

    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        manager.subscription(typed)
    (record,) = schema_missing(caplog)
    assert "generate_schema is False" in record.getMessage()


def test_a_schema_or_annotated_resolvers_mean_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        with_sdl = SubscriptionManager(SubscriptionConfig(schema=SDL))
        with_sdl.add_field("messageAdded", channel="room:{room}")

        typed = SubscriptionManager()

        @typed.subscription
        def tick(event: Any, variables: Any) -> int:
            return 1

    assert not schema_missing(caplog)
    with pytest.raises(GraphQLDocumentError, match="nosuch"):
        with_sdl.subscribe("c", "s", NOSUCH, None, None, ConnectionContext())


def test_a_typed_manager_that_loses_its_schema_warns(caplog: pytest.LogCaptureFixture) -> None:
    manager = SubscriptionManager()

    @manager.subscription
    def tick(event: Any, variables: Any) -> int:
        return 1

    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        manager.add_field("raw")
    assert manager.schema_sdl() is None
    (record,) = schema_missing(caplog)
    assert "raw" in record.getMessage()


def test_allow_is_silent(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="fraiseql.subscriptions"):
        manager = SubscriptionManager(SubscriptionConfig(schemaless="allow"))
        manager.add_field("messageAdded", channel="room:{room}")
    assert manager.schema_sdl() is None
    assert not schema_missing(caplog)


def test_refuse_refuses_the_field_that_would_leave_no_schema(caplog: pytest.LogCaptureFixture) -> None:
    manager = SubscriptionManager(SubscriptionConfig(schemaless="refuse"))

    @manager.subscription
    def tick(event: Any, variables: Any) -> int:
        return 1

    sdl = manager.schema_sdl()
    assert sdl is not None
    with pytest.raises(ConfigurationError, match=r"'raw' would leave the manager without a schema.*schema="):
        manager.add_field("raw")
    # Refused before anything changed: the field is not there and the schema is intact.
    assert set(manager.fields) == {"tick"}
    assert manager.schema_sdl() == sdl

    with_sdl = SubscriptionManager(SubscriptionConfig(schema=SDL, schemaless="refuse"))
    with_sdl.add_field("messageAdded", channel="room:{room}")
    with pytest.raises(ConfigurationError, match="generate_schema is False"):
        SubscriptionManager(SubscriptionConfig(generate_schema=False, schemaless="refuse")).add_field("x")
    assert not schema_missing(caplog)


def test_an_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="schemaless"):
        SubscriptionConfig(schemaless="maybe")  # type: ignore[arg-type]
