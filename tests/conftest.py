from __future__ import annotations

import json
from typing import Any

import pytest

from fraiseql.subscriptions import PySubscriptionExecutor


@pytest.fixture
def executor() -> PySubscriptionExecutor:
    return PySubscriptionExecutor()


def decode(frame: bytes | None) -> dict[str, Any]:
    """A frame as a dict (fails the test when there is no frame)."""
    assert frame is not None, "expected a frame"
    message = json.loads(frame)
    assert isinstance(message, dict)
    return message
