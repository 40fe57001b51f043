"""Third-party clients run against the FastAPI integration."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from fraiseql.subscriptions import SubscriptionConfig
from tests.protocol.harness import RunningServer, running_server


@pytest.fixture
async def fastapi_server() -> AsyncIterator[RunningServer]:
    async with running_server("fastapi") as server:
        yield server


@pytest.fixture
async def make_ending_server() -> AsyncIterator[Callable[[], Awaitable[RunningServer]]]:
    """Starts FastAPI servers whose failed resolvers end their subscriptions (``end_stream``)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start() -> RunningServer:
            config = SubscriptionConfig(resolver_errors="end_stream")
            return await stack.enter_async_context(running_server("fastapi", config))

        yield start
