"""``fraiseql_app`` run the way the project recommends: ``fraiseql.integrations.uvicorn_server.run``
(the manager's limits where the bytes arrive, frames written a batch at a time, uvloop and
httptools when installed). ``bench_server.py`` starts it as the ``fraiseql-serve`` server.

Usage: ``python serve_fraiseql.py --host 127.0.0.1 --port 8000``
"""

from __future__ import annotations

import argparse

from fraiseql.integrations.uvicorn_server import run
from fraiseql_app import app, manager


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    options = parser.parse_args()
    run(app, manager, host=options.host, port=options.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
