"""Whatever a client sends, the demo answers a 4xx with a short JSON error, stores nothing it
could not serve again, and validates documents against its schema: over real sockets.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from fraiseql.demo import create_app
from fraiseql.demo._board import MAX_BODY_BYTES, MAX_TIMESTAMP
from fraiseql.subscriptions.jwt_auth import issue_token
from tests.demo.conftest import FRAMEWORKS, HTTPReply, LiveServer
from tests.demo.test_websocket import QUERY, graphql_ws, receive, subscribe

SECRET = "bad-input-secret-for-tests-0123456789abcdef"
PAGE_SCRIPT = Path(__file__).parents[2] / "python-source" / "fraiseql" / "demo" / "static" / "app.js"
# What an internal error's text looks like: none of it may reach a client.
INTERNAL = re.compile(
    r"Traceback|Exception|Error\b|codec|Expecting|line \d+ column|char \d+|surrogates not allowed"
)


def new_room() -> str:
    return f"bad-{uuid.uuid4().hex[:10]}"


def assert_json_error(reply: HTTPReply, status: int) -> dict[str, Any]:
    """``status``, JSON, a short ``error`` of the demo's own words (no exception text)."""
    assert reply.status == status, reply.body[:300]
    assert reply.headers["content-type"] == "application/json"
    assert len(reply.body) < 600
    error = reply.json()
    assert isinstance(error, dict)
    assert isinstance(error["error"], str)
    assert error["error"]
    assert not INTERNAL.search(reply.body.decode()), reply.body
    return error


def post(server: LiveServer, room: str, raw: bytes, **headers: str) -> HTTPReply:
    return server.request("POST", f"/rooms/{room}/messages", raw=raw, headers=headers or None)


def assert_nothing_stored(server: LiveServer, room: str) -> None:
    history = server.request("GET", f"/rooms/{room}/messages")
    assert (history.status, history.json()) == (200, {"room": room, "messages": []})
    rooms = server.request("GET", "/rooms")
    assert rooms.status == 200
    assert room not in rooms.json()["rooms"]


def raw_http(server: LiveServer, request: bytes) -> tuple[int, bytes]:
    """One request written byte for byte (what urllib would not send): the status and body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- deeply nested JSON and lone surrogates (the issue's findings) --------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 8000 + b"]" * 8000,
        b'{"text": ' + b"[" * 5000 + b"]" * 5000 + b', "author": "a"}',
        b'{"a":' * 2500 + b"1" + b"}" * 2500,
    ],
    ids=["array", "in-a-field", "objects"],
)
def test_deeply_nested_json_gets_400(live_server: LiveServer, raw: bytes) -> None:
    assert len(raw) <= MAX_BODY_BYTES
    room = new_room()
    error = assert_json_error(post(live_server, room, raw), 400)
    assert error == {"error": "invalid JSON: nested too deeply"}
    assert_nothing_stored(live_server, room)
    # Nesting the parser can follow is just a wrong value.
    shallow = b'{"text": ' + b"[" * 50 + b"]" * 50 + b', "author": "a"}'
    assert assert_json_error(post(live_server, room, shallow), 422)["details"][0]["field"] == "text"


@pytest.mark.parametrize("field", ["text", "author", "id"])
async def test_a_lone_surrogate_is_refused_before_anything_is_stored_or_published(
    live_server: LiveServer, field: str
) -> None:
    room = new_room()
    body = {"text": "t", "author": "a", "id": "some-id"}
    raw = json.dumps(body).replace(f'"{field}": "', f'"{field}": "x\\ud800', 1).encode()
    assert b"\\ud800" in raw
    async with graphql_ws(live_server.ws_url) as ws:
        await subscribe(ws, "s", room)
        reply = await asyncio.to_thread(post, live_server, room, raw)
        error = assert_json_error(reply, 422)
        assert error["error"] == "invalid message"
        assert [detail["field"] for detail in error["details"]] == [field]
        assert "lone surrogate" in error["details"][0]["message"]
        # Nothing was published: the next message the subscriber gets is the valid one.
        valid = await asyncio.to_thread(
            live_server.request, "POST", f"/rooms/{room}/messages", {"text": "ok", "author": "a"}
        )
        assert valid.status == 201
        assert (await receive(ws))["payload"]["data"]["messageAdded"] == valid.json()
    # And nothing was stored: the history holds the valid message only, and serves.
    history = live_server.request("GET", f"/rooms/{room}/messages")
    assert (history.status, history.json()["messages"]) == (200, [valid.json()])


def test_surrogates_in_keys_and_encoded_surrogates_are_refused(live_server: LiveServer) -> None:
    room = new_room()
    key = assert_json_error(post(live_server, room, b'{"text": "t", "author": "a", "\\udfff": 1}'), 422)
    # The unknown field is named, its surrogate escaped so that the answer is valid UTF-8.
    assert key["details"][0]["field"] == "\\udfff"
    # A surrogate encoded as UTF-8 bytes (ED A0 80) is not UTF-8 at all.
    encoded = assert_json_error(post(live_server, room, b'{"text": "\xed\xa0\x80", "author": "a"}'), 400)
    assert encoded == {"error": "invalid JSON: the body is not UTF-8 text"}
    assert_nothing_stored(live_server, room)


# -- everything else a body can get wrong -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"text": "\xff", "author": "a"}', "invalid JSON: the body is not UTF-8 text"),
        ('{"text": "t", "author": "a"}'.encode("utf-16"), "invalid JSON: the body is not UTF-8 text"),
        (b'\xef\xbb\xbf{"text": "t", "author": "a"}', "invalid JSON"),  # a BOM
        (b'{"text": "t", "author": "a", "at": NaN}', "invalid JSON: NaN and Infinity are not JSON"),
        (b'{"text": "t", "author": "a", "at": Infinity}', "invalid JSON: NaN and Infinity are not JSON"),
        (b'{"text": "t", "author": "a", "x": [-Infinity]}', "invalid JSON: NaN and Infinity are not JSON"),
        (b'{"text": "t", "author": "a", "text": "u"}', "invalid JSON: duplicate key in an object"),
        (b'{"text": "t", "author": "a", "x": {"k": 1, "k": 2}}', "invalid JSON: duplicate key in an object"),
        (
            b'{"text": "t", "author": "a", "at": ' + b"1" * 5000 + b"}",
            "invalid JSON: a number has too many digits",
        ),
        (b'{"text": "t", "author": "a"', "invalid JSON"),
        (b'{"text": "t", "author": "a"} x', "invalid JSON"),
        (b"{'text': 't'}", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[]", "the body must be a JSON object with text and author"),
        (b'"text"', "the body must be a JSON object with text and author"),
        (b"null", "the body must be a JSON object with text and author"),
        (b"1e999", "the body must be a JSON object with text and author"),
    ],
)
def test_malformed_bodies_get_400_in_our_own_words(live_server: LiveServer, raw: bytes, error: str) -> None:
    room = new_room()
    assert assert_json_error(post(live_server, room, raw), 400) == {"error": error}
    assert_nothing_stored(live_server, room)


@pytest.mark.parametrize("at", [1e300, -1e300, MAX_TIMESTAMP * 1.001, "1e999", 10**300, "-1e999"])
def test_timestamps_beyond_what_a_date_holds_get_422(live_server: LiveServer, at: object) -> None:
    room = new_room()
    value = at if isinstance(at, str) else json.dumps(at)
    raw = b'{"text": "t", "author": "a", "at": ' + str(value).encode() + b"}"
    error = assert_json_error(post(live_server, room, raw), 422)
    assert [detail["field"] for detail in error["details"]] == ["at"]
    assert_nothing_stored(live_server, room)


@pytest.mark.parametrize("at", [0, MAX_TIMESTAMP, -MAX_TIMESTAMP, 1.5])
def test_timestamps_a_date_holds_are_kept(live_server: LiveServer, at: float) -> None:
    reply = live_server.request(
        "POST", f"/rooms/{new_room()}/messages", {"text": "t", "author": "a", "at": at}
    )
    assert reply.status == 201
    assert reply.json()["at"] == at


def test_many_unknown_fields_are_listed_briefly(live_server: LiveServer) -> None:
    body = {"text": "t", "author": "a", **{f"field{n:03}-" + "x" * 200: n for n in range(50)}}
    error = assert_json_error(live_server.request("POST", f"/rooms/{new_room()}/messages", body), 422)
    (detail,) = error["details"]
    assert len(detail["field"]) <= 64
    assert detail["message"].count("field0") == 5


# -- content types, rooms, and the rest of the request ----------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",  # what a cross-site form or a no-CORS fetch sends
        "application/x-www-form-urlencoded",  # curl -d without -H
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json; charset=utf-16",
        "application/json; charset=latin-1",
    ],
)
def test_bodies_that_are_not_json_by_their_type_get_415(live_server: LiveServer, content_type: str) -> None:
    room = new_room()
    raw = b'{"text": "t", "author": "a"}'
    assert_json_error(post(live_server, room, raw, **{"Content-Type": content_type}), 415)
    assert_nothing_stored(live_server, room)


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=UTF-8", "Application/JSON", 'application/json; charset="utf-8"'],
)
def test_json_content_types_are_accepted(live_server: LiveServer, content_type: str) -> None:
    reply = post(live_server, new_room(), b'{"text": "t", "author": "a"}', **{"Content-Type": content_type})
    assert reply.status == 201


def test_a_body_without_a_content_type_gets_415(live_server: LiveServer) -> None:
    room = new_room()
    body = b'{"text": "t", "author": "a"}'
    request = (
        f"POST /rooms/{room}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    status, answer = raw_http(live_server, request)
    assert status == 415
    assert json.loads(answer)["error"].startswith("send the message as JSON")
    assert_nothing_stored(live_server, room)


@pytest.mark.parametrize("room", ["r" * 5000, "%FF%FE", "%ED%A0%80", "a%00b", "%F0%9F%98%80"])
def test_odd_room_names_get_a_short_422(live_server: LiveServer, room: str) -> None:
    for method, body in (("POST", {"text": "t", "author": "a"}), ("GET", None)):
        error = assert_json_error(live_server.request(method, f"/rooms/{room}/messages", body), 422)
        (detail,) = error["details"]
        assert detail["field"] == "room"
        assert len(detail["value"]) <= 80


def test_an_oversized_content_length_is_refused_unread(live_server: LiveServer) -> None:
    request = (
        f"POST /rooms/lobby/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {10**30}\r\nConnection: close\r\n\r\n"
    ).encode()
    status, _ = raw_http(live_server, request)
    assert 400 <= status < 500


def test_an_unexpected_failure_answers_json_and_tells_nothing(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail that must stay in the log")

    monkeypatch.setattr(live_server.app.state.board, "history_reply", broken)
    with caplog.at_level(logging.CRITICAL, logger="uvicorn.error"):
        reply = live_server.request("GET", "/rooms/lobby/messages")
    assert (reply.status, reply.json()) == (500, {"error": "internal server error"})
    assert reply.headers["content-type"] == "application/json"


def test_a_failed_publish_answers_503_and_keeps_nothing(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the bus is down")

    monkeypatch.setattr(live_server.manager, "publish", failing)
    room = new_room()
    with caplog.at_level(logging.CRITICAL, logger="fraiseql.demo"):
        reply = live_server.request("POST", f"/rooms/{room}/messages", {"text": "t", "author": "a"})
    assert assert_json_error(reply, 503)["error"].startswith("the message could not be published")
    assert_nothing_stored(live_server, room)


# -- the schema (item 7) ------------------------------------------------------------------------


def page_document() -> str:
    match = re.search(r"const QUERY = `([^`]*)`", PAGE_SCRIPT.read_text())
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ('subscription { messageAdded(room: "lobby") { nosuch } }', "`nosuch`"),
        ('subscription { messageAdded(room: "lobby") { __typename nosuch } }', "`nosuch`"),
        ('subscription { messageAdded(room: "lobby") { id text { deeper } } }', "`String`"),
    ],
)
async def test_documents_are_validated_against_the_demos_schema(
    live_server: LiveServer, query: str, said: str
) -> None:
    def refused() -> float:
        text = live_server.request("GET", "/metrics").body.decode()
        found = re.search(r'subscriptions_refused_total\{code="?GRAPHQL_VALIDATION_FAILED"?\} (\S+)', text)
        return float(found.group(1)) if found else 0.0

    before = await asyncio.to_thread(refused)
    async with graphql_ws(live_server.ws_url) as ws:
        await ws.send(json.dumps({"id": "bad", "type": "subscribe", "payload": {"query": query}}))
        message = await receive(ws)
        assert (message["type"], message["id"]) == ("error", "bad")
        assert any(said in error["message"] for error in message["payload"]), message
        # The page's own document still works on the same connection.
        room = new_room()
        payload = {"query": page_document(), "variables": {"room": room}}
        await ws.send(json.dumps({"id": "page", "type": "subscribe", "payload": payload}))
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}
        posted = await asyncio.to_thread(
            live_server.request, "POST", f"/rooms/{room}/messages", {"text": "hi", "author": "a"}
        )
        assert await receive(ws) == {
            "id": "page",
            "type": "next",
            "payload": {"data": {"messageAdded": posted.json()}},
        }
    assert await asyncio.to_thread(refused) == before + 1


def test_the_demo_serves_the_schema_it_validates_against(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="fraiseql.subscriptions"):
        _, manager = create_app("starlette")
    assert not [r for r in caplog.records if r.__dict__.get("event") == "schema.missing"]
    sdl = manager.schema_sdl()
    assert sdl is not None
    assert "messageAdded(room: String!): Message!" in sdl
    assert QUERY  # the tests' own document is the page's, without the operation name
    assert "messageAdded(room: $room) { id room text author at }" in page_document()


# -- tokens whose claims are not text (with authentication) ----------------------------------


@pytest.fixture(scope="module", params=FRAMEWORKS)
def auth_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    server = LiveServer(request.param, auth_jwt_secret=SECRET).start()
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("claims", "status", "error"),
    [
        ({"user_id": "ann", "tenant_id": "\udc00"}, 403, "the token's tenant_id claim is not valid text"),
        ({"user_id": "\ud800", "tenant_id": "acme"}, 403, "the token's sub claim is not valid text"),
        ({"user_id": "ann", "tenant_id": "acme", "scope": 5}, 401, None),
    ],
)
def test_tokens_with_unusable_claims_are_refused(
    auth_server: LiveServer, claims: dict[str, Any], status: int, error: str | None
) -> None:
    token = issue_token(SECRET, **claims)
    room = new_room()
    for method, body in (("POST", {"text": "t"}), ("GET", None)):
        reply = auth_server.request(method, f"/rooms/{room}/messages", body, token=token)
        answer = assert_json_error(reply, status)
        if error is not None:
            assert answer == {"error": error}
    good = issue_token(SECRET, user_id="ann", tenant_id="acme")
    assert room not in auth_server.request("GET", "/rooms", token=good).json()["rooms"]


def test_a_name_claim_that_is_not_text_falls_back_to_sub(auth_server: LiveServer) -> None:
    token = issue_token(SECRET, user_id="ann", tenant_id="acme", name="\ud800")
    room = new_room()
    reply = auth_server.request("POST", f"/rooms/{room}/messages", {"text": "t"}, token=token)
    assert reply.status == 201
    assert reply.json()["author"] == "ann"
    assert auth_server.request("GET", f"/rooms/{room}/messages", token=token).status == 200


async def test_a_tenant_that_is_not_text_closes_the_websocket_with_4403(auth_server: LiveServer) -> None:
    token = issue_token(SECRET, user_id="ann", tenant_id="\udc00")
    async with connect(auth_server.ws_url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
