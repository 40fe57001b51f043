"""Checklist rules 6-8 (every malformed message closes 4400 with a reason), binary frames (4400)
and the message size limit (1009)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import COUNTER, RunningServer, engine_is_empty, wait_for_subscriptions, wait_until

# -- rule 6: a JSON object with a known string type --------------------------------------------------

NOT_MESSAGES = {
    "not-json": "this is not json",
    "truncated-json": '{"type": "ping"',
    "empty": "",
    "array": '[{"type": "ping"}]',
    "number": "42",
    "string": '"ping"',
    "null": "null",
    "no-type": "{}",
    "type-null": '{"type": null}',
    "type-number": '{"type": 1}',
    "type-object": '{"type": {"name": "ping"}}',
    "unknown-type": '{"type": "start"}',
    "server-type": '{"type": "next", "id": "1", "payload": {}}',
    "type-case": '{"type": "PING"}',
    # Python's json module accepts these non-JSON constants; a conforming server must not
    # (and must never echo them back: the client could not parse its own pong).
    "nan": '{"type": "ping", "payload": {"x": NaN}}',
    "infinity": '{"type": "ping", "payload": {"x": -Infinity}}',
}


@pytest.mark.parametrize("raw", NOT_MESSAGES.values(), ids=NOT_MESSAGES.keys())
async def test_invalid_message_closes_4400(server: RunningServer, raw: str) -> None:
    client = await server.connect()
    await client.init()
    await client.send_raw(raw)
    reason = await client.expect_close(4400)
    assert reason, "a 4400 close carries a reason"
    await wait_until(engine_is_empty(server), what="cleanup")


@pytest.mark.parametrize("raw", ["not json", '{"type": "start"}', "[]"])
async def test_invalid_message_before_init_closes_4400(server: RunningServer, raw: str) -> None:
    client = await server.connect()
    await client.send_raw(raw)
    assert await client.expect_close(4400)


# -- rule 7: subscribe fields ---------------------------------------------------------------------

_QUERY = {"query": COUNTER}

BAD_SUBSCRIBES: dict[str, dict[str, Any]] = {
    "id-missing": {"type": "subscribe", "payload": _QUERY},
    "id-empty": {"type": "subscribe", "id": "", "payload": _QUERY},
    "id-null": {"type": "subscribe", "id": None, "payload": _QUERY},
    "id-number": {"type": "subscribe", "id": 1, "payload": _QUERY},
    "id-list": {"type": "subscribe", "id": ["1"], "payload": _QUERY},
    "payload-missing": {"type": "subscribe", "id": "1"},
    "payload-null": {"type": "subscribe", "id": "1", "payload": None},
    "payload-list": {"type": "subscribe", "id": "1", "payload": [_QUERY]},
    "payload-string": {"type": "subscribe", "id": "1", "payload": COUNTER},
    "query-missing": {"type": "subscribe", "id": "1", "payload": {}},
    "query-null": {"type": "subscribe", "id": "1", "payload": {"query": None}},
    "query-number": {"type": "subscribe", "id": "1", "payload": {"query": 5}},
    "query-object": {"type": "subscribe", "id": "1", "payload": {"query": {"a": 1}}},
    "variables-list": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "variables": []}},
    "variables-string": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "variables": "{}"}},
    "variables-number": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "variables": 0}},
    "extensions-list": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "extensions": []}},
    "extensions-string": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "extensions": "x"}},
    "extensions-bool": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "extensions": False}},
    "operationName-number": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "operationName": 1}},
    "operationName-object": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "operationName": {}}},
    "operationName-list": {"type": "subscribe", "id": "1", "payload": {**_QUERY, "operationName": ["A"]}},
}


@pytest.mark.parametrize("message", BAD_SUBSCRIBES.values(), ids=BAD_SUBSCRIBES.keys())
async def test_invalid_subscribe_closes_4400(server: RunningServer, message: dict[str, Any]) -> None:
    client = await server.connect()
    await client.init()
    await client.send_json(message)
    assert await client.expect_close(4400)
    await wait_until(engine_is_empty(server), what="cleanup")


GOOD_PAYLOADS: dict[str, dict[str, Any]] = {
    "minimal": {"query": COUNTER},
    "all-null": {"query": COUNTER, "variables": None, "extensions": None, "operationName": None},
    "empty-objects": {"query": COUNTER, "variables": {}, "extensions": {}},
    "extensions": {"query": COUNTER, "extensions": {"persistedQuery": {"version": 1}}},
    "operationName": {"query": "subscription Count { counter { n } }", "operationName": "Count"},
}


@pytest.mark.parametrize("payload", GOOD_PAYLOADS.values(), ids=GOOD_PAYLOADS.keys())
async def test_valid_subscribe_variants_are_accepted(server: RunningServer, payload: dict[str, Any]) -> None:
    client = await server.connect()
    await client.init()
    await client.send_json({"id": "sub-1", "type": "subscribe", "payload": payload})
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 7})
    assert await client.receive_json() == {
        "id": "sub-1",
        "type": "next",
        "payload": {"data": {"counter": {"n": 7}}},
    }


async def test_variables_json_cannot_carry_get_an_error_message(server: RunningServer) -> None:
    """An integer beyond 64 bits is valid JSON the engine cannot take: that subscription gets an
    ``error`` in the converter's words (never server internals) and the connection goes on."""
    client = await server.connect()
    await client.init()
    await client.send_raw(
        '{"id": "big", "type": "subscribe", "payload": {"query": "subscription($x: Int) { counter { n } }",'
        ' "variables": {"x": 100000000000000000000}}}'
    )
    error = await client.receive_json()
    assert (error["id"], error["type"]) == ("big", "error")
    (detail,) = error["payload"]
    assert detail["extensions"] == {"code": "BAD_USER_INPUT"}
    assert detail["message"].startswith(
        "Variables could not be used: integer 100000000000000000000 does not fit"
    )
    assert "Traceback" not in detail["message"]
    await client.subscribe("ok", COUNTER)
    await wait_for_subscriptions(server, 1)


@pytest.mark.parametrize(
    "payload",
    [
        '{"query": "subscription { counter { n } } # \\ud800"}',
        '{"query": "subscription { counter { n } }", "operationName": "\\udfff"}',
        '{"query": "subscription($x: String) { counter { n } }", "variables": {"x": "\\ud800"}}',
    ],
    ids=["query", "operation-name", "variables"],
)
async def test_lone_surrogates_get_an_error_message(server: RunningServer, payload: str) -> None:
    client = await server.connect()
    await client.init()
    await client.send_raw('{"id": "s", "type": "subscribe", "payload": ' + payload + "}")
    error = await client.receive_json()
    assert (error["id"], error["type"]) == ("s", "error")
    assert error["payload"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    await client.expect_open()


@pytest.mark.parametrize(
    "message",
    [{"type": "complete"}, {"type": "complete", "id": ""}, {"type": "complete", "id": 3}],
    ids=["id-missing", "id-empty", "id-number"],
)
async def test_invalid_complete_closes_4400(server: RunningServer, message: dict[str, Any]) -> None:
    client = await server.connect()
    await client.init()
    await client.send_json(message)
    assert await client.expect_close(4400)


# -- rule 8: connection_init / ping / pong payloads -----------------------------------------------


@pytest.mark.parametrize("message_type", ["connection_init", "ping", "pong"])
@pytest.mark.parametrize("payload", [[], "x", 3, True], ids=["list", "string", "number", "bool"])
async def test_non_object_payload_closes_4400(
    server: RunningServer, message_type: str, payload: object
) -> None:
    client = await server.connect()
    await client.send_json({"type": message_type, "payload": payload})
    assert await client.expect_close(4400)


async def test_null_or_absent_payloads_are_accepted(server: RunningServer) -> None:
    client = await server.connect()
    await client.send_json({"type": "connection_init", "payload": None})
    assert await client.receive_json() == {"type": "connection_ack"}
    await client.send_json({"type": "ping", "payload": None})
    assert await client.receive_json() == {"type": "pong"}
    await client.send_json({"type": "ping"})
    assert await client.receive_json() == {"type": "pong"}
    await client.send_json({"type": "pong", "payload": None})
    await client.send_json({"type": "pong"})
    await client.send_json({"type": "pong", "payload": {"x": 1}})
    await client.expect_open()


# -- binary frames (project decision: 4400) -------------------------------------------------------


async def test_binary_frame_closes_4400(server: RunningServer) -> None:
    client = await server.connect()
    await client.init()
    await client.send_raw(json.dumps({"type": "ping"}).encode())
    await client.expect_close(4400, "Binary messages are not supported")
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_binary_frame_before_init_closes_4400(server: RunningServer) -> None:
    client = await server.connect()
    await client.send_raw(b"\x00\x01")
    assert await client.expect_close(4400)


# -- max_message_size (project decision: 1009) ----------------------------------------------------


def _ping_of_size(size: int, filler: str = "a") -> str:
    """A ping message of exactly ``size`` UTF-8 bytes (``filler`` is one character)."""
    skeleton = '{"type":"ping","payload":{"p":""}}'
    width = len(filler.encode())
    count, rest = divmod(size - len(skeleton), width)
    assert rest == 0
    return skeleton.replace('""', '"' + filler * count + '"')


async def test_message_at_the_limit_is_accepted(make_server: ServerFactory) -> None:
    server = await make_server(max_message_size=1024)
    client = await server.connect()
    await client.init()
    message = _ping_of_size(1024)
    assert len(message.encode()) == 1024
    await client.send_raw(message)
    assert (await client.receive_json())["type"] == "pong"


async def test_message_over_the_limit_closes_1009(make_server: ServerFactory) -> None:
    server = await make_server(max_message_size=1024)
    client = await server.connect()
    await client.init()
    await client.send_raw(_ping_of_size(1025))
    assert await client.expect_close(1009)
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_limit_counts_utf8_bytes_not_characters(make_server: ServerFactory) -> None:
    server = await make_server(max_message_size=1024)
    client = await server.connect()
    await client.init()
    message = _ping_of_size(1034, "é")  # about 517 characters, 1034 bytes
    assert len(message) < 1024 < len(message.encode())
    await client.send_raw(message)
    assert await client.expect_close(1009)


async def test_far_too_large_message_closes_1009(make_server: ServerFactory) -> None:
    server = await make_server(max_message_size=1024)
    client = await server.connect()
    await client.init()
    await client.send_raw(_ping_of_size(100_000))
    assert await client.expect_close(1009)
    await wait_until(engine_is_empty(server), what="cleanup")


async def test_large_subscribe_over_the_limit_closes_1009(make_server: ServerFactory) -> None:
    server = await make_server(max_message_size=1024)
    client = await server.connect()
    await client.init()
    await client.subscribe("1", COUNTER, variables={"padding": "x" * 2000})
    assert await client.expect_close(1009)
    assert server.metrics()["active_subscriptions"] == 0
