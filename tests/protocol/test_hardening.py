"""Hostile clients over real sockets, on every integration: each bound holds where the bytes
arrive. Memory is read from /proc; nothing here asserts on time (timeouts are set short so the
tests are quick, and only "within TIMEOUT" is checked)."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import pytest

from fraiseql.integrations.bounded_logging import bounded_server_logs
from tests.protocol.conftest import ServerFactory
from tests.protocol.harness import (
    COUNTER,
    RunningServer,
    engine_is_empty,
    scrape,
    wait_for_subscriptions,
    wait_until,
)
from tests.protocol.raw import RawSocket, closing, ws_frame

MiB = 1024 * 1024


def rss() -> int:
    """Resident memory of this process (server and clients), in bytes."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def assert_still_serves(server: RunningServer) -> None:
    """A new client subscribes and receives an event."""
    client = await server.connect()
    await client.init()
    await client.subscribe("probe", COUNTER)
    await wait_until(lambda: server.metrics()["active_subscriptions"] >= 1, what="the probe's subscription")
    await server.publish("counter", {"n": 42})
    assert (await client.receive_json())["payload"] == {"data": {"counter": {"n": 42}}}
    await client.close()


def dropped(server: RunningServer, reason: str) -> float:
    """The Prometheus count of connections the transport dropped for ``reason``."""
    return scrape(server).get(f"fraiseql_subscriptions_connections_dropped_total{{reason={reason}}}", 0.0)


# -- 1. oversized messages are refused from their header -----------------------------------------


async def test_oversized_messages_are_refused_before_they_are_read(make_server: ServerFactory) -> None:
    """20 clients each start a 16 MiB message before connection_init: the server refuses each
    from its frame header (1009, then the connection is closed: the client may only see the
    reset, the rest of its message being unread) and never takes in the payloads."""
    server = await make_server()
    before = rss()
    with closing([await RawSocket.open(server) for _ in range(20)]) as sockets:
        sent = await asyncio.gather(*(raw.stream_frame(1, 16 * MiB) for raw in sockets))
        closed = await asyncio.gather(*(raw.closed_by_server() for raw in sockets))
        grown = rss() - before
    assert all(closed)
    assert max(sent) < 16 * MiB, "a whole oversized message was taken in"
    assert grown < 100 * MiB, f"RSS grew by {grown / MiB:.0f} MiB"
    await wait_until(engine_is_empty(server), what="cleanup")
    await assert_still_serves(server)


# -- 2. distinct large documents -------------------------------------------------------------------


def large_document(tag: int) -> str:
    """27 KB, nine thousand selections of one field, distinct per tag (once 2 MiB compiled)."""
    return f"# {tag}\nsubscription {{ counter {{ " + " ".join(["n"] * 9000) + " } }"


#: Compiling is slow on a loaded 2-core machine (16 ms a document in the dev build): an upper
#: bound for it all, never a speed assertion.
COMPILE_TIMEOUT = 120.0


async def subscribe_distinct_documents(server: RunningServer, tags: range, registered: int) -> None:
    """Subscribes (and completes) each document on a connection of its own, and closes it once
    the server has registered ``registered`` subscriptions in all (a close sent earlier could
    overtake messages still waiting for a compile)."""
    client = await server.connect()
    await client.init()
    for tag in tags:
        await client.subscribe(str(tag), large_document(tag))
        await client.complete(str(tag))
    await wait_until(
        lambda: server.metrics()["subscriptions_registered"] >= registered,
        timeout=COMPILE_TIMEOUT,
        what="the documents registered",
    )
    await client.close()


async def test_distinct_large_documents_are_bounded_by_the_cache_budget(make_server: ServerFactory) -> None:
    """300 distinct 27 KB documents from three clients at once: each is compiled (in a worker
    thread) and registered, the cache stays within its byte budget and RSS grows by far less
    than the 600 MiB it once took."""
    server = await make_server(max_subscribes_per_second=None, max_messages_per_second=None)
    before = rss()
    await asyncio.gather(*(subscribe_distinct_documents(server, range(n, 300, 3), 300) for n in range(3)))
    await wait_until(engine_is_empty(server), what="cleanup")
    grown = rss() - before
    metrics = server.metrics()
    assert metrics["subscriptions_registered"] == 300  # none refused
    assert metrics["cached_documents"] == 300
    assert 0 < metrics["cached_document_bytes"] <= server.manager.config.document_cache_bytes
    assert grown < 150 * MiB, f"RSS grew by {grown / MiB:.0f} MiB"
    await assert_still_serves(server)


async def test_the_document_cache_budget_holds_over_sockets(make_server: ServerFactory) -> None:
    server = await make_server(
        max_subscribes_per_second=None, max_messages_per_second=None, document_cache_bytes=256 * 1024
    )
    await subscribe_distinct_documents(server, range(40), 40)
    metrics = server.metrics()
    assert metrics["cached_document_bytes"] <= 256 * 1024
    assert 1 <= metrics["cached_documents"] < 40
    await assert_still_serves(server)


# -- 3. a ping flood from a client that never reads ------------------------------------------------

PINGS = b"".join(ws_frame(9, b"p" * 125) for _ in range(1000))  # 131 KB of pings


async def test_a_ping_flood_from_a_client_that_never_reads_is_cut_off(make_server: ServerFactory) -> None:
    """WebSocket pings, each answered with a pong the client never reads: the server stops
    reading once its unsent bytes are over the high-water mark, then aborts the connection after
    write_timeout."""
    server = await make_server(write_timeout=0.5)
    before = rss()
    with closing([await RawSocket.open(server)]) as (raw,):
        await raw.send(ws_frame(1, b'{"type":"connection_init"}'))
        sent = 0
        while sent < 512 * MiB and await raw.send(PINGS):
            sent += len(PINGS)
        grown = rss() - before
        assert sent < 512 * MiB, "the server kept reading pings it could not answer"
        assert await raw.closed_by_server()
    assert grown < 64 * MiB, f"RSS grew by {grown / MiB:.0f} MiB"
    assert server.guard.counts["write_timeout"] == 1
    assert dropped(server, "write_timeout") == 1
    await wait_until(engine_is_empty(server), what="cleanup")
    await assert_still_serves(server)


# -- 4. a client that stops reading while large events flow ----------------------------------------


async def test_a_stalled_reader_is_disconnected_within_the_write_timeout(make_server: ServerFactory) -> None:
    server = await make_server(write_timeout=0.5, keepalive_interval=None)
    with closing([await RawSocket.open(server)]) as (raw,):
        await raw.send(ws_frame(1, b'{"type":"connection_init"}'))
        assert (await raw.read_frame())[1] == b'{"type":"connection_ack"}'
        await raw.send(
            ws_frame(
                1, b'{"id":"1","type":"subscribe","payload":{"query":"subscription { counter { n pad } }"}}'
            )
        )
        await wait_for_subscriptions(server, 1)
        # The client reads nothing more; events of 64 KB each keep coming.
        pad = "x" * 65536
        for n in range(5000):
            if server.metrics()["active_connections"] == 0:
                break
            await server.publish("counter", {"n": n, "pad": pad})
            await asyncio.sleep(0.001)
        await wait_until(engine_is_empty(server), what="the stalled connection freed")
        assert await raw.closed_by_server()
    assert server.guard.counts["write_timeout"] == 1
    await assert_still_serves(server)


async def test_a_stalled_reader_does_not_hold_others_back(make_server: ServerFactory) -> None:
    """While one client has stopped reading (13 MB queued toward it, far beyond what the socket
    buffers take), another client receives every event; the stalled one is still connected
    (its write_timeout is long), so nothing waited for it."""
    server = await make_server(write_timeout=60.0, keepalive_interval=None)
    with closing([await RawSocket.open(server)]) as (stalled,):
        await stalled.send(ws_frame(1, b'{"type":"connection_init"}'))
        assert (await stalled.read_frame())[1] == b'{"type":"connection_ack"}'
        await stalled.send(
            ws_frame(
                1, b'{"id":"1","type":"subscribe","payload":{"query":"subscription { counter { n pad } }"}}'
            )
        )
        reader = await server.connect()
        await reader.init()
        await reader.subscribe("1", "subscription { counter { n } }")
        await wait_for_subscriptions(server, 2)
        pad = "x" * 65536
        for n in range(200):
            await server.publish("counter", {"n": n, "pad": pad})
        for n in range(200):
            assert (await reader.receive_json())["payload"] == {"data": {"counter": {"n": n}}}
        assert server.metrics()["active_connections"] == 2
        await reader.close()


# -- 5. idle sockets, silent handshakes, connections per address -----------------------------------


async def test_silent_connections_are_closed_after_the_handshake_timeout(make_server: ServerFactory) -> None:
    server = await make_server(handshake_timeout=0.3)
    with closing([await RawSocket.open(server, upgrade=False) for _ in range(2)]) as (idle, slow):
        await slow.send(b"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        assert await idle.closed_by_server()
        assert await slow.closed_by_server()
    await wait_until(lambda: server.guard.open_connections == 0, what="the guard's counts back to zero")
    await wait_until(lambda: dropped(server, "handshake_timeout") == 2, what="both counted")


async def test_idle_sockets_cannot_lock_new_clients_out(make_server: ServerFactory) -> None:
    """3,000 sockets that never send a request, from one address: the oldest silent ones are
    closed to make room, and a new client is served."""
    server = await make_server(max_connections_per_address=None)
    opened: list[RawSocket] = []
    with closing(opened):
        for _ in range(3000):
            opened.append(await RawSocket.open(server, upgrade=False))
        await wait_until(
            lambda: server.guard.pending_connections <= server.manager.config.max_pending_connections,
            what="pending connections within their bound",
        )
        await assert_still_serves(server)
        assert server.guard.counts["evicted"] >= 3000 - server.manager.config.max_pending_connections
        assert dropped(server, "evicted") >= server.guard.counts["evicted"]


async def test_connections_beyond_the_per_address_limit_get_503(make_server: ServerFactory) -> None:
    server = await make_server(max_connections_per_address=3)
    clients = [await server.connect() for _ in range(3)]
    for client in clients:
        await client.init()
    with closing([await RawSocket.open(server, upgrade=False)]) as (refused,):
        answer = await refused.read_http()
    assert answer.startswith(b"HTTP/1.1 503 "), answer[:100]
    # Another address is not affected.
    with closing([await RawSocket.open(server, source="127.0.0.3")]) as (other,):
        await other.send(ws_frame(1, b'{"type":"connection_init"}'))
        assert (await other.read_frame())[1] == b'{"type":"connection_ack"}'
    # Silent connections of a full address make room for a new one.
    await clients[0].close()
    await wait_until(lambda: server.guard.open_connections <= 3, what="a place freed")
    with closing([await RawSocket.open(server, upgrade=False) for _ in range(3)]):
        await assert_still_serves(server)
    assert server.guard.counts["evicted"] >= 1
    assert dropped(server, "refused") >= 1


# -- 6. logs stay bounded -----------------------------------------------------------------------------


async def test_a_flood_of_invalid_frames_leaves_a_few_log_lines_without_tracebacks(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_server()
    with bounded_server_logs(), caplog.at_level(logging.INFO):
        for _ in range(100):
            with closing([await RawSocket.open(server)]) as (raw,):
                await raw.send(ws_frame(1, b"\xff\xfe not utf-8"))
                assert await raw.close_code() == 1007
        await wait_until(engine_is_empty(server), what="cleanup")
    noisy = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(noisy) <= 20, [record.getMessage() for record in noisy][:5]
    assert not [record for record in caplog.records if record.exc_info], (
        "a client's mistake logged a traceback"
    )


# -- waves: memory stops growing ----------------------------------------------------------------------


@pytest.mark.slow
async def test_waves_of_attacks_do_not_grow_the_process(make_server: ServerFactory) -> None:
    server = await make_server(write_timeout=0.3, keepalive_interval=None)

    async def wave() -> None:
        with closing([await RawSocket.open(server) for _ in range(5)]) as oversized:
            await asyncio.gather(*(raw.stream_frame(1, 4 * MiB) for raw in oversized))
        with closing([await RawSocket.open(server)]) as (flooder,):
            while await flooder.send(PINGS):
                pass
        with closing([await RawSocket.open(server, upgrade=False) for _ in range(200)]):
            await assert_still_serves(server)
        await wait_until(engine_is_empty(server), what="cleanup")

    sizes = []
    for _ in range(6):
        await wave()
        sizes.append(rss())
    growth = sizes[-1] - sizes[1]
    assert growth < 32 * MiB, f"RSS per wave: {[size // MiB for size in sizes]} MiB"
