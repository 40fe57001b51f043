"""Exact conversion of Python values to JSON (event data, variables, resolver results)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from fraiseql.subscriptions import PySubscriptionExecutor
from tests.conftest import decode


class Color(enum.Enum):
    RED = "red"


class Status(str, enum.Enum):
    ACTIVE = "active"


class Level(enum.IntEnum):
    HIGH = 3


@dataclass
class Point:
    x: int
    y: int
    tags: list[str] = field(default_factory=list)


def roundtrip(value: Any) -> Any:
    executor = PySubscriptionExecutor()
    executor.register_subscription("c", "s", "subscription { v }")
    executor.publish_event("e", "v", value)
    return decode(executor.next_event("s"))["payload"]["data"]["v"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        (0, 0),
        (-(2**63), -(2**63)),
        (2**64 - 1, 2**64 - 1),
        (1.5, 1.5),
        ('héllo "quoted" \n', 'héllo "quoted" \n'),
        (None, None),
        ((1, "a"), [1, "a"]),
        ([True, 1, 1.0], [True, 1, 1.0]),
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc), "2026-01-02T03:04:05+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (dt.time(3, 4, 5), "03:04:05"),
        (uuid.UUID("12345678-1234-5678-1234-567812345678"), "12345678-1234-5678-1234-567812345678"),
        (Decimal("12.50"), "12.50"),
        (Color.RED, "RED"),
        (Status.ACTIVE, "ACTIVE"),
        (Level.HIGH, "HIGH"),
        (Point(1, 2, ["t"]), {"x": 1, "y": 2, "tags": ["t"], "__typename": "Point"}),
        (OrderedDict([("b", 1), ("a", 2)]), {"b": 1, "a": 2}),
    ],
)
def test_values_convert_exactly(value: object, expected: object) -> None:
    result = roundtrip(value)
    assert result == expected
    assert type(result) is type(expected)


def test_bool_is_not_an_int() -> None:
    assert roundtrip({"flag": True}) == {"flag": True}
    assert roundtrip([1, True]) == [1, True]


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (2**64, ValueError, r"integer 18446744073709551616 does not fit in 64 bits .* at data"),
        (float("nan"), ValueError, "float nan is not valid JSON"),
        ({"a": [1, float("inf")]}, ValueError, r"float inf is not valid JSON .* at data\[\"a\"\]\[1\]"),
        (Decimal("NaN"), ValueError, "non-finite Decimal"),
        ({"tags": {1, 2}}, TypeError, r"unsupported type 'set' at data\[\"tags\"\]"),
        ({1: "a"}, TypeError, "dict keys must be str, not 'int'"),
        (b"bytes", TypeError, "unsupported type 'bytes' at data"),
        (object(), TypeError, "unsupported type 'object' at data"),
    ],
)
def test_refused_values_name_the_type_and_place(value: object, error: type[Exception], match: str) -> None:
    executor = PySubscriptionExecutor()
    with pytest.raises(error, match=match):
        executor.publish_event("e", "v", value)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    value: Any = []
    for _ in range(10_000):
        value = [value]
    with pytest.raises(ValueError, match="nesting deeper than"):
        PySubscriptionExecutor().publish_event("e", "v", value)


def test_variables_convert_too() -> None:
    executor = PySubscriptionExecutor()
    with pytest.raises(ValueError, match=r"at variables\[\"x\"\]"):
        executor.register_subscription(
            "c", "s", "subscription($x: Float) { v(x: $x) }", variables={"x": float("nan")}
        )
