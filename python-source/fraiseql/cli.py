"""The ``fraiseql-subscriptions`` command.

    fraiseql-subscriptions demo [--host 127.0.0.1] [--port 8000] [--bus memory]
                                [--framework fastapi|starlette]

``python -m fraiseql.cli demo ...`` does the same without the console script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fraiseql-subscriptions", description="FraiseQL Subscriptions: GraphQL subscriptions for Python."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the live chat demo (a web page, a small HTTP API and graphql-transport-ws)",
        description="Serve the live chat demo: open the printed URL in one or more browser windows.",
    )
    demo.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    demo.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    demo.add_argument(
        "--bus",
        default="memory",
        help="event bus: 'memory' (default), a redis:// URL or a postgresql:// connection string; "
        "demo processes on one Redis or PostgreSQL bus form one chat",
    )
    demo.add_argument(
        "--framework",
        choices=("fastapi", "starlette"),
        default="fastapi",
        help="web framework (default: %(default)s)",
    )
    demo.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="uvicorn's log level (default: %(default)s)",
    )
    return parser


def _browser_url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from fraiseql.demo import create_app
    from fraiseql.demo._board import parse_bus
    from fraiseql.integrations.uvicorn_server import serve
    from fraiseql.subscriptions.errors import BusError

    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        bus = parse_bus(args.bus)
    except ValueError as error:
        parser.error(f"--bus: {error}")
    try:
        app, manager = create_app(args.framework, args.bus)
    except BusError as error:  # a bus that cannot be reached: said plainly, no traceback
        print(f"fraiseql-subscriptions demo: {error}", file=sys.stderr, flush=True)
        return 1
    print(f"FraiseQL live chat on {args.framework}; {bus.note}", flush=True)
    print(f"Open {_browser_url(args.host, args.port)} in a browser (Ctrl+C stops the server)", flush=True)
    # On Ctrl+C uvicorn shuts down gracefully (WebSockets closed with 1001), then re-raises it.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(app, manager, host=args.host, port=args.port, log_level=args.log_level))
    print("Stopped.", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args, parser)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
