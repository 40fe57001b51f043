"""What the protocol handlers count, beside the engine's own metrics (``executor.get_metrics()``).

Plain integers bumped on the loop thread: a handler adds to them once per connection event or
once per batch of frames written, never per subscriber.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ServerStats:
    """Counters of one manager's connections (all totals since the manager was made)."""

    #: Connections whose ``connection_init`` was accepted (``connection_ack`` sent).
    connections_acknowledged: int = 0
    #: Connections the server closed, by close code (4403 refused, 4408 init timeout, 4400 bad
    #: message, 1009 too big, 4504 keep-alive timeout, 1001 shutdown, ...).
    closed_by_server: Counter[int] = field(default_factory=Counter)
    #: Frames written to sockets.
    frames_sent: int = 0
    #: ``subscribe`` messages answered with an ``error``, by ``extensions.code``
    #: (``GRAPHQL_VALIDATION_FAILED`` when the error carries none).
    subscriptions_refused: Counter[str] = field(default_factory=Counter)
    #: Times a client reached a limit, by limit (``connections``, ``connections_per_user``,
    #: ``message_size``, ``messages_per_second``, ``subscribes_per_second``,
    #: ``subscriptions_per_connection``).
    limits_reached: Counter[str] = field(default_factory=Counter)
    #: Connections closed with 4403, by reason: ``refused`` (``on_connect`` refused them) or
    #: ``expired`` (their context's ``expires_at`` passed).
    authentication_failures: Counter[str] = field(default_factory=Counter)
    #: TCP connections the transport closed outside the protocol, by reason: ``refused`` (503,
    #: their address at ``max_connections_per_address``), ``evicted`` (still silent, closed to
    #: make room), ``handshake_timeout``, ``write_timeout`` (unsent bytes stuck too long). The
    #: Python integrations' ``ConnectionGuard`` and the native server both count here.
    connections_dropped: Counter[str] = field(default_factory=Counter)
