"""``fraiseql_app`` with its subscriptions on the ``websockets`` integration (the ``websockets``
library's asyncio server, ``fraiseql.integrations.custom_server_example.start_server``) on
``--ws-port``, and the HTTP endpoints the benchmark drives (``/health``, ``/stats``,
``/publish_loop``) on ``--port`` through uvicorn, both on one event loop.
``bench_suite.py`` starts it as the ``fraiseql-websockets`` server.

Usage: ``python serve_websockets.py --host 127.0.0.1 --port 8000 --ws-port 8001``
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from fraiseql.integrations.custom_server_example import start_server
from fraiseql_app import app, manager


async def main_async(host: str, port: int, ws_port: int) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    http = uvicorn.Server(config)
    websockets_server = await start_server(manager, host=host, port=ws_port, path="/graphql")
    try:
        await http.serve()
    finally:
        websockets_server.close()
        await websockets_server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ws-port", type=int, default=8001)
    options = parser.parse_args()
    asyncio.run(main_async(options.host, options.port, options.ws_port))


if __name__ == "__main__":
    main()
