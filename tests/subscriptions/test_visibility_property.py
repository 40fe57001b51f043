"""A property test of who sees what: tenants, user targeting and row-level filters together.

Random connections (tenant, user, roles, a level in their context's data) subscribe to fields
that carry random filters (compiled to Rust, and one as a Python predicate); random events are
published with random tenants, targets and ``global_event``. Every subscriber must receive
exactly the events its tenant, its user target and its filter allow, in publish order, and each
event is still serialized once per group of identical subscriptions that sees it.

The expected visibility comes from a plain Python model of the documented rules (README, "What
the engine guarantees", and ``fraiseql.subscriptions.filters``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fraiseql.subscriptions.filters import Filter, Operand, all_of, any_of, arg, context, event, not_, value
from fraiseql.subscriptions.manager import ConnectionContext, SubscriptionManager
from tests.conftest import decode

TENANTS = ["acme", "globex"]
USERS = ["ann", "bob", "7", None]
ROOMS = ["lobby", "dev"]
ROLES = ["admin", "member"]
FIELDS = ["feedA", "feedB", "feedC"]
PYTHON_FIELD = "feedPython"
CHANNEL = "feed"

_MISSING = object()

# -- the model ----------------------------------------------------------------------------------


def _resolve(spec: object, sources: dict[str, Any]) -> Any:
    if isinstance(spec, dict):
        return spec["value"]
    assert isinstance(spec, str)
    root, *segments = spec.split(".")
    current: Any = sources[root]
    for segment in segments:
        if isinstance(current, dict) and segment in current:
            current = current[segment]
        elif isinstance(current, list) and segment.isdigit() and int(segment) < len(current):
            current = current[int(segment)]
        else:
            return _MISSING
    return current


def _is_integer(item: object) -> bool:
    return isinstance(item, int) and not isinstance(item, bool)


def _same(left: Any, right: Any) -> bool:
    left = None if left is _MISSING else left
    right = None if right is _MISSING else right
    if _is_integer(left) and isinstance(right, str):
        return str(left) == right
    if isinstance(left, str) and _is_integer(right):
        return left == str(right)
    return type(left) is type(right) and bool(left == right)


def _ordered(left: Any, right: Any, compare: Callable[[Any, Any], bool]) -> bool:
    if _is_integer(left) and _is_integer(right):
        return compare(left, right)
    if isinstance(left, str) and isinstance(right, str):
        return compare(left, right)
    return False


_ORDER = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}


def allowed(spec: dict[str, Any], sources: dict[str, Any]) -> bool:
    """What the documented filter semantics say about one event and subscriber."""
    ((name, argument),) = spec.items()
    if name == "and":
        return all(allowed(part, sources) for part in argument)
    if name == "or":
        return any(allowed(part, sources) for part in argument)
    if name == "not":
        return not allowed(argument, sources)
    if name == "exists":
        found = _resolve(argument[0], sources)
        return found is not _MISSING and found is not None
    left, right = (_resolve(side, sources) for side in argument)
    if name == "eq":
        return _same(left, right)
    if name == "ne":
        return not _same(left, right)
    if name == "in":
        return isinstance(right, list) and any(_same(left, item) for item in right)
    return _ordered(left, right, _ORDER[name])


def in_scope(viewer: ConnectionContext, tenant: str | None, target: str | None, global_event: bool) -> bool:
    if not global_event and viewer.tenant_id != tenant:
        return False
    return target is None or viewer.user_id == target


# -- strategies -----------------------------------------------------------------------------

# Operands of one kind, so that most comparisons can go either way (across kinds they are
# simply false, which a few leaves still try).
NUMBERS = [event("level"), context("data.level"), event("missing")]
TEXTS = [event("room"), arg("room"), event("tags.0"), context("tenant_id")]
IDS = [event("author"), context("user_id")]
LISTS = [context("roles"), event("tags")]
operands = st.sampled_from([*NUMBERS, *TEXTS, *IDS, *LISTS])
literals = st.one_of(st.sampled_from([*ROOMS, *USERS, *ROLES]), st.integers(0, 3))
kinds = st.one_of(
    st.tuples(st.sampled_from(NUMBERS), st.one_of(st.sampled_from(NUMBERS), st.integers(0, 3))),
    st.tuples(st.sampled_from(TEXTS), st.one_of(st.sampled_from(TEXTS), st.sampled_from([*ROOMS, *ROLES]))),
    st.tuples(st.sampled_from(IDS), st.one_of(st.sampled_from(IDS), st.sampled_from(["ann", "7", 7]))),
    st.tuples(operands, st.one_of(operands, literals)),
)


def _comparison(pair: tuple[tuple[Operand, object], str]) -> Filter:
    (left, right), name = pair
    compare: Callable[[Any, Any], Filter] = {
        "eq": operator.eq,
        "ne": operator.ne,
        "lt": operator.lt,
        "le": operator.le,
        "gt": operator.gt,
        "ge": operator.ge,
    }[name]
    return compare(left, right)


leaves = st.one_of(
    st.tuples(kinds, st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"])).map(_comparison),
    st.tuples(st.one_of(operands, literals.map(value)), st.lists(literals, max_size=3)).map(
        lambda pair: pair[0].is_in(pair[1])
    ),
    st.tuples(st.one_of(literals.map(value), operands), st.sampled_from(LISTS)).map(
        lambda pair: pair[0].is_in(pair[1])
    ),
    operands.map(Operand.exists),
)
filters = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda parts: all_of(*parts)),
        st.lists(children, min_size=1, max_size=3).map(lambda parts: any_of(*parts)),
        children.map(not_),
    ),
    max_leaves=4,
)


@dataclass(frozen=True)
class Subscriber:
    context: ConnectionContext
    field: str
    room: str


subscribers = st.builds(
    Subscriber,
    context=st.builds(
        ConnectionContext,
        user_id=st.sampled_from(USERS),
        tenant_id=st.sampled_from([*TENANTS, None]),
        roles=st.lists(st.sampled_from(ROLES), max_size=2, unique=True).map(tuple),
        data=st.fixed_dictionaries({"level": st.integers(0, 3)}),
    ),
    field=st.sampled_from([*FIELDS, PYTHON_FIELD]),
    room=st.sampled_from(ROOMS),
)


@dataclass(frozen=True)
class Published:
    data: dict[str, Any]
    tenant: str | None
    target: str | None
    global_event: bool


events = st.builds(
    Published,
    data=st.fixed_dictionaries(
        {"room": st.sampled_from(ROOMS), "level": st.integers(0, 3)},
        optional={
            "author": st.sampled_from(["ann", "bob", "7", 7, 8]),
            "tags": st.lists(st.sampled_from([*ROLES, *ROOMS]), max_size=2),
        },
    ),
    tenant=st.sampled_from([*TENANTS, None]),
    target=st.one_of(st.none(), st.sampled_from(USERS[:-1])),
    global_event=st.booleans(),
)


# -- the property ---------------------------------------------------------------------------


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    field_filters=st.lists(filters, min_size=len(FIELDS) + 1, max_size=len(FIELDS) + 1),
    subscribed=st.lists(subscribers, min_size=4, max_size=20),
    published=st.lists(events, min_size=4, max_size=20),
)
def test_each_subscriber_gets_exactly_what_it_may_see(
    field_filters: list[Filter], subscribed: list[Subscriber], published: list[Published]
) -> None:
    manager = SubscriptionManager()
    specs = dict(zip([*FIELDS, PYTHON_FIELD], (filter_.spec for filter_ in field_filters), strict=True))
    for name in FIELDS:
        manager.add_field(name, channel=CHANNEL, filter=Filter(specs[name]))

    def python_filter(data: Any, viewer: ConnectionContext, arguments: dict[str, Any]) -> bool:
        return allowed(specs[PYTHON_FIELD], _sources(data, viewer, arguments))

    manager.add_field(PYTHON_FIELD, channel=CHANNEL, filter=python_filter)

    for index, subscriber in enumerate(subscribed):
        query = f'subscription {{ {subscriber.field}(room: "{subscriber.room}") {{ n room }} }}'
        manager.subscribe(f"c{index}", "s", query, None, None, subscriber.context)

    expected: dict[int, list[int]] = {index: [] for index in range(len(subscribed))}
    serializations = 0
    for number, item in enumerate(published):
        manager.executor.publish_event(
            "e",
            CHANNEL,
            {**item.data, "n": number},
            tenant_id=item.tenant,
            user_id=item.target,
            global_event=item.global_event,
        )
        seen_by_group: set[tuple[str, str]] = set()
        for index, subscriber in enumerate(subscribed):
            sources = _sources(item.data, subscriber.context, {"room": subscriber.room})
            if in_scope(subscriber.context, item.tenant, item.target, item.global_event) and allowed(
                specs[subscriber.field], sources
            ):
                expected[index].append(number)
                if subscriber.field != PYTHON_FIELD:
                    seen_by_group.add((subscriber.field, subscriber.room))
        serializations += len(seen_by_group)

    for index in range(len(subscribed)):
        frames = manager.executor.drain_frames(f"c{index}")
        field = subscribed[index].field
        numbers = [decode(frame)["payload"]["data"][field]["n"] for frame in frames]
        assert numbers == expected[index], (subscribed[index], specs[subscribed[index].field])

    metrics = manager.executor.get_metrics()
    # Python-filtered subscriptions are grouped per context (the predicate reads it), so only the
    # compiled fields are counted here: one serialization per event and group that sees it.
    python_groups = metrics["payloads_serialized"] - serializations
    assert 0 <= python_groups <= len(published) * len(subscribed)
    if not any(subscriber.field == PYTHON_FIELD for subscriber in subscribed):
        assert metrics["payloads_serialized"] == serializations
    for index in range(len(subscribed)):
        manager.executor.close_connection(f"c{index}")


def _sources(data: Any, viewer: ConnectionContext, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"event": data, "context": viewer.filter_view(), "args": arguments}
