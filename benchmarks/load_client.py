"""Load client of ``bench_server.py``: N graphql-transport-ws subscribers in one process.

Opens ``--connections`` WebSockets to a loopback URL, each sends ``connection_init``, waits for
``connection_ack`` and subscribes to::

    subscription { messageAdded(room: "<room>") { id text at } }

then prints ``ready`` on stdout and receives until every connection got ``--expected`` frames, the
``--timeout`` (seconds from ``ready``) passes, or no frame arrived for ``--idle-timeout`` seconds
after the first one. A graphql-transport-ws ``ping`` is answered with ``pong``.

The WebSocket protocol is the ``websockets`` library's Sans-I/O layer (``ClientProtocol``: handshake,
framing, control frames, close) driven from an ``asyncio.Protocol``: frames are handled in the
``data_received`` callback, without a task wake-up per frame, so that the client costs as little
CPU per frame as the library allows (the machine's cores are shared with the server). The
subprotocol is graphql-transport-ws; no compression extension is offered.

For each ``next`` frame it records the ``time.time()`` taken when its bytes were read from the
socket minus the message's ``at`` (``time.time()`` taken by the server right before its publish
call; same machine, same clock). The last stdout line is one JSON object: frames received per
connection, lost frames (expected minus received), frames out of order or duplicated (by the
message's sequence id), latency p50/p90/p99/max in ms, deliveries per second (all frames over the
span from the earliest ``at`` seen to the last receive) and the CPU time this process used while
receiving.

With ``--rate`` (the publisher's schedule, events/s), it also reports the latency from each
event's scheduled publish time, ``base + id / rate``, where ``base`` is ``at - id / rate`` of the
connection's first frame (the first event is published on time). The two latencies differ when
the server's event loop is so busy that the publisher itself runs late: ``at`` is stamped when the
publish actually happens, so the first latency alone would hide that delay.

Runs on the default asyncio event loop, like both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import time
from collections.abc import Sequence
from typing import Any

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidURI
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

PROTOCOL = Subprotocol("graphql-transport-ws")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds of already sorted latencies in seconds."""
    quantiles = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0))
    return {name: percentile(latencies, q) * 1000 for name, q in quantiles}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Subscriber(asyncio.Protocol):
    """One graphql-transport-ws connection with one subscription, and its counters."""

    def __init__(self, index: int, url: str, query: str, expected: int, rate: float) -> None:
        self.index = index
        self.rate = rate
        self.query = query
        self.expected = expected
        self.websocket = ClientProtocol(parse_uri(url), subprotocols=[PROTOCOL])
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.subscribed: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.fragments: list[bytes] = []
        self.received = 0
        self.out_of_order = 0
        self.last_sequence = -1
        self.errors: list[str] = []
        self.latencies: list[float] = []
        self.schedule_base: float | None = None
        self.schedule_latencies: list[float] = []
        self.first_at = math.inf
        self.last_receive = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.websocket.send_request(self.websocket.connect())
        self.flush()

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.websocket.receive_data(data)
        for event in self.websocket.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT or event.opcode is Opcode.CONT:
                    payload = event.data if isinstance(event.data, bytes) else bytes(event.data)
                    if not event.fin:
                        self.fragments.append(payload)
                        continue
                    if self.fragments:
                        self.fragments.append(payload)
                        payload = b"".join(self.fragments)
                        self.fragments.clear()
                    self.on_message(payload, now)
                elif event.opcode is Opcode.BINARY:
                    self.fail(f"unexpected binary frame of {len(event.data)} bytes")
            elif isinstance(event, Response):
                self.on_handshake(event)
        self.flush()

    def eof_received(self) -> bool | None:
        self.websocket.receive_eof()
        self.flush()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        close = self.websocket.close_rcvd
        reason = f"code {close.code} {close.reason!r}" if close is not None else repr(exc)
        self.fail(f"connection closed ({reason})")

    # -- graphql-transport-ws -----------------------------------------------------------------

    def on_handshake(self, response: Response) -> None:
        if self.websocket.handshake_exc is not None:
            self.fail(f"handshake failed: {self.websocket.handshake_exc!r}")
        elif self.websocket.subprotocol != PROTOCOL:
            self.fail(f"server selected subprotocol {self.websocket.subprotocol!r}")
        else:
            self.send({"type": "connection_init", "payload": {}})

    def on_message(self, raw: bytes, now: float) -> None:
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "next":
            try:
                item = message["payload"]["data"]["messageAdded"]
                at = float(item["at"])
                sequence = int(item["id"])
            except (KeyError, TypeError, ValueError):
                self.fail(f"unexpected next message: {raw[:300]!r}")
                return
            self.latencies.append(now - at)
            if self.rate > 0:
                if self.schedule_base is None:
                    self.schedule_base = at - sequence / self.rate
                self.schedule_latencies.append(now - self.schedule_base - sequence / self.rate)
            self.received += 1
            self.last_receive = now
            if at < self.first_at:
                self.first_at = at
            if sequence <= self.last_sequence:
                self.out_of_order += 1
            self.last_sequence = sequence
            if self.received >= self.expected and not self.finished.done():
                self.finished.set_result(None)
        elif kind == "ping":
            self.send({"type": "pong"})
        elif kind == "connection_ack":
            self.send({"id": "1", "type": "subscribe", "payload": {"query": self.query}})
            if not self.subscribed.done():
                self.subscribed.set_result(None)
        elif kind != "pong":
            self.fail(f"unexpected message: {raw[:300]!r}")

    # -- helpers ------------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        self.websocket.send_text(json.dumps(message).encode())
        self.flush()

    def flush(self) -> None:
        transport = self.transport
        if transport is None:
            return
        for chunk in self.websocket.data_to_send():
            if chunk:
                transport.write(chunk)
            elif transport.can_write_eof():
                transport.write_eof()

    def fail(self, error: str) -> None:
        if self.finished.done():
            return
        self.errors.append(error)
        if not self.subscribed.done():
            self.subscribed.set_exception(RuntimeError(f"connection #{self.index}: {error}"))
        self.finished.set_result(None)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.websocket.send_close(1000)
            self.flush()
            self.transport.close()


async def open_subscriber(
    index: int, url: str, query: str, expected: int, rate: float, timeout: float
) -> Subscriber:
    """Connects, initialises and subscribes (subscription id ``"1"``)."""
    uri = parse_uri(url)
    loop = asyncio.get_running_loop()
    subscriber = Subscriber(index, url, query, expected, rate)
    await asyncio.wait_for(loop.create_connection(lambda: subscriber, uri.host, uri.port), timeout)
    try:
        await asyncio.wait_for(asyncio.shield(subscriber.subscribed), timeout)
    except BaseException:
        subscriber.close()
        raise
    return subscriber


async def run(args: argparse.Namespace) -> dict[str, Any]:
    query = f'subscription {{ messageAdded(room: "{args.room}") {{ id text at }} }}'
    semaphore = asyncio.Semaphore(20)

    async def open_one(index: int) -> Subscriber:
        async with semaphore:
            return await open_subscriber(
                index, args.url, query, args.expected, args.rate, args.connect_timeout
            )

    subscribers = list(await asyncio.gather(*(open_one(index) for index in range(args.connections))))
    print("ready", flush=True)

    loop = asyncio.get_running_loop()
    cpu_start = cpu_seconds()
    deadline = loop.time() + args.timeout
    pending = [subscriber.finished for subscriber in subscribers]
    stop_reason = "all frames received"
    while True:
        done, _ = await asyncio.wait(pending, timeout=0.25)
        if len(done) == len(pending):
            if any(subscriber.errors for subscriber in subscribers):
                stop_reason = "every connection finished or failed"
            break
        last = max(subscriber.last_receive for subscriber in subscribers)
        if loop.time() >= deadline:
            stop_reason = f"timeout ({args.timeout:g} s)"
            break
        if last > 0 and time.time() - last > args.idle_timeout:
            stop_reason = f"no frame for {args.idle_timeout:g} s"
            break
    cpu_used = cpu_seconds() - cpu_start
    for subscriber in subscribers:
        subscriber.close()
    await asyncio.sleep(0.1)

    received = [subscriber.received for subscriber in subscribers]
    total = sum(received)
    latencies = sorted(value for subscriber in subscribers for value in subscriber.latencies)
    schedule = sorted(value for subscriber in subscribers for value in subscriber.schedule_latencies)
    first_at = min(subscriber.first_at for subscriber in subscribers)
    last_receive = max(subscriber.last_receive for subscriber in subscribers)
    span = last_receive - first_at if total else math.nan
    errors = [f"#{s.index}: {error}" for s in subscribers for error in s.errors]
    return {
        "connections": args.connections,
        "expected_per_connection": args.expected,
        "received_per_connection": received,
        "received": total,
        "lost": args.expected * args.connections - total,
        "out_of_order": sum(subscriber.out_of_order for subscriber in subscribers),
        "errors": errors[:10],
        "error_count": len(errors),
        "stop_reason": stop_reason,
        "latency_ms": summarize(latencies),
        "schedule_latency_ms": summarize(schedule) if schedule else None,
        "span_s": span,
        "deliveries_per_s": total / span if total and span > 0 else 0.0,
        "client_cpu_s": cpu_used,
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:<port>/graphql")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--expected", type=int, required=True, help="frames expected per connection")
    parser.add_argument("--room", default="bench")
    parser.add_argument("--rate", type=float, default=0.0, help="publisher's schedule, events/s (0: none)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds after ready, at most")
    parser.add_argument("--idle-timeout", type=float, default=10.0)
    parser.add_argument("--connect-timeout", type=float, default=20.0)
    args = parser.parse_args()
    try:
        uri = parse_uri(args.url)
    except InvalidURI as error:
        parser.error(str(error))
    if uri.secure or uri.host not in LOOPBACK_HOSTS:
        parser.error("only ws:// URLs on loopback are allowed")
    result = asyncio.run(run(args))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
