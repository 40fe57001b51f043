"""Third-party clients run against the FastAPI integration and the native transport."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from fraiseql.subscriptions import SubscriptionConfig
from tests.protocol.harness import Integration, RunningServer, running_server

#: The JavaScript clients (graphql-ws, Apollo Client, urql) and their locked packages.
JS_DIR = Path(__file__).parent / "js"


def _js_packages_installed() -> bool:
    """Every dependency of ``js/package.json`` is in ``js/node_modules`` at its pinned version."""
    pinned: dict[str, str] = json.loads((JS_DIR / "package.json").read_text())["dependencies"]
    for name, version in pinned.items():
        manifest = JS_DIR / "node_modules" / name / "package.json"
        if not manifest.is_file() or json.loads(manifest.read_text()).get("version") != version:
            return False
    return True


@pytest.fixture(scope="session")
def node() -> str:
    """The ``node`` executable, with ``tests/clients/js`` installed (``npm ci``) if it is not."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the JavaScript client tests need Node.js >= 20")
    if not _js_packages_installed():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: cannot install tests/clients/js"
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, capture_output=True, timeout=300
        )
    return node


@pytest.fixture(params=["fastapi", "native"])
def client_integration(request: pytest.FixtureRequest) -> Integration:
    """Where the clients connect: the FastAPI integration, and the native transport."""
    integration: Integration = request.param
    return integration


@pytest.fixture
async def served(client_integration: Integration) -> AsyncIterator[RunningServer]:
    async with running_server(client_integration) as server:
        yield server


@pytest.fixture
async def make_ending_server(
    client_integration: Integration,
) -> AsyncIterator[Callable[[], Awaitable[RunningServer]]]:
    """Starts servers whose failed resolvers end their subscriptions (``end_stream``)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start() -> RunningServer:
            config = SubscriptionConfig(resolver_errors="end_stream")
            return await stack.enter_async_context(running_server(client_integration, config))

        yield start
