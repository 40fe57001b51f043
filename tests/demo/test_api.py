"""The demo's HTTP API and page, over a real uvicorn server, on FastAPI and on Starlette."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from fraiseql.demo import SCHEMA_SDL
from fraiseql.demo._board import MAX_BODY_BYTES
from tests.demo.conftest import LiveServer


def new_room() -> str:
    return f"r-{uuid.uuid4().hex[:12]}"


def test_page_and_assets_are_served_with_their_content_types(live_server: LiveServer) -> None:
    page = live_server.request("GET", "/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.body.decode()
    for testid in ("message-form", "author-input", "text-input", "send-button", "message-list", "room-input"):
        assert f'data-testid="{testid}"' in html
    assert 'src="/static/app.js"' in html
    assert 'href="/static/style.css"' in html
    assert "default-src 'self'" in page.headers["content-security-policy"]

    script = live_server.request("GET", "/static/app.js")
    assert script.status == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"graphql-transport-ws" in script.body

    css = live_server.request("GET", "/static/style.css")
    assert css.status == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"

    for body in (page.body, script.body, css.body):  # no CDN, no external fonts
        assert not re.search(rb"https?://(?!\$\{)", body)
        assert b"@import" not in body
        assert b"fonts.googleapis" not in body


def test_schema_is_served_as_sdl(live_server: LiveServer) -> None:
    reply = live_server.request("GET", "/schema.graphql")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.body.decode() == SCHEMA_SDL
    for line in ("type Message {", "messageAdded(room: String!): Message!", "rooms: [String!]!"):
        assert line in SCHEMA_SDL


def test_info_describes_the_bus(live_server: LiveServer) -> None:
    info = live_server.request("GET", "/info").json()
    assert info["framework"] == live_server.framework
    assert info["bus"]["type"] == "memory"
    assert info["delivery"] == "in-process"


def test_post_generates_id_and_time(live_server: LiveServer) -> None:
    room = new_room()
    before = time.time() * 1000
    reply = live_server.request("POST", f"/rooms/{room}/messages", {"text": "hello", "author": "ann"})
    after = time.time() * 1000
    assert reply.status == 201
    assert reply.headers["content-type"] == "application/json"
    message = reply.json()
    assert set(message) == {"id", "room", "text", "author", "at"}
    assert re.fullmatch(r"[0-9a-f]{32}", message["id"])
    assert before <= message["at"] <= after
    assert (message["room"], message["text"], message["author"]) == (room, "hello", "ann")

    second = live_server.request("POST", f"/rooms/{room}/messages", {"text": "again", "author": "ann"})
    assert second.json()["id"] != message["id"]


def test_post_keeps_a_given_id_and_time(live_server: LiveServer) -> None:
    room = new_room()
    body = {"text": "t", "author": "a", "id": "my-id", "at": 1234.5}
    reply = live_server.request("POST", f"/rooms/{room}/messages", body)
    assert reply.status == 201
    assert reply.json() == {"id": "my-id", "room": room, "text": "t", "author": "a", "at": 1234.5}
    integer = live_server.request("POST", f"/rooms/{room}/messages", {"text": "t", "author": "a", "at": 7})
    assert integer.json()["at"] == 7.0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, ["text", "author"]),
        ({"author": "a"}, ["text"]),
        ({"text": "", "author": "a"}, ["text"]),
        ({"text": "   ", "author": "a"}, ["text"]),
        ({"text": 5, "author": "a"}, ["text"]),
        ({"text": "x" * 2001, "author": "a"}, ["text"]),
        ({"text": "t", "author": ""}, ["author"]),
        ({"text": "t", "author": None}, ["author"]),
        ({"text": "t", "author": "x" * 101}, ["author"]),
        ({"text": "t", "author": "a", "id": 5}, ["id"]),
        ({"text": "t", "author": "a", "id": ""}, ["id"]),
        ({"text": "t", "author": "a", "at": "now"}, ["at"]),
        ({"text": "t", "author": "a", "at": True}, ["at"]),
        ({"text": "t", "author": "a", "at": 10**400}, ["at"]),
        ({"text": "t", "author": "a", "colour": "red"}, ["colour"]),
    ],
)
def test_invalid_messages_get_422(live_server: LiveServer, body: dict[str, Any], fields: list[str]) -> None:
    reply = live_server.request("POST", f"/rooms/{new_room()}/messages", body)
    assert reply.status == 422
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()
    assert error["error"] == "invalid message"
    assert [detail["field"] for detail in error["details"]] == fields
    assert all(detail["message"] for detail in error["details"])


def test_limits_are_inclusive(live_server: LiveServer) -> None:
    body = {"text": "x" * 2000, "author": "y" * 100}
    assert live_server.request("POST", f"/rooms/{'r' * 64}/messages", body).status == 201


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"not json", 400), (b"[1, 2]", 400), (b'"text"', 400), (b"", 400), (b"x" * (MAX_BODY_BYTES + 1), 413)],
)
def test_malformed_bodies_get_4xx(live_server: LiveServer, raw: bytes, status: int) -> None:
    reply = live_server.request("POST", f"/rooms/{new_room()}/messages", raw=raw)
    assert reply.status == status
    assert reply.json()["error"]


@pytest.mark.parametrize("room", ["bad%20room", "r" * 65, "caf%C3%A9", "a.b", "%2E%2E"])
def test_invalid_room_names_get_422(live_server: LiveServer, room: str) -> None:
    for method, body in (("POST", {"text": "t", "author": "a"}), ("GET", None)):
        reply = live_server.request(method, f"/rooms/{room}/messages", body)
        assert reply.status == 422, (method, room)
        assert reply.json()["details"][0]["field"] == "room"


def test_rooms_and_history(live_server: LiveServer) -> None:
    room = new_room()
    assert "lobby" in live_server.request("GET", "/rooms").json()["rooms"]
    assert room not in live_server.request("GET", "/rooms").json()["rooms"]
    assert live_server.request("GET", f"/rooms/{room}/messages").json() == {"room": room, "messages": []}
    posted = [
        live_server.request("POST", f"/rooms/{room}/messages", {"text": str(n), "author": "a"}).json()
        for n in range(3)
    ]
    assert room in live_server.request("GET", "/rooms").json()["rooms"]
    assert live_server.request("GET", f"/rooms/{room}/messages").json()["messages"] == posted


def test_unknown_routes_and_methods_answer_json(live_server: LiveServer) -> None:
    missing = live_server.request("GET", "/nowhere")
    assert (missing.status, missing.json()) == (404, {"error": "Not Found"})
    wrong = live_server.request("DELETE", "/rooms")
    assert (wrong.status, wrong.json()) == (405, {"error": "Method Not Allowed"})
    assert "GET" in wrong.headers["allow"]


def test_metrics_are_served_in_the_prometheus_format(live_server: LiveServer) -> None:
    def published() -> float:
        reply = live_server.request("GET", "/metrics")
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = reply.body.decode()
        assert "# TYPE fraiseql_subscriptions_events_published_total counter" in text
        assert 'fraiseql_subscriptions_dispatch_seconds_bucket{le="+Inf"}' in text
        (line,) = [
            line
            for line in text.splitlines()
            if line.startswith("fraiseql_subscriptions_events_published_total ")
        ]
        return float(line.split()[1])

    before = published()
    live_server.request("POST", f"/rooms/{new_room()}/messages", {"author": "ann", "text": "hi"})
    assert published() == before + 1
    assert live_server.request("POST", "/metrics").status == 405
