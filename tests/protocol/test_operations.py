"""Checklist rules 9-15: duplicate ids, document errors, resolver errors, queries and mutations,
complete, ping/pong; plus the subscription limit, delivery order, channels and visibility."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fraiseql.subscriptions.adapter import RequestInfo
from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import (
    ASYNC_COUNTER,
    COUNTER,
    FAILING,
    MESSAGE_ADDED,
    NOTIFICATION,
    Client,
    RunningServer,
    wait_for_subscriptions,
)


def _next(subscription_id: str, field: str, value: object) -> dict[str, Any]:
    return {"id": subscription_id, "type": "next", "payload": {"data": {field: value}}}


@pytest.fixture
async def ending_server(make_server: ServerFactory) -> RunningServer:
    """A server whose failed resolvers end their subscriptions (``resolver_errors="end_stream"``)
    and tell clients what they raised (``expose_resolver_errors``)."""
    return await make_server(resolver_errors="end_stream", expose_resolver_errors=True)


async def _ready(server: RunningServer) -> Client:
    client = await server.connect()
    await client.init()
    return client


async def _until(client: Client, subscription_id: str) -> list[dict[str, Any]]:
    """Every message up to and including the first one for ``subscription_id``."""
    messages: list[dict[str, Any]] = []
    while True:
        message = await client.receive_json()
        messages.append(message)
        if message.get("id") == subscription_id:
            return messages


# -- rule 9: duplicate ids --------------------------------------------------------------------------


async def test_duplicate_active_id_closes_4409(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("dup", COUNTER)
    await client.subscribe("dup", COUNTER)
    await client.expect_close(4409, "Subscriber for dup already exists")


async def test_same_id_on_another_connection_is_fine(server: RunningServer) -> None:
    first, second = await _ready(server), await _ready(server)
    await first.subscribe("1", COUNTER)
    await second.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 2)
    await server.publish("counter", {"n": 1})
    assert await first.receive_json() == _next("1", "counter", {"n": 1})
    assert await second.receive_json() == _next("1", "counter", {"n": 1})


async def test_id_reusable_after_complete(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 1)
    await client.complete("1")
    await client.subscribe("1", "subscription { counter { renamed: n } }")
    await client.expect_open()
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 5})
    assert await client.receive_json() == _next("1", "counter", {"renamed": 5})
    await client.expect_open()  # exactly one frame: the old subscription is gone


async def test_id_reusable_after_error(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("1", "subscription { nope }")
    assert (await client.receive_json())["type"] == "error"
    await client.subscribe("1", COUNTER)
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 1})
    assert await client.receive_json() == _next("1", "counter", {"n": 1})


ODD_IDS = {
    "quotes-and-backslashes": 'a "quoted" \\ id / with \\"escapes\\"',
    "unicode": "é-😀-\u2028-\x00-\n\t",
    "type-marker": 'x","type":"error',
    "long": "L" * 300,
    "long-unicode": "é" * 200,
}


@pytest.mark.parametrize("subscription_id", ODD_IDS.values(), ids=ODD_IDS.keys())
async def test_odd_ids_round_trip_through_next_error_and_reuse(
    ending_server: RunningServer, subscription_id: str
) -> None:
    """Any non-empty string is an id: frames carry it back exactly, and an id ended by a resolver
    error is free again (the handler parses the id out of the engine's error frame)."""
    server = ending_server
    client = await _ready(server)
    await client.subscribe(subscription_id, FAILING)
    await wait_for_subscriptions(server, 1)
    await server.publish("failing", {"n": 1})
    assert await client.receive_json() == _next(subscription_id, "failing", {"n": 1})
    await server.publish("failing", {"n": 2, "fail": True})
    error = await client.receive_json()
    assert (error["id"], error["type"]) == (subscription_id, "error")
    await wait_for_subscriptions(server, 0)
    await client.expect_open()
    await client.subscribe(subscription_id, FAILING)  # its id is free again
    await client.expect_open()
    await wait_for_subscriptions(server, 1)
    await server.publish("failing", {"n": 3})
    assert await client.receive_json() == _next(subscription_id, "failing", {"n": 3})
    await client.complete(subscription_id)
    # Published once the server has taken the completion in (else the event may overtake it).
    await wait_for_subscriptions(server, 0)
    await server.publish("failing", {"n": 4})
    await client.expect_open()


# -- rule 10 and the syntax-error decision: document errors -----------------------------------------

DOCUMENT_ERRORS: dict[str, tuple[str, dict[str, Any] | None, bool]] = {
    # name: (query, variables, has locations)
    "syntax": ("subscription { counter { n }", None, True),
    "garbage": ("}}} not graphql", None, True),
    "empty": ("", None, False),
    "undefined-variable": ("subscription { messageAdded(room: $r) { id } }", None, True),
    "two-root-fields": ("subscription { counter { n } notification { text } }", None, True),
    "missing-variable": (MESSAGE_ADDED, None, False),
    "unknown-root-field": ("subscription { nope { id } }", None, False),
    "missing-channel-argument": ("subscription { messageAdded { id } }", None, False),
    "unknown-operation-name": (
        "subscription A { counter { n } } subscription B { counter { n } }",
        None,
        False,
    ),
}


@pytest.mark.parametrize(
    ("query", "variables", "located"), DOCUMENT_ERRORS.values(), ids=DOCUMENT_ERRORS.keys()
)
async def test_document_error_sends_error_and_keeps_socket(
    server: RunningServer, query: str, variables: dict[str, Any] | None, located: bool
) -> None:
    client = await _ready(server)
    await client.subscribe("bad", query, variables)
    message = await client.receive_json()
    assert message["type"] == "error"
    assert message["id"] == "bad"
    errors = message["payload"]
    assert isinstance(errors, list)
    assert errors
    for error in errors:
        assert isinstance(error["message"], str)
        assert error["message"]
        assert set(error) <= {"message", "locations", "path", "extensions"}
    if located:
        locations = errors[0]["locations"]
        assert locations
        assert all(set(location) == {"line", "column"} for location in locations)
    # The socket stays open and nothing else (no `complete`) comes for that id.
    await client.expect_open()
    assert server.metrics()["active_subscriptions"] == 0
    await client.subscribe("good", COUNTER)
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 1})
    assert await client.receive_json() == _next("good", "counter", {"n": 1})


@pytest.mark.parametrize(
    "raw_variables", ['{"room": 123456789012345678901234567890}', '{"room": "lobby", "big": -1e400}']
)
async def test_variables_the_engine_cannot_take_get_error(server: RunningServer, raw_variables: str) -> None:
    client = await _ready(server)
    query = json.dumps(MESSAGE_ADDED)
    await client.send_raw(
        f'{{"id": "v", "type": "subscribe", "payload": {{"query": {query}, "variables": {raw_variables}}}}}'
    )
    message = await client.receive_json()
    assert (message["id"], message["type"]) == ("v", "error")
    assert message["payload"][0]["message"]
    await client.expect_open()
    assert server.metrics()["active_subscriptions"] == 0


async def test_error_leaves_other_subscriptions_alone(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("good", COUNTER)
    await client.subscribe("bad", "subscription { counter { n }")
    assert (await client.receive_json())["id"] == "bad"
    await server.publish("counter", {"n": 2})
    assert await client.receive_json() == _next("good", "counter", {"n": 2})


# -- rule 11: resolver failure mid-stream -----------------------------------------------------------


async def test_resolver_failure_is_a_field_error_and_the_stream_goes_on(server: RunningServer) -> None:
    """The default, as GraphQL specifies (ExecuteSubscriptionEvent): the event's ``next`` carries
    the error and ``data`` after null propagation; the raw event is never sent."""
    client = await _ready(server)
    await client.subscribe("f", FAILING)
    await client.subscribe("c", COUNTER)
    await wait_for_subscriptions(server, 2)
    await server.publish("failing", {"n": 1, "fail": True, "secret": "raw event"})
    message = await client.receive_json()
    assert (message["id"], message["type"]) == ("f", "next")
    assert "raw event" not in json.dumps(message)
    assert message["payload"]["data"] == {"failing": None}
    (error,) = message["payload"]["errors"]
    # The exception's text stays in the log.
    assert error["message"] == 'Resolver for "failing" failed.'
    assert (error["path"], error["locations"]) == (["failing"], [{"line": 1, "column": 16}])
    assert error["extensions"] == {"code": "RESOLVER_ERROR"}
    await server.publish("failing", {"n": 2})
    assert await client.receive_json() == _next("f", "failing", {"n": 2})
    await server.publish("counter", {"n": 1})
    assert await client.receive_json() == _next("c", "counter", {"n": 1})
    await client.expect_open()
    assert server.metrics()["active_subscriptions"] == 2


async def test_end_stream_resolver_failure_sends_error_and_others_continue(
    ending_server: RunningServer,
) -> None:
    server = ending_server
    client = await _ready(server)
    await client.subscribe("f", FAILING)
    await client.subscribe("c", COUNTER)
    await wait_for_subscriptions(server, 2)
    await server.publish("failing", {"n": 1})
    assert await client.receive_json() == _next("f", "failing", {"n": 1})
    await server.publish("failing", {"n": 2, "fail": True})
    error = await client.receive_json()
    assert error["id"] == "f"
    assert error["type"] == "error"
    assert isinstance(error["payload"], list)
    exposed = 'Resolver for "failing" raised ResolverExploded: resolver exploded'
    assert error["payload"][0]["message"] == exposed
    assert error["payload"][0]["extensions"]["code"] == "RESOLVER_ERROR"
    # The failed subscription is over: nothing more for it, and never a `complete`.
    await server.publish("failing", {"n": 3})
    await server.publish("counter", {"n": 1})
    assert await client.receive_json() == _next("c", "counter", {"n": 1})
    await client.expect_open()
    await wait_for_subscriptions(server, 1)
    # Its id is free again.
    await client.subscribe("f", FAILING)
    await wait_for_subscriptions(server, 2)
    await server.publish("failing", {"n": 4})
    assert await client.receive_json() == _next("f", "failing", {"n": 4})


async def test_resolver_failure_on_one_connection_spares_the_others(ending_server: RunningServer) -> None:
    server = ending_server
    first, second = await _ready(server), await _ready(server)
    await first.subscribe("f", FAILING)
    await second.subscribe("c", COUNTER)
    await wait_for_subscriptions(server, 2)
    await server.publish("failing", {"fail": True})
    assert (await first.receive_json())["type"] == "error"
    await server.publish("counter", {"n": 9})
    assert await second.receive_json() == _next("c", "counter", {"n": 9})
    await first.expect_open()


# -- rule 12: queries and mutations (project decision: `error`) ---------------------------------------


@pytest.mark.parametrize(
    "query", ["query { counter { n } }", "{ counter { n } }", "mutation { addMessage { id } }"]
)
async def test_query_and_mutation_get_error(server: RunningServer, query: str) -> None:
    client = await _ready(server)
    await client.subscribe("op", query)
    message = await client.receive_json()
    assert message["type"] == "error"
    assert message["id"] == "op"
    assert isinstance(message["payload"], list)
    assert message["payload"][0]["message"]
    await client.expect_open()
    assert server.metrics()["active_subscriptions"] == 0


# -- rule 13: client complete -----------------------------------------------------------------------


async def test_complete_stops_the_stream_and_sends_nothing(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("a", COUNTER)
    await client.subscribe("sentinel", NOTIFICATION)
    await wait_for_subscriptions(server, 2)
    await server.publish("counter", {"n": 1})
    assert await client.receive_json() == _next("a", "counter", {"n": 1})
    await client.complete("a")
    await client.expect_open()  # nothing was sent back for the complete
    await wait_for_subscriptions(server, 1)
    for n in range(2, 6):
        await server.publish("counter", {"n": n})
    await server.publish("notification", {"text": "end"})
    assert await client.receive_json() == _next("sentinel", "notification", {"text": "end"})


async def test_complete_with_async_resolver_in_flight(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("a", ASYNC_COUNTER)
    await client.subscribe("sentinel", NOTIFICATION)
    await wait_for_subscriptions(server, 2)
    for n in range(20):
        await server.publish("asyncCounter", {"n": n})
    await client.complete("a")
    await client.send_json({"type": "ping", "payload": {"marker": 1}})
    # Frames for "a" may precede the pong (published before the complete arrived)...
    before = await _until_type(client, "pong")
    assert all(message["id"] == "a" and message["type"] == "next" for message in before)
    # ...but once the complete is processed nothing more comes for "a".
    for n in range(20, 40):
        await server.publish("asyncCounter", {"n": n})
    await server.publish("notification", {"text": "end"})
    after = await _until(client, "sentinel")
    assert [message for message in after if message.get("id") == "a"] == []
    assert server.metrics()["active_subscriptions"] == 1


async def _until_type(client: Client, message_type: str) -> list[dict[str, Any]]:
    """Messages received before the first one of ``message_type`` (which is consumed)."""
    messages: list[dict[str, Any]] = []
    while True:
        message = await client.receive_json()
        if message["type"] == message_type:
            return messages
        messages.append(message)


async def test_subscribe_then_immediate_complete_sends_nothing(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("sentinel", NOTIFICATION)
    await client.subscribe("a", COUNTER)
    await client.complete("a")
    await client.expect_open()
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 1})
    await server.publish("notification", {"text": "end"})
    assert await client.receive_json() == _next("sentinel", "notification", {"text": "end"})


# -- rule 14: complete of unknown or finished ids --------------------------------------------------


async def test_complete_of_unknown_id_is_ignored(server: RunningServer) -> None:
    client = await _ready(server)
    await client.complete("never-seen")
    await client.expect_open()


async def test_complete_of_unknown_id_before_init_is_ignored(server: RunningServer) -> None:
    client = await server.connect()
    await client.complete("never-seen")
    await client.expect_open()
    await client.init()


async def test_complete_of_finished_ids_is_ignored(ending_server: RunningServer) -> None:
    server = ending_server
    client = await _ready(server)
    await client.subscribe("done", COUNTER)
    await client.subscribe("failed", FAILING)
    await client.subscribe("invalid", "subscription { nope }")
    assert (await client.receive_json())["id"] == "invalid"
    await wait_for_subscriptions(server, 2)
    await server.publish("failing", {"fail": True})
    assert (await client.receive_json())["type"] == "error"
    await client.complete("done")
    for subscription_id in ("done", "failed", "invalid", "done"):
        await client.complete(subscription_id)
    await client.expect_open()
    await wait_for_subscriptions(server, 0)


# -- rule 15: ping / pong --------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [None, {}, {"at": 12, "nested": {"list": [1, "two"]}}])
async def test_ping_gets_pong_with_payload(server: RunningServer, payload: dict[str, Any] | None) -> None:
    client = await _ready(server)
    message: dict[str, Any] = {"type": "ping"}
    if payload is not None:
        message["payload"] = payload
    await client.send_json(message)
    assert await client.receive_json() == message | {"type": "pong"}


async def test_ping_before_init_gets_pong(server: RunningServer) -> None:
    client = await server.connect()
    await client.send_json({"type": "ping", "payload": {"early": True}})
    assert await client.receive_json() == {"type": "pong", "payload": {"early": True}}


async def test_pong_gets_no_reply(server: RunningServer) -> None:
    client = await _ready(server)
    for _ in range(3):
        await client.send_json({"type": "pong", "payload": {"unsolicited": True}})
    await client.expect_open()  # the next message is the pong of our ping


# -- subscription limit per connection (project decision: `error` TOO_MANY_SUBSCRIPTIONS) ---------


async def test_subscription_limit_per_connection(make_server: ServerFactory) -> None:
    server = await make_server(max_subscriptions_per_connection=2)
    client = await _ready(server)
    await client.subscribe("1", COUNTER)
    await client.subscribe("2", COUNTER)
    await client.subscribe("3", COUNTER)
    message = await client.receive_json()
    assert message["id"] == "3"
    assert message["type"] == "error"
    assert isinstance(message["payload"], list)
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert message["payload"][0]["message"]
    await client.expect_open()
    assert server.metrics()["active_subscriptions"] == 2
    await server.publish("counter", {"n": 1})
    received = {(await client.receive_json())["id"] for _ in range(2)}
    assert received == {"1", "2"}
    # Another connection has its own allowance.
    other = await _ready(server)
    await other.subscribe("1", COUNTER)
    await other.subscribe("2", COUNTER)
    await other.expect_open()
    await wait_for_subscriptions(server, 4)
    # Ending one frees a slot.
    await client.complete("1")
    await client.subscribe("3", COUNTER)
    await client.expect_open()
    await wait_for_subscriptions(server, 4)
    await server.publish("counter", {"n": 2})
    received = {(await client.receive_json())["id"] for _ in range(2)}
    assert received == {"2", "3"}


async def test_failed_subscriptions_free_their_slot(make_server: ServerFactory) -> None:
    server = await make_server(max_subscriptions_per_connection=1, resolver_errors="end_stream")
    client = await _ready(server)
    await client.subscribe("bad", "subscription { nope }")
    assert (await client.receive_json())["type"] == "error"
    await client.subscribe("f", FAILING)
    await wait_for_subscriptions(server, 1)
    await server.publish("failing", {"fail": True})
    assert (await client.receive_json())["type"] == "error"
    await client.subscribe("c", COUNTER)
    await client.expect_open()
    await wait_for_subscriptions(server, 1)
    await server.publish("counter", {"n": 1})
    assert await client.receive_json() == _next("c", "counter", {"n": 1})


# -- delivery --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "channel", "shape"),
    [
        (COUNTER, "counter", lambda n: {"counter": {"n": n}}),
        (ASYNC_COUNTER, "asyncCounter", lambda n: {"asyncCounter": {"n": n, "doubled": 2 * n}}),
    ],
    ids=["plain", "async-resolver"],
)
async def test_frames_arrive_in_publish_order(
    server: RunningServer, query: str, channel: str, shape: Any
) -> None:
    client = await _ready(server)
    await client.subscribe("s", query)
    await wait_for_subscriptions(server, 1)
    for n in range(500):
        await server.publish(channel, {"n": n})
    for n in range(500):
        assert await client.receive_json() == {"id": "s", "type": "next", "payload": {"data": shape(n)}}
    await client.expect_open()


async def test_channel_arguments_route_events(server: RunningServer) -> None:
    client = await _ready(server)
    await client.subscribe("lobby", MESSAGE_ADDED, {"room": "lobby"})
    await client.subscribe("kitchen", 'subscription { messageAdded(room: "kitchen") { text } }')
    await wait_for_subscriptions(server, 2)
    await server.publish("room:kitchen", {"id": 1, "text": "hot", "secret": "x"})
    await server.publish("room:lobby", {"id": 2, "text": "hello", "secret": "x"})
    assert await client.receive_json() == _next("kitchen", "messageAdded", {"text": "hot"})
    assert await client.receive_json() == _next("lobby", "messageAdded", {"id": 2, "text": "hello"})


async def test_tenant_and_user_visibility(make_server: ServerFactory) -> None:
    def on_connect(payload: dict[str, Any] | None, request: RequestInfo) -> dict[str, Any]:
        assert payload is not None
        return {"user_id": payload["user"], "tenant_id": payload["tenant"]}

    server = await make_server(on_connect=on_connect)
    identities = {"ann": ("ann", "acme"), "bob": ("bob", "acme"), "eve": ("eve", "evil")}
    clients: dict[str, Client] = {}
    for name, (user, tenant) in identities.items():
        clients[name] = await server.connect()
        await clients[name].init({"user": user, "tenant": tenant})
        await clients[name].subscribe("n", NOTIFICATION)
    await wait_for_subscriptions(server, 3)
    await server.publish("notification", {"text": "acme-all"}, tenant_id="acme")
    await server.publish("notification", {"text": "acme-bob"}, tenant_id="acme", user_id="bob")
    await server.publish("notification", {"text": "evil-all", "tenant_id": "evil"})
    await server.publish("notification", {"text": "no-tenant"})
    await server.publish("notification", {"text": "eve-in-acme"}, tenant_id="acme", user_id="eve")
    await server.publish("notification", {"text": "end"}, global_event=True)
    expected = {
        "ann": ["acme-all", "end"],
        "bob": ["acme-all", "acme-bob", "end"],
        "eve": ["evil-all", "end"],
    }
    for name, client in clients.items():
        texts: list[str] = []
        while not texts or texts[-1] != "end":
            message = await client.receive_json()
            texts.append(message["payload"]["data"]["notification"]["text"])
        assert texts == expected[name], name
