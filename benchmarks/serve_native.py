"""``fraiseql_app`` with its subscriptions on the native transport: ``manager.serve()`` (sockets in
Rust) on ``--ws-port``, the HTTP endpoints the benchmark drives (``/health``, ``/stats``,
``/publish_loop``) on ``--port`` through uvicorn, both on one event loop.
``bench_server.py`` starts it as the ``fraiseql-native`` server.

Usage: ``python serve_native.py --host 127.0.0.1 --port 8000 --ws-port 8001``
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from fraiseql_app import app, manager


async def main_async(host: str, port: int, ws_port: int) -> None:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
    http = uvicorn.Server(config)
    native = asyncio.ensure_future(manager.serve(host=host, port=ws_port, path="/graphql"))
    try:
        await http.serve()
    finally:
        native.cancel()
        await asyncio.gather(native, return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--ws-port", type=int, default=8001)
    options = parser.parse_args()
    asyncio.run(main_async(options.host, options.port, options.ws_port))


if __name__ == "__main__":
    main()
