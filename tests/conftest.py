from __future__ import annotations

import json
from typing import Any

import pytest

from fraiseql.subscriptions import PySubscriptionExecutor, _logging, _loop_bridge
from fraiseql.subscriptions.protocols.graphql_transport_ws import host

#: The fixtures whose value names the transport a test runs against (tests/protocol, tests/clients).
_TRANSPORT_PARAMS = ("integration", "client_integration")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``@pytest.mark.native_xfail(reason=..., strict=True)``: an xfail for the native transport
    only (a difference the native server does not close yet), the test unchanged elsewhere.
    Strict unless the difference shows only sometimes (a race), which the reason then says."""
    for item in items:
        marker = item.get_closest_marker("native_xfail")
        callspec = getattr(item, "callspec", None)
        if marker is None or callspec is None:
            continue
        if "native" not in (callspec.params.get(name) for name in _TRANSPORT_PARAMS):
            continue
        strict = marker.kwargs.get("strict", True)
        item.add_marker(pytest.mark.xfail(strict=strict, reason=marker.kwargs["reason"]))


@pytest.fixture(autouse=True)
def fresh_log_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no log record held back by an earlier test (records that repeat are
    logged once per kind and interval)."""
    for module, name in [
        (_loop_bridge, "_errors"),
        (_loop_bridge, "_timeouts"),
        (_loop_bridge, "_slow"),
        (host, "_client_mistakes"),
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
