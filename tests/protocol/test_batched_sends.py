"""The writer hands the server whole batches when it can (``serve()``'s uvicorn protocol: one
socket write per batch); frames still arrive complete and in order."""

from __future__ import annotations

from fraiseql.subscriptions.protocols.graphql_transport_ws.handlers import GraphQLTransportWSHandler
from tests.protocol.harness import COUNTER, RunningServer, engine_is_empty, wait_for_subscriptions, wait_until


async def test_frames_published_in_a_burst_arrive_in_order(server: RunningServer) -> None:
    client = await server.connect()
    await client.init()
    await client.subscribe("c", COUNTER)
    await wait_for_subscriptions(server, 1)
    (handler,) = server.manager._connections
    if server.native is None:
        assert isinstance(handler, GraphQLTransportWSHandler)
        # uvicorn through bounded_config (what serve() runs) writes batches; the websockets
        # library integration sends frame by frame.
        assert handler.websocket.sends_batches is (server.integration != "websockets")
    # The native server always writes what is queued in batches (one flush each), in Rust.
    executor = server.manager.executor
    for n in range(500):  # without yielding: the writer finds them queued together
        executor.publish_event(f"e{n}", "counter", {"n": n})
    for n in range(500):
        message = await client.receive_json()
        assert message == {"id": "c", "type": "next", "payload": {"data": {"counter": {"n": n}}}}
    assert server.metrics()["frames_delivered"] >= 500
    if server.native is not None:
        stats = server.native.endpoint.stats()
        assert stats["frames_sent"] == 500
        assert 1 <= stats["frame_writes"] <= 500


async def test_a_batch_for_a_closed_socket_frees_the_connection(server: RunningServer) -> None:
    client = await server.connect()
    await client.init()
    await client.subscribe("c", COUNTER)
    await wait_for_subscriptions(server, 1)
    client.abort()
    for n in range(100):
        server.manager.executor.publish_event(f"e{n}", "counter", {"n": n})
    await wait_until(engine_is_empty(server), what="the aborted connection freed")
