"""A publisher process for the cross-process bus tests:

    python -m tests.buses.publisher --bus redis --name GROUP --who a --count 5000 --stream s

Publishes ``{"who": <who>, "n": 0..count-1}`` on ``tick:<stream>`` through the bus, in order,
with the executor's plain (blocking) ``publish_event``, then exits 0.
"""

from __future__ import annotations

import argparse

from fraiseql.subscriptions import PySubscriptionExecutor
from tests.buses.services import bus_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bus", choices=("redis", "postgresql"), required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--who", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--stream", default="s")
    parser.add_argument("--padding", type=int, default=0, help="bytes of filler in each event")
    args = parser.parse_args()
    executor = PySubscriptionExecutor(bus_config(args.bus, args.name))
    channel = f"tick:{args.stream}"
    for n in range(args.count):
        data: dict[str, object] = {"who": args.who, "n": n}
        if args.padding:
            data["padding"] = "x" * args.padding
        executor.publish_event("tick", channel, data)
    executor.shutdown()


if __name__ == "__main__":
    main()
