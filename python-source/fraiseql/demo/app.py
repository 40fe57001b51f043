"""The demo as an ASGI application, on FastAPI or on Starlette.

Both frameworks get the same endpoints (thin wrappers around :class:`ChatBoard`); only the
WebSocket route differs, each coming from its ``fraiseql.integrations`` module. With a JWT secret
the room endpoints check the request's ``Authorization: Bearer`` header before anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from fraiseql.demo._board import (
    MAX_BODY_BYTES,
    SCHEMA_SDL,
    ChatBoard,
    Reply,
    StaticFile,
    content_type_error,
    load_static,
    parse_bus,
)
from fraiseql.subscriptions.manager import SubscriptionConfig, SubscriptionManager
from fraiseql.subscriptions.metrics import metrics_app

__all__ = ["Framework", "create_app"]

logger = logging.getLogger("fraiseql.demo")

Framework = Literal["fastapi", "starlette"]
Endpoint = Callable[[Request], Awaitable[Response]]

_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
}


def _respond(reply: Reply, extra: dict[str, str] | None = None) -> Response:
    headers = {**_COMMON_HEADERS, **reply.headers, **(extra or {})}
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type, headers=headers)


async def _read_body(request: Request) -> bytes | None:
    """The body, or ``None`` when it is larger than the limit (read no further than that)."""
    declared = request.headers.get("content-length", "").strip()
    # ASCII digits only ("²".isdigit() is true), and no int() of a thousand-digit number.
    digits = declared.lstrip("0")
    if declared.isascii() and declared.isdigit() and (len(digits) > 9 or int(digits or "0") > MAX_BODY_BYTES):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _pointed_at_native(
    static: dict[str, StaticFile], port: int
) -> tuple[dict[str, StaticFile], dict[str, str]]:
    """The page told to connect to the native transport's port (a meta tag app.js reads), and
    its Content-Security-Policy allowing that port."""
    page = static["index.html"]
    marker = b'<meta charset="utf-8">'
    tag = f'\n  <meta name="fraiseql-graphql-ws-port" content="{port}">'.encode()
    body = page.body.replace(marker, marker + tag, 1)
    headers = dict(_PAGE_HEADERS)
    headers["Content-Security-Policy"] = headers["Content-Security-Policy"].replace(
        "connect-src 'self'", f"connect-src 'self' ws://*:{port} wss://*:{port}"
    )
    return {**static, "index.html": StaticFile(page.name, body, page.media_type)}, headers


def _endpoints(
    board: ChatBoard, static: dict[str, StaticFile], page_headers: dict[str, str]
) -> list[tuple[str, str, Endpoint]]:
    """``(method, path, endpoint)`` for every HTTP route, shared by both frameworks."""

    def serve_file(name: str) -> Endpoint:
        file = static[name]
        extra = page_headers if name.endswith(".html") else None

        async def endpoint(request: Request) -> Response:
            return _respond(Reply(200, file.body, file.media_type), extra)

        return endpoint

    async def schema(request: Request) -> Response:
        return _respond(Reply(200, SCHEMA_SDL.encode(), "text/plain; charset=utf-8"))

    async def rooms(request: Request) -> Response:
        caller = board.authorize(request.headers.get("authorization"))
        if isinstance(caller, Reply):
            return _respond(caller)
        return _respond(board.rooms_reply(caller))

    async def info(request: Request) -> Response:
        return _respond(board.info_reply())

    async def history(request: Request) -> Response:
        caller = board.authorize(request.headers.get("authorization"))
        if isinstance(caller, Reply):
            return _respond(caller)
        return _respond(board.history_reply(str(request.path_params["room"]), caller))

    async def post_message(request: Request) -> Response:
        # Who is asking comes first: without a valid token the body is not even read.
        caller = board.authorize(request.headers.get("authorization"))
        if isinstance(caller, Reply):
            return _respond(caller)
        wrong_type = content_type_error(request.headers.get("content-type"))
        if wrong_type is not None:
            return _respond(wrong_type)
        try:
            body = await _read_body(request)
        except ClientDisconnect:
            return _respond(Reply.error(400, "the request body was cut short"))
        if body is None:
            return _respond(Reply.error(413, f"request body larger than {MAX_BODY_BYTES} bytes"))
        return _respond(await board.post_message(str(request.path_params["room"]), body, caller))

    return [
        ("GET", "/", serve_file("index.html")),
        ("GET", "/static/app.js", serve_file("app.js")),
        ("GET", "/static/style.css", serve_file("style.css")),
        ("GET", "/schema.graphql", schema),
        ("GET", "/info", info),
        ("GET", "/rooms", rooms),
        ("GET", "/rooms/{room}/messages", history),
        ("POST", "/rooms/{room}/messages", post_message),
    ]


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - only registered for HTTPException
        raise exc
    return _respond(Reply.error(exc.status_code, str(exc.detail)), dict(exc.headers or {}))


async def _internal_error(request: Request, exc: Exception) -> Response:
    """A bug's 500, in JSON like every other answer; what went wrong stays in the server's log
    (Starlette logs the exception after this answer), never in the answer."""
    return _respond(Reply.error(500, "internal server error"))


def create_app(
    framework: Framework = "fastapi",
    bus: str = "memory",
    *,
    config: SubscriptionConfig | None = None,
    auth_jwt_secret: str | None = None,
    native_ws_port: int | None = None,
) -> tuple[Starlette, SubscriptionManager]:
    """The live chat board: the page at ``/``, the API, graphql-transport-ws at ``/graphql`` and
    Prometheus metrics at ``/metrics``.

    ``native_ws_port``: the page connects to graphql-transport-ws on that port of its host (the
    native transport, ``manager.serve()``, which the caller runs) instead of this app's ``/graphql``.

    ``bus`` is ``"memory"``, a ``redis://`` URL or a ``postgresql://`` DSN (``ValueError`` if
    malformed). ``auth_jwt_secret`` (at least 32 bytes, else ``ValueError``; needs PyJWT) turns
    on authentication: HS256 tokens with a ``tenant_id`` claim, in ``connection_init`` (or the
    upgrade's ``Authorization: Bearer`` header) and in the ``Authorization`` header of the room
    endpoints; every tenant then has its own rooms, history and messages. Returns the
    application and its :class:`SubscriptionManager`; serve them with
    :func:`fraiseql.integrations.uvicorn_server.serve` so that shutdown closes sockets with 1001.
    """
    if framework not in ("fastapi", "starlette"):
        raise ValueError(f"unknown framework {framework!r}: use 'fastapi' or 'starlette'")
    choice = parse_bus(bus)
    board = ChatBoard(choice, framework, config=config, auth_jwt_secret=auth_jwt_secret)
    if choice.kind != "memory":
        logger.warning("%s", choice.note)
    static = load_static()
    page_headers = _PAGE_HEADERS
    if native_ws_port is not None:
        static, page_headers = _pointed_at_native(static, native_ws_port)
    endpoints = _endpoints(board, static, page_headers)
    handlers: dict[int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]] = {
        HTTPException: _http_error,
        Exception: _internal_error,
    }
    app: Starlette
    if framework == "fastapi":
        from fastapi import FastAPI

        from fraiseql.integrations.fastapi import SubscriptionRouterFactory

        api = FastAPI(
            title="FraiseQL live chat",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
            exception_handlers=handlers,
        )
        for method, path, endpoint in endpoints:
            methods = [method, "HEAD"] if method == "GET" else [method]
            api.add_api_route(path, endpoint, methods=methods, include_in_schema=False)
        api.include_router(SubscriptionRouterFactory.create(board.manager, path="/graphql"))
        app = api
    else:
        from fraiseql.integrations.starlette import create_subscription_app

        routes = [Route(path, endpoint, methods=[method]) for method, path, endpoint in endpoints]
        app = create_subscription_app(
            Starlette(routes=routes, exception_handlers=handlers), board.manager, path="/graphql"
        )
    # Prometheus metrics, the way docs/observability.md tells applications to expose them.
    app.router.routes.append(Route("/metrics", metrics_app(board.manager)))
    app.state.board = board
    return app, board.manager
