"""Custom scalars: built-in formats with a schema, and serializers for the application's types."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from fraiseql.subscriptions import ConfigurationError, PySubscriptionExecutor
from tests.conftest import decode

SDL = """
type Query { ok: Boolean }
scalar DateTime
scalar Date
scalar UUID
scalar Decimal
scalar Money
type Payment { at: DateTime day: Date ref: UUID amount: Decimal price: Money }
type Subscription { paid: Payment }
"""
QUERY = "subscription { paid { at day ref amount price } }"


def payload(value: Any, **options: Any) -> dict[str, Any]:
    executor = PySubscriptionExecutor(schema_sdl=SDL, **options)
    executor.register_subscription("c", "s", QUERY)
    executor.publish_event("e", "paid", value)
    message = decode(executor.next_event("s"))
    result: dict[str, Any] = message["payload"]
    return result


def test_python_values_reach_clients_in_standard_form() -> None:
    result = payload(
        {
            "at": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
            "day": datetime.date(2026, 1, 2),
            "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "amount": Decimal("12.50"),
            "price": {"any": ["json"]},
        }
    )
    assert result == {
        "data": {
            "paid": {
                "at": "2026-01-02T03:04:05+00:00",
                "day": "2026-01-02",
                "ref": "12345678-1234-5678-1234-567812345678",
                "amount": "12.50",
                "price": {"any": ["json"]},
            }
        }
    }


def test_malformed_values_of_built_in_scalars_are_field_errors() -> None:
    result = payload({"at": "tomorrow", "day": "2026-02-30", "ref": 5, "amount": "1,5", "price": 1})
    assert result["data"] == {"paid": {"at": None, "day": None, "ref": None, "amount": None, "price": 1}}
    assert [error["path"] for error in result["errors"]] == [
        ["paid", "at"],
        ["paid", "day"],
        ["paid", "ref"],
        ["paid", "amount"],
    ]
    assert result["errors"][0]["message"] == 'DateTime cannot represent value: "tomorrow"'


def test_serializers_convert_application_types_once_per_event() -> None:
    calls: list[Fraction] = []

    def money(value: Fraction) -> str:
        calls.append(value)
        return f"{float(value):.2f} EUR"

    executor = PySubscriptionExecutor(serializers={Fraction: money, Decimal: lambda d: f"D{d}"})
    for index in range(50):
        executor.register_subscription(f"c{index}", "s", "subscription { paid { price amount } }")
    executor.publish_event("e", "paid", {"price": Fraction(5, 2), "amount": Decimal("1.5")})
    assert calls == [Fraction(5, 2)], "once per event, not per subscriber"
    frame = decode(executor.next_event("s", connection_id="c7"))
    assert frame["payload"]["data"]["paid"] == {"price": "2.50 EUR", "amount": "D1.5"}


def test_serializer_failures_and_bad_tables() -> None:
    def broken(value: Fraction) -> str:
        raise RuntimeError("nope")

    executor = PySubscriptionExecutor(serializers={Fraction: broken})
    with pytest.raises(ValueError, match="the serializer for 'Fraction' raised"):
        executor.publish_event("e", "paid", {"price": Fraction(1, 3)})
    with pytest.raises(ConfigurationError, match="not callable"):
        PySubscriptionExecutor(serializers={Fraction: 3})  # type: ignore[dict-item]
    with pytest.raises(ConfigurationError, match="map types to callables"):
        PySubscriptionExecutor(serializers={"Fraction": str})  # type: ignore[dict-item]
