"""A server process for the cross-process bus tests (also runnable by hand):

    python -m tests.buses.server --bus redis --name GROUP --port 8001

FastAPI with graphql-transport-ws at /graphql serving ``tick(stream: String!)`` (channel
``tick:{stream}``) and ``orderChanged(id: Int!)`` (channel ``order:{id}``), on a Redis or
PostgreSQL bus of its own name. It prints ``READY <bus id>`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from fastapi import FastAPI

from fraiseql.integrations.fastapi import SubscriptionRouterFactory
from fraiseql.integrations.uvicorn_server import SubscriptionServer
from fraiseql.subscriptions import SubscriptionConfig, SubscriptionManager
from tests.buses.services import bus_config


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bus", choices=("redis", "postgresql"), required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    manager = SubscriptionManager(
        SubscriptionConfig(bus=bus_config(args.bus, args.name), keepalive_interval=None)
    )
    manager.add_field("tick", channel="tick:{stream}")
    manager.add_field("orderChanged", channel="order:{id}")
    app = FastAPI()
    app.include_router(SubscriptionRouterFactory.create(manager))
    server = SubscriptionServer(
        uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="off"), manager
    )
    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.01)
    print(f"READY {manager.executor.bus_id}", flush=True)
    await serving


if __name__ == "__main__":
    asyncio.run(main())
