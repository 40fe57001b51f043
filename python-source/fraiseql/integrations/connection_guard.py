"""What one client may hold at the TCP level, whatever the server: connections per address,
connections that have not sent their request yet, and how long those may stay silent; and for
every connection, how long its unsent bytes may stay unsent.

The uvicorn protocols (``uvicorn_protocols.py``) and the ``websockets`` integration call into
one :class:`ConnectionGuard` per server. Everything here is event-driven (a timer per connection,
started and cancelled by the transport's own callbacks): nothing polls, and the hot path (a
frame written to a socket that drains) pays nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fraiseql.subscriptions._logging import EveryInterval, log_bounded
from fraiseql.subscriptions.manager import SubscriptionConfig

__all__ = [
    "SERVICE_UNAVAILABLE",
    "ConnectionGuard",
    "GatedTransport",
    "GuardLimits",
    "WatchedWrites",
    "WriteWatch",
    "peer_address",
]

#: Written to a connection over its address's limit, then closed: a client that sends its request
#: anyway reads a plain answer instead of a reset.
SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 36\r\nRetry-After: 5\r\nConnection: close\r\n\r\n"
    b"Too many connections from your address"
)

# Refused and evicted connections are logged once per kind and interval (a flood must not fill
# the disk).
_refusals = EveryInterval()


@dataclass(frozen=True)
class GuardLimits:
    """The transport-level limits, from :class:`SubscriptionConfig`."""

    handshake_timeout: float
    write_timeout: float
    max_connections_per_address: int | None
    max_pending_connections: int

    @classmethod
    def of(cls, config: SubscriptionConfig) -> GuardLimits:
        return cls(
            handshake_timeout=config.handshake_timeout,
            write_timeout=config.write_timeout,
            max_connections_per_address=config.max_connections_per_address,
            max_pending_connections=config.max_pending_connections,
        )


class ConnectionGuard:
    """Counts a server's TCP connections per client address and times out the silent ones.

    A connection is *pending* from ``opened`` until ``started`` (its request arrived); pending ones
    are closed after ``handshake_timeout`` and, when more than ``max_pending_connections`` wait,
    the oldest is closed to make room, so idle sockets cannot lock new clients out. A connection
    over its address's limit is answered 503 and closed. Counters exist only for addresses with
    open connections.
    """

    def __init__(self, limits: GuardLimits, counts: Counter[str] | None = None) -> None:
        self.limits = limits
        self._per_address: Counter[str] = Counter()
        self._addresses: dict[object, str] = {}
        # Pending connections, oldest first: key -> (close it, its handshake timer).
        self._pending: OrderedDict[object, tuple[Callable[[], None], asyncio.TimerHandle]] = OrderedDict()
        #: What the guard did: ``refused``, ``evicted``, ``handshake_timeout``, ``write_timeout``
        #: (``counts``: a counter to add to, e.g. the manager's ``stats.connections_dropped``,
        #: which the metrics export).
        self.counts: Counter[str] = Counter() if counts is None else counts

    def opened(self, key: object, address: str | None, close: Callable[[], None]) -> bool:
        """A new connection (``key``: its transport). False when its address is at its limit: the
        caller answers 503 and closes it (it is not counted)."""
        address = address or "unknown"
        limit = self.limits.max_connections_per_address
        if limit is not None and self._per_address[address] >= limit and not self._evict_silent(address):
            self._note(
                "refused", "connection from %s refused: %d connections from it already", address, limit
            )
            return False
        self._per_address[address] += 1
        self._addresses[key] = address
        timer = asyncio.get_running_loop().call_later(self.limits.handshake_timeout, self._expire, key)
        self._pending[key] = (close, timer)
        while len(self._pending) > self.limits.max_pending_connections:
            oldest, (close_oldest, oldest_timer) = self._pending.popitem(last=False)
            oldest_timer.cancel()
            self._note(
                "evicted", "closed a silent connection from %s to make room", self._addresses.get(oldest)
            )
            close_oldest()
        return True

    def _evict_silent(self, address: str) -> bool:
        """Closes the oldest connection from ``address`` that has not sent its request yet (its
        place goes to the new one): False when it has none."""
        for key in self._pending:
            if self._addresses.get(key) == address:
                close, timer = self._pending.pop(key)
                timer.cancel()
                self._note("evicted", "closed a silent connection from %s to make room", address)
                close()
                self.closed(key)
                return True
        return False

    def started(self, key: object) -> None:
        """Its request arrived: no longer pending."""
        pending = self._pending.pop(key, None)
        if pending is not None:
            pending[1].cancel()

    def closed(self, key: object) -> None:
        """The connection is gone (idempotent)."""
        self.started(key)
        address = self._addresses.pop(key, None)
        if address is not None:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]

    def _expire(self, key: object) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            self._note(
                "handshake_timeout",
                "closed a connection from %s: no request in time",
                self._addresses.get(key),
            )
            pending[0]()

    def watch_writes(self, transport: GatedTransport, address: str | None) -> WriteWatch:
        """A write watch for one connection (see :class:`WriteWatch`)."""
        return WriteWatch(self, transport, address)

    def _note(self, kind: str, message: str, *args: object) -> None:
        self.counts[kind] += 1
        log_bounded(_refusals, kind, logging.WARNING, f"connection.{kind}", message, *args)

    @property
    def open_connections(self) -> int:
        return len(self._addresses)

    @property
    def pending_connections(self) -> int:
        return len(self._pending)


class GatedTransport:
    """A transport whose reading stops while either the application's flow control or the
    unsent bytes (``hold_for_writes``) say so, and resumes only when neither does.

    Servers pause and resume reading for their own reasons (a full incoming queue); a connection
    whose peer does not read what it is sent must not be read from either, or its pings (each
    answered with a pong) would grow the unsent bytes without bound.
    """

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        # The hot calls, bound once (not looked up through __getattr__ per frame).
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.get_extra_info = transport.get_extra_info
        self._flow_paused = False
        self._writes_held = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    def pause_reading(self) -> None:
        self._flow_paused = True
        self._apply()

    def resume_reading(self) -> None:
        self._flow_paused = False
        self._apply()

    def hold_for_writes(self, held: bool) -> None:
        self._writes_held = held
        self._apply()

    def _apply(self) -> None:
        if self.transport.is_closing():
            return
        if self._flow_paused or self._writes_held:
            if self.transport.is_reading():
                self.transport.pause_reading()
        elif not self.transport.is_reading():
            self.transport.resume_reading()


class WriteWatch:
    """Aborts a connection whose unsent bytes stay above the transport's high-water mark for
    ``write_timeout`` seconds (a client that stopped reading), and stops reading from it meanwhile.

    Driven by the protocol's ``pause_writing``/``resume_writing`` callbacks: a timer runs only
    while the transport is paused.
    """

    def __init__(self, guard: ConnectionGuard, transport: GatedTransport, address: str | None) -> None:
        self._guard = guard
        self._transport = transport
        self._address = address
        self._timer: asyncio.TimerHandle | None = None

    def paused(self) -> None:
        self._transport.hold_for_writes(True)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(
                self._guard.limits.write_timeout, self._expire
            )

    def resumed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.hold_for_writes(False)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._guard._note(
            "write_timeout", "aborted a connection from %s: it does not read what it is sent", self._address
        )
        # abort(), not close(): close() would wait for the unsent bytes to drain, which they don't.
        self._transport.transport.abort()


def peer_address(transport: asyncio.BaseTransport) -> str | None:
    """The client's IP address (what connections are counted by), if the transport has one."""
    peer = transport.get_extra_info("peername")
    if isinstance(peer, (tuple, list)) and peer:
        return str(peer[0])
    return None


class WatchedWrites(asyncio.Protocol):
    """For a WebSocket protocol class (uvicorn's or the websockets library's): its transport gated
    and its unsent bytes followed by a :class:`WriteWatch` (see :meth:`watch`), the flow-control
    callbacks forwarded to the watch, and the guard told when the connection is lost."""

    _guard: ConnectionGuard | None = None
    _guard_key: Any = None
    _write_watch: WriteWatch | None = None

    def watch(self, guard: ConnectionGuard, transport: asyncio.Transport) -> GatedTransport:
        """The gated transport the protocol is to use instead of ``transport``."""
        gated = GatedTransport(transport)
        self._guard, self._guard_key = guard, transport
        self._write_watch = guard.watch_writes(gated, peer_address(transport))
        return gated

    def connection_lost(self, exc: Exception | None) -> None:
        if self._write_watch is not None:
            self._write_watch.stop()
        if self._guard is not None:
            self._guard.closed(self._guard_key)
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_watch is not None:
            self._write_watch.paused()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_watch is not None:
            self._write_watch.resumed()
