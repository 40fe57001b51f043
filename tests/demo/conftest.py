"""A real uvicorn server on loopback, in a thread, for each framework."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn

from fraiseql.demo import create_app
from fraiseql.demo.app import Framework
from fraiseql.integrations.uvicorn_server import SubscriptionServer
from fraiseql.subscriptions.manager import SubscriptionConfig
from fraiseql.subscriptions.native import NativeServer

FRAMEWORKS: tuple[Framework, ...] = ("fastapi", "starlette")


@dataclass(frozen=True)
class HTTPReply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class LiveServer:
    """``create_app(framework)`` served by :class:`SubscriptionServer` on 127.0.0.1 (any free port);
    with ``native``, graphql-transport-ws on the native transport (``manager.serve()``) on a port
    of its own, as ``fraiseql-subscriptions demo --transport native`` runs it."""

    def __init__(
        self,
        framework: Framework,
        bus: str = "memory",
        port: int = 0,
        config: SubscriptionConfig | None = None,
        auth_jwt_secret: str | None = None,
        native: bool = False,
    ) -> None:
        self.framework = framework
        self.native_port = _free_port() if native else None
        self.app, self.manager = create_app(
            framework, bus, config=config, auth_jwt_secret=auth_jwt_secret, native_ws_port=self.native_port
        )
        served = uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        self.server = SubscriptionServer(served, self.manager)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{framework}", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported by stop()
            self._error = error

    async def _serve(self) -> None:
        if self.native_port is None:
            await self.server.serve()
            return
        native = await NativeServer.start(self.manager, "127.0.0.1", self.native_port, "/graphql")
        forever = asyncio.ensure_future(native.serve_forever())
        try:
            await self.server.serve()  # its shutdown shuts the manager down, native server included
        finally:
            forever.cancel()
            await asyncio.gather(forever, return_exceptions=True)

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {self.framework} server did not start: {self._error!r}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        assert not self._thread.is_alive(), "the server did not stop"
        if self._error is not None:
            raise self._error

    @property
    def port(self) -> int:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.native_port or self.port}/graphql"

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        raw: bytes | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTTPReply:
        """A blocking HTTP request (use ``asyncio.to_thread`` from async tests); ``token`` is
        sent as ``Authorization: Bearer``. A body goes as ``Content-Type: application/json``
        unless ``headers`` name another."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None and not request.has_header("Content-type"):
            request.add_header("Content-Type", "application/json")
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return HTTPReply(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as error:
            with error:
                return HTTPReply(error.code, dict(error.headers.items()), error.read())


@pytest.fixture(scope="module", params=FRAMEWORKS)
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    server = LiveServer(request.param).start()
    yield server
    server.stop()
