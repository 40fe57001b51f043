"""The schema generated from the resolvers' annotations."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, field
from typing import Any, Optional, TypedDict

import graphql
import pytest
from typing_extensions import NotRequired

from fraiseql.subscriptions import ConfigurationError, GraphQLDocumentError
from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionManager
from fraiseql.subscriptions.schema import ID, build_schema_sdl
from tests.conftest import decode


class Mood(enum.Enum):
    HAPPY = "happy"
    GRUMPY = "grumpy"


@dataclass
class Author:
    name: str
    mood: Mood
    friends: list[Author] = field(default_factory=list)


class Reaction(TypedDict):
    emoji: str
    count: int
    note: NotRequired[str]


@dataclass
class Message:
    id: ID
    text: str
    at: datetime.datetime
    author: Author
    reactions: list[Reaction]
    edited: Optional[bool] = None  # noqa: UP045 - the old spelling must work too
    score: float | None = None


@dataclass
class Filter:
    min_score: float
    moods: list[Mood]


def message_added(
    event: dict[str, Any],
    variables: dict[str, Any],
    *,
    room: str,
    limit: int = 10,
    where: Filter | None = None,
) -> Message:
    raise NotImplementedError


def test_sdl_from_annotations() -> None:
    sdl = build_schema_sdl({"messageAdded": message_added})
    schema = graphql.build_schema(sdl)  # graphql-core accepts it
    subscription = schema.subscription_type
    assert subscription is not None
    field_ = subscription.fields["messageAdded"]
    assert str(field_.type) == "Message!"
    assert {name: str(arg.type) for name, arg in field_.args.items()} == {
        "room": "String!",
        "limit": "Int!",
        "where": "FilterInput",
    }
    assert "limit: Int! = 10" in sdl
    message = schema.type_map["Message"]
    assert isinstance(message, graphql.GraphQLObjectType)
    assert {name: str(f.type) for name, f in message.fields.items()} == {
        "id": "ID!",
        "text": "String!",
        "at": "DateTime!",
        "author": "Author!",
        "reactions": "[Reaction!]!",
        "edited": "Boolean",
        "score": "Float",
    }
    reaction = schema.type_map["Reaction"]
    assert isinstance(reaction, graphql.GraphQLObjectType)
    assert str(reaction.fields["note"].type) == "String"
    author = schema.type_map["Author"]
    assert isinstance(author, graphql.GraphQLObjectType)
    assert str(author.fields["friends"].type) == "[Author!]!"
    mood = schema.type_map["Mood"]
    assert isinstance(mood, graphql.GraphQLEnumType)
    assert list(mood.values) == ["HAPPY", "GRUMPY"]
    assert "scalar DateTime" in sdl


def test_unmappable_annotations_are_refused_where_declared() -> None:
    manager = SubscriptionManager()

    def broken(event: Any, variables: Any) -> complex:
        raise NotImplementedError

    with pytest.raises(ConfigurationError, match="cannot map"):
        manager.subscription(broken)

    def no_hint(event: Any, variables: Any, *, room) -> int:  # type: ignore[no-untyped-def]
        raise NotImplementedError

    with pytest.raises(ConfigurationError, match="argument 'room'"):
        manager.subscription(no_hint)


def test_the_manager_validates_and_shapes_with_the_generated_schema() -> None:
    manager = SubscriptionManager()

    @manager.subscription(channel="room:{room}")
    def messageAdded(event: dict[str, Any], variables: dict[str, Any], *, room: str) -> Message:
        return Message(
            id=ID(event["id"]),
            text=event["text"],
            at=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
            author=Author(name="ann", mood=Mood.HAPPY),
            reactions=[],
        )

    sdl = manager.schema_sdl()
    assert sdl is not None
    assert "messageAdded(room: String!): Message!" in sdl
    with pytest.raises(GraphQLDocumentError, match="nope"):
        manager.subscribe(
            "c", "bad", 'subscription { messageAdded(room: "r") { nope } }', None, None, ConnectionContext()
        )
    query = 'subscription { messageAdded(room: "r") { id text at author { name mood } } }'
    manager.subscribe("c", "s", query, None, None, ConnectionContext())
    manager.executor.publish_event("e", "room:r", {"id": "1", "text": "hi"})
    assert decode(manager.executor.next_event("s"))["payload"] == {
        "data": {
            "messageAdded": {
                "id": "1",
                "text": "hi",
                "at": "2026-01-01T00:00:00+00:00",
                "author": {"name": "ann", "mood": "HAPPY"},
            }
        }
    }


def test_fields_without_annotations_mean_no_generated_schema(caplog: pytest.LogCaptureFixture) -> None:
    manager = SubscriptionManager()
    manager.add_field("messageAdded", channel="room:{room}")
    assert manager.schema_sdl() is None

    typed = SubscriptionManager()

    @typed.subscription
    def tick(event: Any, variables: Any) -> int:
        return 1

    assert typed.schema_sdl() is not None
    typed.add_field("raw")
    assert typed.schema_sdl() is None
    assert "no schema generated any more" in caplog.text


@dataclass
class Query:
    """Clashes with the generated schema's own query root."""

    x: int


def test_schema_problems_surface_where_the_field_is_declared() -> None:
    manager = SubscriptionManager()
    with pytest.raises(ConfigurationError):

        @manager.subscription
        def clash(event: Any, variables: Any) -> Query:
            raise NotImplementedError

    assert "clash" not in manager.fields


def test_untyped_json_resolvers_mean_no_generated_schema() -> None:
    manager = SubscriptionManager()

    @manager.subscription
    def counter(event: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
        return event

    assert manager.schema_sdl() is None
    manager.subscribe("c", "s", "subscription { counter { n } }", None, None, ConnectionContext())
