"""``--bus``: memory, Redis and PostgreSQL configurations (validated, passwords hidden)."""

from __future__ import annotations

import pytest

from fraiseql.demo import create_app, parse_bus


def test_memory_is_the_default() -> None:
    choice = parse_bus("memory")
    assert choice.kind == "memory"
    assert "within this server process" in choice.note


@pytest.mark.parametrize(
    ("url", "kind", "shown"),
    [
        ("redis://localhost:6379/0", "redis", "redis://localhost:6379/0"),
        ("rediss://u:pw@cache.example:6380", "redis", "rediss://u:***@cache.example:6380"),
        ("postgresql://app:pw@db/chat", "postgresql", "postgresql://app:***@db/chat"),
        ("postgres://db.example/chat", "postgresql", "postgres://db.example/chat"),
    ],
)
def test_external_buses_are_configured_but_delivery_stays_in_process(url: str, kind: str, shown: str) -> None:
    choice = parse_bus(url)
    assert choice.kind == kind
    assert choice.config.url == url
    assert choice.description == shown
    assert "still delivered in-process" in choice.note
    assert "pw" not in choice.note
    _, manager = create_app("starlette", url)
    assert manager.executor.bus_config.bus_type == kind


@pytest.mark.parametrize("bus", ["", "memry", "http://x", "redis://", "postgresql://", "redis:///0"])
def test_bad_buses_raise_value_error(bus: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        parse_bus(bus)


def test_unknown_framework() -> None:
    with pytest.raises(ValueError, match="framework"):
        create_app("flask")  # type: ignore[arg-type]
