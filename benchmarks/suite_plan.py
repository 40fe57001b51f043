"""What the full benchmark run measures (``bench_suite.py --plan``): the scenarios' sizes and rates.

``full`` is the run the report comes from (about 13 minutes on a 2-core machine); ``quick``
runs every scenario for every system with fewer rates and shorter spans (a few minutes), to
check that everything works; ``smoke`` is the test suite's seconds-long variant (tiny numbers:
nothing it prints is a figure).

The fan-out rates are chosen so that every subscriber count meets the same offered loads in
deliveries/s (``rate * subscribers``). A server's sweep stops at the first rate it could not keep
up with (``keeps_up``): the higher ones would only measure a longer backlog.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Offered deliveries/s of the fan-out sweeps: every subscriber count meets the same loads.
FULL_OFFERED = (10_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)


def rates_for(subscribers: int, offered: tuple[int, ...]) -> tuple[float, ...]:
    return tuple(load / subscribers for load in offered)


@dataclass(frozen=True)
class Plan:
    name: str
    #: subscribers -> events/s of the paced fan-out runs.
    fanout: dict[int, tuple[float, ...]]
    fanout_duration_s: float
    #: Seconds the client waits after the last event before counting the missing frames as lost.
    grace_s: float
    #: Frames (events x subscribers) of one burst, for each subscriber count of ``fanout``.
    burst_frames: int
    burst_timeout_s: float
    rooms_subscribers: int
    rooms_rates: tuple[float, ...]
    storm_connections: int
    storm_events: int
    memory_connections: int
    #: Arguments of bench_engine.py (the engine alone).
    engine_arguments: tuple[str, ...]
    #: server -> (subscriber count above which it is not measured, why): a cap stated in the report.
    caps: dict[str, tuple[int, str]] = field(default_factory=dict)

    def cap_for(self, server: str, subscribers: int) -> str | None:
        """Why ``server`` is not measured with ``subscribers``, or ``None`` when it is."""
        cap = self.caps.get(server)
        if cap is not None and subscribers > cap[0]:
            return cap[1]
        return None

    def connections_for(self, server: str, connections: int) -> int:
        """The storm's and memory scenario's size for ``server``: capped like its fan-out."""
        cap = self.caps.get(server)
        return min(connections, cap[0]) if cap is not None else connections

    def to_json(self) -> dict[str, Any]:
        plan = asdict(self)
        plan["fanout"] = {str(subscribers): rates for subscribers, rates in self.fanout.items()}
        plan["caps"] = {server: {"max": cap[0], "reason": cap[1]} for server, cap in self.caps.items()}
        return plan


SLOW_PYTHON_CAP = (
    1_000,
    "measured up to 1,000 connections (storm and memory with 1,000): on a 2-core machine one "
    "10,000-connection run of this server takes minutes (connecting alone), more than the whole "
    "run's budget allows",
)

PLANS = {
    "full": Plan(
        name="full",
        fanout={
            100: rates_for(100, FULL_OFFERED),
            1_000: rates_for(1_000, FULL_OFFERED),
            10_000: rates_for(10_000, FULL_OFFERED[:4]),
        },
        fanout_duration_s=3.0,
        grace_s=5.0,
        burst_frames=200_000,
        burst_timeout_s=60.0,
        rooms_subscribers=1_000,
        rooms_rates=(1_000, 2_000, 5_000, 10_000, 20_000, 50_000),
        storm_connections=10_000,
        storm_events=5,
        memory_connections=10_000,
        engine_arguments=(),
        caps={"strawberry": SLOW_PYTHON_CAP, "fraiseql": SLOW_PYTHON_CAP},
    ),
    "quick": Plan(
        name="quick",
        fanout={100: (500.0, 5_000.0), 1_000: (50.0, 500.0), 10_000: (5.0,)},
        fanout_duration_s=2.0,
        grace_s=3.0,
        burst_frames=50_000,
        burst_timeout_s=30.0,
        rooms_subscribers=1_000,
        rooms_rates=(2_000, 20_000),
        storm_connections=10_000,
        storm_events=3,
        memory_connections=2_000,
        engine_arguments=("--quick",),
        caps={"strawberry": SLOW_PYTHON_CAP, "fraiseql": SLOW_PYTHON_CAP},
    ),
    "smoke": Plan(
        name="smoke",
        fanout={5: (20.0,), 20: (5.0, 20.0)},
        fanout_duration_s=0.5,
        grace_s=3.0,
        burst_frames=200,
        burst_timeout_s=30.0,
        rooms_subscribers=10,
        rooms_rates=(50.0,),
        storm_connections=50,
        storm_events=2,
        memory_connections=20,
        engine_arguments=("--quick",),
    ),
}


def keeps_up(record: dict[str, Any]) -> bool:
    """Whether a paced run kept up: (almost) nothing lost, the publisher on schedule."""
    client, publish = record["client"], record["publish"]
    expected = client["expected_per_connection"] * client["connections"]
    lost_share = client["lost"] / expected if expected else 0.0
    on_schedule = publish["achieved_rate"] >= 0.9 * record["rate"]
    schedule_latency = client.get("schedule_latency_ms") or {}
    late = float(schedule_latency.get("p99", 0.0)) > 1_000.0
    return lost_share <= 0.01 and on_schedule and not late
