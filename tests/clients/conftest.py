"""Third-party clients run against the FastAPI integration."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.protocol.harness import RunningServer, running_server


@pytest.fixture
async def fastapi_server() -> AsyncIterator[RunningServer]:
    async with running_server("fastapi") as server:
        yield server
