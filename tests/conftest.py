from __future__ import annotations

import json
from typing import Any

import pytest

from fraiseql.subscriptions import PySubscriptionExecutor, _logging, _loop_bridge, native
from fraiseql.subscriptions.protocols.graphql_transport_ws import handlers


@pytest.fixture(autouse=True)
def fresh_log_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no log record held back by an earlier test (records that repeat are
    logged once per kind and interval)."""
    for module, name in [
        (_loop_bridge, "_errors"),
        (_loop_bridge, "_timeouts"),
        (_loop_bridge, "_slow"),
        (handlers, "_client_mistakes"),
        (native, "_client_mistakes"),
    ]:
        monkeypatch.setattr(module, name, _logging.EveryInterval())


@pytest.fixture
def executor() -> PySubscriptionExecutor:
    return PySubscriptionExecutor()


def decode(frame: bytes | None) -> dict[str, Any]:
    """A frame as a dict (fails the test when there is no frame)."""
    assert frame is not None, "expected a frame"
    message = json.loads(frame)
    assert isinstance(message, dict)
    return message
