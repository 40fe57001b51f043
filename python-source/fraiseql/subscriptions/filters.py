"""Row-level filters: which events a subscriber may see, as a predicate over the event's fields,
the connection's context and the subscription's arguments.

A filter is compiled once, when its field is declared, and evaluated in Rust for every event and
subscriber that the tenant and user rules let through, without calling Python; subscriptions
that share a document still share one serialization of each event they may see::

    from fraiseql.subscriptions.filters import arg, context, event

    @manager.subscription(
        channel="room:{room}",
        filter=(event("room") == arg("room")) & (event("author_id") != context("user_id")),
    )
    async def messageAdded(event: dict, *, room: str) -> Message: ...

Operands: ``event("a.b")`` (the event's data; dotted paths go into objects, a number segment
into a list), ``context("user_id")`` (``user_id``, ``tenant_id``, ``scopes``, ``roles``, and
``data.<key>`` for what ``on_connect`` returned beside them), ``arg("room")`` (the root field's
coerced arguments), and plain values. Operators: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``,
``.is_in(...)``, ``.exists()``, combined with ``&``, ``|``, ``~`` (or ``all_of``, ``any_of``,
``not_``). Comparisons fail closed: a missing path is ``None``, values of different kinds are not
ordered; an integer equals its decimal text (``7 == "7"``), as user and tenant ids do.

A plain Python callable ``filter(event, context, arguments) -> bool`` is accepted too, as a slower
escape hatch: it runs in Python once per event and distinct (context, arguments), like a
resolver that takes ``context``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["Filter", "Operand", "all_of", "any_of", "arg", "context", "event", "not_", "value"]


class Filter:
    """A predicate; ``spec`` is what the engine compiles."""

    __slots__ = ("spec",)

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def __and__(self, other: Filter) -> Filter:
        return all_of(self, other)

    def __or__(self, other: Filter) -> Filter:
        return any_of(self, other)

    def __invert__(self) -> Filter:
        return not_(self)

    def __bool__(self) -> bool:
        raise TypeError(
            "a filter is evaluated by the engine: combine filters with &, | and ~, not and/or/not"
        )

    def __repr__(self) -> str:
        return f"Filter({self.spec!r})"


def _operand(side: object) -> object:
    return side.spec if isinstance(side, Operand) else {"value": side}


class Operand:
    """Where a value comes from: the event, the context, the arguments, or a plain value."""

    __slots__ = ("spec",)

    def __init__(self, spec: object) -> None:
        self.spec = spec

    def _compare(self, operator: str, other: object) -> Filter:
        return Filter({operator: [self.spec, _operand(other)]})

    def __eq__(self, other: object) -> Filter:  # type: ignore[override]
        return self._compare("eq", other)

    def __ne__(self, other: object) -> Filter:  # type: ignore[override]
        return self._compare("ne", other)

    def __lt__(self, other: object) -> Filter:
        return self._compare("lt", other)

    def __le__(self, other: object) -> Filter:
        return self._compare("le", other)

    def __gt__(self, other: object) -> Filter:
        return self._compare("gt", other)

    def __ge__(self, other: object) -> Filter:
        return self._compare("ge", other)

    __hash__ = None  # type: ignore[assignment]

    def is_in(self, values: Operand | Sequence[object]) -> Filter:
        """True when this value is one of ``values`` (a list, or an operand holding one)."""
        return Filter(
            {"in": [self.spec, values.spec if isinstance(values, Operand) else {"value": list(values)}]}
        )

    def exists(self) -> Filter:
        """True when this value is present and not null."""
        return Filter({"exists": [self.spec]})

    def __repr__(self) -> str:
        return f"Operand({self.spec!r})"


def _path(source: str, path: str) -> Operand:
    if not path or any(not segment for segment in path.split(".")):
        raise ValueError(f"invalid path {path!r}: dotted names, e.g. 'author.id'")
    return Operand(f"{source}.{path}")


def event(path: str) -> Operand:
    """A field of the event's data (``"author.id"``)."""
    return _path("event", path)


def context(path: str) -> Operand:
    """A field of the connection's context: ``user_id``, ``tenant_id``, ``scopes``, ``roles``,
    ``data.<key>``."""
    return _path("context", path)


def arg(path: str) -> Operand:
    """An argument of the subscription's root field."""
    return _path("args", path)


def value(plain: object) -> Operand:
    """A plain value (plain values are taken as such on the right of a comparison already)."""
    return Operand({"value": plain})


def all_of(*filters: Filter) -> Filter:
    if not filters:
        raise ValueError("all_of needs at least one filter")
    return Filter({"and": [part.spec for part in filters]})


def any_of(*filters: Filter) -> Filter:
    if not filters:
        raise ValueError("any_of needs at least one filter")
    return Filter({"or": [part.spec for part in filters]})


def not_(filter_: Filter) -> Filter:
    return Filter({"not": filter_.spec})
