"""Fixtures: the same protocol suite runs against every integration.

``make_server(config=None, **settings)`` starts a server for the current integration (settings
are :class:`SubscriptionConfig` fields, e.g. ``connection_init_timeout=0.2``); ``server`` is one
with the default configuration. Everything started is stopped cleanly at teardown.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

import pytest

from fraiseql.subscriptions.manager import SubscriptionConfig
from tests.protocol.harness import INTEGRATIONS, Integration, RunningServer, running_server


class ServerFactory(Protocol):
    async def __call__(
        self, config: SubscriptionConfig | None = None, *, subscription_server: bool = False, **settings: Any
    ) -> RunningServer: ...


@pytest.fixture(params=INTEGRATIONS)
def integration(request: pytest.FixtureRequest) -> Integration:
    value: Integration = request.param
    return value


@pytest.fixture
async def make_server(integration: Integration) -> AsyncIterator[ServerFactory]:
    async with contextlib.AsyncExitStack() as stack:

        async def factory(
            config: SubscriptionConfig | None = None, *, subscription_server: bool = False, **settings: Any
        ) -> RunningServer:
            if config is None:
                config = SubscriptionConfig(**settings)
            else:
                assert not settings, "pass either a config or settings"
            return await stack.enter_async_context(
                running_server(integration, config, subscription_server=subscription_server)
            )

        yield factory


@pytest.fixture
async def server(make_server: ServerFactory) -> RunningServer:
    return await make_server()
