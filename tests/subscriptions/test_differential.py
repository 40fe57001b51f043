"""The shaping is exact, and validation agrees: for generated documents and payloads, the
payload of each ``next`` frame equals what graphql-core's ``execute`` produces for the same
schema, document and root value (``data``, and the ``path`` of every error, in order)."""

from __future__ import annotations

import asyncio
import inspect
import json
from typing import Any

import graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraiseql.subscriptions import GraphQLDocumentError, PySubscriptionExecutor

SDL = """
type Query { ok: Boolean }
enum Color { RED GREEN BLUE }
interface Pet { name: String! age: Int }
type Dog implements Pet { name: String! age: Int! barks: Boolean! toy: Toy }
type Cat implements Pet { name: String! age: Int lives: Int! }
type Toy { id: ID! label: String colors: [Color!] }
union Animal = Dog | Cat
type Owner {
  id: ID!
  score: Float
  nick: String
  active: Boolean
  favorite: Color
  pets: [Pet!]!
  animals: [Animal]
  best: Pet
  rival: Owner
  tags: [String!]
  grid: [[Int]]
}
type Subscription { owner: Owner  ownerNow: Owner! }
"""
SCHEMA = graphql.build_schema(SDL)
LEAF_TYPES = (graphql.GraphQLScalarType, graphql.GraphQLEnumType)

ALIASES = st.sampled_from(["", "", "", "x", "y", "renamed"])


def named_type(type_: graphql.GraphQLOutputType) -> graphql.GraphQLNamedType:
    return graphql.get_named_type(type_)


@st.composite
def selection_set(draw: st.DrawFn, type_: graphql.GraphQLNamedType, depth: int) -> str:
    """A selection set for ``type_``: some of its fields (aliased now and then), fragments on
    its possible types when abstract, ``__typename`` sometimes."""
    parts: list[str] = []
    if isinstance(type_, (graphql.GraphQLObjectType, graphql.GraphQLInterfaceType)):
        fields = list(type_.fields.items())
        chosen = draw(st.lists(st.sampled_from(fields), min_size=1, max_size=4, unique_by=lambda f: f[0]))
        used_keys: set[str] = set()
        for name, field in chosen:
            alias = draw(ALIASES)
            key = alias or name
            if key in used_keys:
                continue
            used_keys.add(key)
            prefix = f"{alias}: " if alias else ""
            inner = named_type(field.type)
            if isinstance(inner, LEAF_TYPES):
                parts.append(prefix + name)
            elif depth < 3:
                parts.append(prefix + name + " " + draw(selection_set(inner, depth + 1)))
        if not parts:
            parts.append("__typename")
    if isinstance(type_, (graphql.GraphQLInterfaceType, graphql.GraphQLUnionType)):
        for possible in SCHEMA.get_possible_types(type_):
            if draw(st.booleans()) and depth < 3:
                parts.append(f"... on {possible.name} " + draw(selection_set(possible, depth + 1)))
        if not parts or draw(st.booleans()):
            parts.append("__typename")
    elif draw(st.integers(0, 4)) == 0:
        parts.append("__typename")
    return "{ " + " ".join(parts) + " }"


SCALAR_NOISE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([2**31 - 1, 2**31, -(2**31), -(2**31) - 1, 2**53 + 1]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([1.0, -0.0, 2.5, 1e16, 1.5e-7, 3.0]),
    st.text(alphabet="0123456789 .+-_eE", max_size=6),
    st.sampled_from(["RED", "GREEN", "BLUE", "PURPLE", "", "12", " 7 ", "1_000", "1e3", "true", "x"]),
    st.lists(st.integers(0, 3), max_size=2),
)


WELL_FORMED_LEAVES: dict[str, st.SearchStrategy[Any]] = {
    "Int": st.integers(-(2**31), 2**31 - 1),
    "Float": st.floats(allow_nan=False, allow_infinity=False),
    "String": st.text(max_size=5),
    "Boolean": st.booleans(),
    "ID": st.one_of(st.text(max_size=4), st.integers(0, 999)),
    "Color": st.sampled_from(["RED", "GREEN", "BLUE"]),
}


def value_for(draw: st.DrawFn, type_: graphql.GraphQLOutputType, depth: int) -> Any:
    """A value for ``type_``: usually well-formed, sometimes null, missing pieces or wrong types."""
    if draw(st.integers(0, 9)) == 0:
        return None
    if isinstance(type_, graphql.GraphQLNonNull):
        return value_for(draw, type_.of_type, depth)
    if isinstance(type_, graphql.GraphQLList):
        if draw(st.integers(0, 11)) == 0:
            return draw(SCALAR_NOISE)
        return [value_for(draw, type_.of_type, depth) for _ in range(draw(st.integers(0, 3)))]
    if isinstance(type_, LEAF_TYPES):
        if draw(st.integers(0, 2)) == 0:
            return draw(SCALAR_NOISE)
        return draw(WELL_FORMED_LEAVES[type_.name])
    if depth > 3:
        return None
    if isinstance(type_, (graphql.GraphQLInterfaceType, graphql.GraphQLUnionType)):
        possible = SCHEMA.get_possible_types(type_)
        concrete = draw(st.sampled_from(possible))
        value = value_for(draw, concrete, depth)
        if isinstance(value, dict):
            choice = draw(st.integers(0, 11))
            if choice == 0:
                value.pop("__typename", None)
            elif choice == 1:
                value["__typename"] = draw(st.sampled_from(["Owner", "Toy", "Nope"]))
            else:
                value["__typename"] = concrete.name
        return value
    assert isinstance(type_, graphql.GraphQLObjectType)
    if draw(st.integers(0, 19)) == 0:
        return draw(SCALAR_NOISE)
    result: dict[str, Any] = {}
    for name, field in type_.fields.items():
        if draw(st.integers(0, 7)) > 0:
            result[name] = value_for(draw, field.type, depth + 1)
    return result


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, str, Any]:
    root = draw(st.sampled_from(["owner", "ownerNow"]))
    field = SCHEMA.subscription_type.fields[root] if SCHEMA.subscription_type else None
    assert field is not None
    document = "subscription { " + root + " " + draw(selection_set(named_type(field.type), 1)) + " }"
    if draw(st.integers(0, 5)) == 0:
        # The same selection through a named fragment.
        inner = document[len("subscription { " + root + " ") : -2]
        document = f"subscription {{ {root} {{ ...Part }} }} fragment Part on Owner {inner}"
    return root, document, value_for(draw, field.type, 1)


def reference(document: str, root: str, value: Any) -> tuple[Any, list[list[str | int]]]:
    result = graphql.execute(SCHEMA, graphql.parse(document), root_value={root: value})
    assert isinstance(result, graphql.ExecutionResult)
    data = json.loads(json.dumps(result.data))
    return data, [list(error.path or []) for error in result.errors or []]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(cases())
def test_shaping_equals_graphql_core(case: tuple[str, str, Any]) -> None:
    root, document, value = case
    executor = PySubscriptionExecutor(schema_sdl=SDL)
    if graphql.validate(SCHEMA, graphql.parse(document)):
        # Generated documents can be invalid (conflicting aliases): both must refuse them.
        with pytest.raises(GraphQLDocumentError):
            executor.register_subscription("c", "s", document)
        return
    executor.register_subscription("c", "s", document)
    executor.publish_event("e", root, value)
    frame = executor.next_event("s")
    assert frame is not None
    payload = json.loads(frame)["payload"]
    expected_data, expected_paths = reference(document, root, value)
    assert payload["data"] == expected_data, (document, value)
    assert [error["path"] for error in payload.get("errors", [])] == expected_paths, (document, value)


# -- a resolver that raises: graphql-core's subscribe (ExecuteSubscriptionEvent) ------------------


class ResolverFailed(Exception):
    """What the root field's resolver raises in both executions."""


def _raise(*_: Any, **__: Any) -> Any:
    raise ResolverFailed("the resolver failed")


async def _one_event(*_: Any, **__: Any) -> Any:
    yield {"id": "1"}


def _subscribe_reference(document: str) -> dict[str, Any]:
    """graphql-core's result for the first event when the root field's resolver raises."""
    schema = graphql.build_schema(SDL)
    assert schema.subscription_type is not None
    for field in schema.subscription_type.fields.values():
        field.subscribe = _one_event
        field.resolve = _raise

    async def first() -> graphql.ExecutionResult:
        stream = graphql.subscribe(schema, graphql.parse(document))
        if inspect.isawaitable(stream):
            stream = await stream
        assert not isinstance(stream, graphql.ExecutionResult), stream
        result: graphql.ExecutionResult = await anext(stream)
        return result

    formatted: dict[str, Any] = json.loads(json.dumps(asyncio.run(first()).formatted))
    return formatted


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from(["", "renamed: ", "x: "]))
def test_a_raising_resolver_gives_what_graphql_core_subscribe_gives(
    case: tuple[str, str, Any], alias: str
) -> None:
    root, document, _ = case
    document = document.replace("subscription { " + root, "subscription { " + alias + root, 1)
    if graphql.validate(SCHEMA, graphql.parse(document)):
        return
    expected = _subscribe_reference(document)
    executor = PySubscriptionExecutor(schema_sdl=SDL)
    executor.register_subscription("c", "s", document, resolver=_raise)
    executor.publish_event("e", root, {"id": "1"})
    frame = executor.next_event("s")
    assert frame is not None
    message = json.loads(frame)
    assert message["type"] == "next", "a field error, not the end of the stream"
    payload = message["payload"]
    assert payload["data"] == expected["data"], document
    located = [(error["path"], error["locations"]) for error in payload["errors"]]
    assert located == [(error["path"], error["locations"]) for error in expected["errors"]], document
    assert payload["errors"][0]["extensions"]["code"] == "RESOLVER_ERROR"
