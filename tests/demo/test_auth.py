"""The demo with ``auth_jwt_secret``: HS256 tokens on the WebSocket and the API, one chat per tenant.

Real uvicorn servers on loopback, FastAPI and Starlette; the tokens come from ``issue_token``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fraiseql.demo import create_app
from fraiseql.subscriptions.jwt_auth import JWTAuthenticator, issue_token
from fraiseql.subscriptions.manager import SubscriptionConfig
from tests.demo.conftest import FRAMEWORKS, HTTPReply, LiveServer
from tests.demo.test_websocket import QUERY, receive

SECRET = "demo-secret-for-tests-0123456789abcdef"
OTHER_SECRET = "another-secret-nobody-gave-the-demo-0123"


def token(user: str = "ann", tenant: str | None = "acme", **claims: Any) -> str:
    return issue_token(SECRET, user_id=user, tenant_id=tenant, **claims)


def unsigned_token(claims: dict[str, Any]) -> str:
    """A token with ``alg: none`` (no signature): what an attacker would try."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def new_room() -> str:
    return f"auth-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module", params=FRAMEWORKS)
def auth_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    server = LiveServer(request.param, auth_jwt_secret=SECRET).start()
    yield server
    server.stop()


@asynccontextmanager
async def graphql_ws(
    url: str, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> AsyncIterator[ClientConnection]:
    """An acknowledged graphql-transport-ws connection (``connection_init`` carries ``payload``)."""
    async with connect(
        url, subprotocols=[Subprotocol("graphql-transport-ws")], additional_headers=headers
    ) as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload
        await ws.send(json.dumps(init))
        assert await receive(ws) == {"type": "connection_ack"}
        yield ws


async def refused_with(url: str, payload: dict[str, Any] | None) -> tuple[int, str]:
    """The close code and reason a ``connection_init`` with ``payload`` gets."""
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def subscribe(ws: ClientConnection, subscription_id: str, room: str) -> None:
    payload = {"query": QUERY, "variables": {"room": room}}
    await ws.send(json.dumps({"id": subscription_id, "type": "subscribe", "payload": payload}))
    # Messages are read in order: once the pong is back, the subscription is registered.
    await ws.send(json.dumps({"type": "ping"}))
    assert await receive(ws) == {"type": "pong"}


async def post(server: LiveServer, room: str, text: str, bearer: str | None, **body: Any) -> HTTPReply:
    return await asyncio.to_thread(
        server.request, "POST", f"/rooms/{room}/messages", {"text": text, **body}, token=bearer
    )


async def posted(server: LiveServer, room: str, text: str, bearer: str) -> dict[str, Any]:
    reply = await post(server, room, text, bearer)
    assert reply.status == 201, reply.body
    message: dict[str, Any] = reply.json()
    return message


def assert_unauthorized(reply: HTTPReply, *secrets: str) -> str:
    """A 401 with a Bearer challenge and a JSON error echoing none of ``secrets``; its message."""
    assert reply.status == 401
    assert reply.headers["www-authenticate"].startswith("Bearer")
    assert reply.headers["content-type"] == "application/json"
    for secret in secrets:
        assert secret not in reply.body.decode()
        assert all(secret not in value for value in reply.headers.values())
    error: str = reply.json()["error"]
    return error


# -- the HTTP API -------------------------------------------------------------------------------


def test_info_says_whether_a_token_is_needed(auth_server: LiveServer, live_server: LiveServer) -> None:
    assert auth_server.request("GET", "/info").json()["auth"] == "jwt"
    assert live_server.request("GET", "/info").json()["auth"] is None


@pytest.mark.parametrize("authorization", [None, "", "Bearer", "Bearer  ", "Basic YW5uOnB3", "Token abc"])
def test_a_post_without_a_bearer_token_is_401(auth_server: LiveServer, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {"text": "hi", "author": "ann"}
    reply = auth_server.request("POST", f"/rooms/{new_room()}/messages", body, headers=headers)
    assert "Authorization: Bearer" in assert_unauthorized(reply)
    # RFC 6750: no error code when no token came.
    assert "error=" not in reply.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (issue_token(OTHER_SECRET, user_id="ann", tenant_id="acme"), "bad signature"),
        (token(lifetime=-3600), "token expired"),
        (jwt.encode({"sub": "ann", "tenant_id": "acme"}, SECRET, algorithm="HS256"), "claim is missing"),
        (unsigned_token({"sub": "ann", "tenant_id": "acme", "exp": 2**40}), "not allowed"),
        ("not-a-jwt", "malformed token"),
    ],
    ids=["bad-signature", "expired", "no-exp", "alg-none", "malformed"],
)
def test_a_refused_token_is_401_and_never_echoed(auth_server: LiveServer, bad: str, reason: str) -> None:
    room = new_room()
    reply = auth_server.request("POST", f"/rooms/{room}/messages", {"text": "hi"}, token=bad)
    error = assert_unauthorized(reply, bad, SECRET)
    assert error.startswith("invalid token: ")
    assert reason in error
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]
    # Nothing was kept.
    history = auth_server.request("GET", f"/rooms/{room}/messages", token=token())
    assert history.json()["messages"] == []


def test_history_and_rooms_need_a_token_too(auth_server: LiveServer) -> None:
    for path in ("/rooms", "/rooms/lobby/messages"):
        assert_unauthorized(auth_server.request("GET", path))
        assert_unauthorized(auth_server.request("GET", path, token=token(lifetime=-3600)))
        assert auth_server.request("GET", path, token=token()).status == 200
    # The page, its assets, the schema and /info stay public: the page needs them to ask.
    for path in ("/", "/static/app.js", "/schema.graphql", "/info"):
        assert auth_server.request("GET", path).status == 200


def test_a_token_without_a_tenant_or_user_is_403(auth_server: LiveServer) -> None:
    reply = auth_server.request(
        "POST", f"/rooms/{new_room()}/messages", {"text": "x"}, token=token(tenant=None)
    )
    assert (reply.status, reply.json()) == (403, {"error": "the token has no tenant_id claim"})
    assert auth_server.request("GET", "/rooms", token=token(tenant=None)).status == 403
    # Nor can a token without a user post: its message would have no author.
    nameless = auth_server.request(
        "POST", f"/rooms/{new_room()}/messages", {"text": "x"}, token=token(user="")
    )
    assert (nameless.status, nameless.json()) == (
        403,
        {"error": "the token names no user (claim sub or name)"},
    )


def test_the_author_comes_from_the_token(auth_server: LiveServer) -> None:
    room = new_room()
    body = {"text": "it was me", "author": "mallory"}
    as_sub = auth_server.request("POST", f"/rooms/{room}/messages", body, token=token("ann"))
    assert as_sub.status == 201
    assert as_sub.json()["author"] == "ann"
    named = auth_server.request(
        "POST", f"/rooms/{room}/messages", {"text": "hi"}, token=token("u1", name="Ann")
    )
    assert named.status == 201
    assert named.json()["author"] == "Ann"
    # The rest of the message is validated as without authentication.
    empty = auth_server.request("POST", f"/rooms/{room}/messages", {"text": ""}, token=token())
    assert empty.status == 422
    assert [detail["field"] for detail in empty.json()["details"]] == ["text"]


def test_history_and_rooms_are_per_tenant(auth_server: LiveServer) -> None:
    room, acme_only = new_room(), new_room()
    acme, globex = token("ann", "acme"), token("bob", "globex")
    for text, bearer in (("acme 1", acme), ("globex 1", globex), ("acme 2", acme)):
        assert (
            auth_server.request("POST", f"/rooms/{room}/messages", {"text": text}, token=bearer).status == 201
        )
    assert (
        auth_server.request("POST", f"/rooms/{acme_only}/messages", {"text": "x"}, token=acme).status == 201
    )

    def texts(bearer: str) -> list[str]:
        reply = auth_server.request("GET", f"/rooms/{room}/messages", token=bearer)
        return [message["text"] for message in reply.json()["messages"]]

    assert texts(acme) == ["acme 1", "acme 2"]
    assert texts(globex) == ["globex 1"]
    assert texts(token("cyd", "initech")) == []
    acme_rooms = auth_server.request("GET", "/rooms", token=acme).json()["rooms"]
    globex_rooms = auth_server.request("GET", "/rooms", token=globex).json()["rooms"]
    assert {room, acme_only, "lobby"} <= set(acme_rooms)
    assert room in globex_rooms
    assert acme_only not in globex_rooms
    assert "lobby" in globex_rooms


# -- the WebSocket ------------------------------------------------------------------------------


async def test_a_subscriber_gets_its_tenants_messages(auth_server: LiveServer) -> None:
    room = new_room()
    async with graphql_ws(auth_server.ws_url, {"token": token("bob", "acme")}) as ws:
        await subscribe(ws, "s", room)
        message = await posted(auth_server, room, "hello acme", token("ann", "acme"))
        assert message["author"] == "ann"
        assert await receive(ws) == {
            "id": "s",
            "type": "next",
            "payload": {"data": {"messageAdded": message}},
        }


async def test_two_tenants_with_the_same_room_name_see_only_their_own(auth_server: LiveServer) -> None:
    room = new_room()
    acme, globex = token("ann", "acme"), token("bob", "globex")
    async with (
        graphql_ws(auth_server.ws_url, {"token": acme}) as acme_ws,
        graphql_ws(auth_server.ws_url, {"token": globex}) as globex_ws,
    ):
        await subscribe(acme_ws, "a", room)
        await subscribe(globex_ws, "g", room)
        for n in range(3):
            # Each tenant's message is posted before the other's: had one leaked, it would come first.
            to_globex = await posted(auth_server, room, f"globex {n}", globex)
            to_acme = await posted(auth_server, room, f"acme {n}", acme)
            assert (await receive(acme_ws))["payload"]["data"]["messageAdded"] == to_acme
            assert (await receive(globex_ws))["payload"]["data"]["messageAdded"] == to_globex
        # A last round-trip on each socket: nothing else was queued for either.
        for ws in (acme_ws, globex_ws):
            await ws.send(json.dumps({"type": "ping"}))
            assert await receive(ws) == {"type": "pong"}


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "Forbidden: no token"),
        ({}, "Forbidden: no token"),
        (
            {"token": issue_token(OTHER_SECRET, user_id="ann", tenant_id="acme")},
            "Forbidden: invalid token: bad signature",
        ),
        ({"token": token(lifetime=-3600)}, "Forbidden: invalid token: token expired"),
        ({"token": token(tenant=None)}, "Forbidden: the token has no tenant_id claim"),
    ],
    ids=["no-payload", "empty-payload", "bad-signature", "expired", "no-tenant"],
)
async def test_connection_init_without_a_valid_token_closes_4403(
    auth_server: LiveServer, payload: dict[str, Any] | None, reason: str
) -> None:
    assert await refused_with(auth_server.ws_url, payload) == (4403, reason)


async def test_a_bearer_header_on_the_upgrade_request_works(auth_server: LiveServer) -> None:
    room = new_room()
    headers = {"Authorization": f"Bearer {token('bob', 'acme')}"}
    async with graphql_ws(auth_server.ws_url, headers=headers) as ws:
        await subscribe(ws, "h", room)
        await posted(auth_server, room, "to globex", token("cyd", "globex"))
        mine = await posted(auth_server, room, "to acme", token("ann", "acme"))
        assert (await receive(ws))["payload"]["data"]["messageAdded"] == mine


async def test_a_token_in_the_url_is_not_accepted(auth_server: LiveServer) -> None:
    # URLs end up in access logs: the demo reads tokens from connection_init and headers only.
    url = f"{auth_server.ws_url}?token={token()}"
    assert await refused_with(url, {}) == (4403, "Forbidden: no token")


async def test_an_integer_tenant_is_a_tenant_like_any_other(auth_server: LiveServer) -> None:
    room = new_room()
    numeric = jwt.encode({"sub": "ann", "tenant_id": 42, "exp": 2**40}, SECRET, algorithm="HS256")
    async with graphql_ws(auth_server.ws_url, {"token": numeric}) as ws:
        await subscribe(ws, "n", room)
        await posted(auth_server, room, "to acme", token("bob", "acme"))
        mine = await posted(auth_server, room, "to 42", numeric)
        assert (await receive(ws))["payload"]["data"]["messageAdded"] == mine
    history = auth_server.request("GET", f"/rooms/{room}/messages", token=token("cyd", "42"))
    assert [message["text"] for message in history.json()["messages"]] == ["to 42"]


# -- without a secret, and the configuration ------------------------------------------------------


async def test_without_a_secret_no_token_is_needed(live_server: LiveServer) -> None:
    room = new_room()
    async with graphql_ws(live_server.ws_url) as ws:
        await subscribe(ws, "s", room)
        # A token, when sent anyway, changes nothing: the body's author stays.
        reply = await asyncio.to_thread(
            live_server.request, "POST", f"/rooms/{room}/messages", {"text": "t", "author": "a"}, token="x"
        )
        assert reply.status == 201
        assert reply.json()["author"] == "a"
        assert (await receive(ws))["payload"]["data"]["messageAdded"] == reply.json()
    no_author = await post(live_server, room, "t", None)
    assert no_author.status == 422
    assert live_server.manager.config.on_connect is None


def test_the_secret_configures_a_jwt_authenticator() -> None:
    app, manager = create_app("starlette", auth_jwt_secret=SECRET)
    try:
        assert isinstance(manager.config.on_connect, JWTAuthenticator)
        assert list(manager.config.on_connect.algorithms) == ["HS256"]
        assert app.state.board.auth is not None
    finally:
        manager.executor.shutdown()


def test_a_short_secret_or_a_second_hook_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        create_app("fastapi", auth_jwt_secret="s3cret")
    config = SubscriptionConfig(on_connect=lambda payload, request: True)
    with pytest.raises(ValueError, match=r"either auth_jwt_secret or config\.on_connect"):
        create_app("fastapi", config=config, auth_jwt_secret=SECRET)
