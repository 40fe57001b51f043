"""The ``fraiseql-subscriptions`` command.

    fraiseql-subscriptions demo [--host 127.0.0.1] [--port 8000] [--bus memory]
                                [--framework fastapi|starlette] [--auth-jwt-secret SECRET]
    fraiseql-subscriptions token --user ann --tenant acme [--name Ann] [--lifetime 3600]
                                 [--secret SECRET]

Both read the secret from ``FRAISEQL_DEMO_JWT_SECRET`` when it is not given as an option, so it
need not show in the process list. ``python -m fraiseql.cli ...`` does the same without the
console script.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fraiseql.subscriptions.manager import SubscriptionManager

__all__ = ["SECRET_VARIABLE", "main"]

#: Where ``demo`` and ``token`` find the JWT secret when no option gives it.
SECRET_VARIABLE = "FRAISEQL_DEMO_JWT_SECRET"


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
        "--transport",
        choices=("python", "native"),
        default="python",
        help="graphql-transport-ws on the web framework at --port/graphql ('python', the default), "
        "or on the native transport (sockets in Rust) at --ws-port/graphql",
    )
    demo.add_argument(
        "--ws-port",
        type=int,
        help="the native transport's TCP port (default: --port + 1; only with --transport native)",
    )
    demo.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="uvicorn's log level (default: %(default)s)",
    )
    demo.add_argument(
        "--auth-jwt-secret",
        metavar="SECRET",
        help="require HS256 JWTs signed with SECRET (at least 32 bytes): in connection_init "
        "({\"token\": ...}) and as 'Authorization: Bearer' on the room endpoints; each token's "
        f"tenant_id claim is a separate chat. Default: the environment variable {SECRET_VARIABLE} "
        "(preferred: an option shows in the process list); neither: no authentication",
    )
    token = commands.add_parser(
        "token",
        help="print an HS256 token for the demo's --auth-jwt-secret mode",
        description="Print a JWT (HS256) the demo accepts: its sub is --user, its tenant_id --tenant.",
    )
    token.add_argument("--user", required=True, help="the user (claim sub)")
    token.add_argument("--tenant", required=True, help="the tenant (claim tenant_id)")
    token.add_argument("--name", help="the name shown as author (claim name; default: the user)")
    token.add_argument(
        "--lifetime", type=int, default=3600, help="seconds until it expires (default: %(default)s)"
    )
    token.add_argument(
        "--secret",
        help=f"the demo's secret (default: the environment variable {SECRET_VARIABLE}, preferred)",
    )
    return parser


def _secret(given: str | None) -> str | None:
    """The option's secret, else the environment's (an empty value counts as none)."""
    if given is not None:
        return given
    return os.environ.get(SECRET_VARIABLE) or None


def _browser_url(host: str, port: int) -> str:
    shown = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _demo(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from fraiseql.demo import create_app
    from fraiseql.demo._board import parse_bus
    from fraiseql.integrations.uvicorn_server import run
    from fraiseql.subscriptions.errors import BusError

    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    if args.ws_port is not None and args.transport != "native":
        parser.error("--ws-port needs --transport native")
    ws_port = args.ws_port if args.ws_port is not None else args.port + 1
    if args.transport == "native" and not 1 <= ws_port <= 65535:
        parser.error(f"--ws-port must be between 1 and 65535, got {ws_port}")
    try:
        bus = parse_bus(args.bus)
    except ValueError as error:
        parser.error(f"--bus: {error}")
    secret = _secret(args.auth_jwt_secret)
    if secret is not None:
        from fraiseql.demo._auth import check_secret

        try:
            check_secret(secret)
        except ValueError as error:
            parser.error(f"--auth-jwt-secret: {error}")
    try:
        app, manager = create_app(
            args.framework,
            args.bus,
            auth_jwt_secret=secret,
            native_ws_port=ws_port if args.transport == "native" else None,
        )
    except BusError as error:  # a bus that cannot be reached: said plainly, no traceback
        print(f"fraiseql-subscriptions demo: {error}", file=sys.stderr, flush=True)
        return 1
    print(f"FraiseQL live chat on {args.framework}; {bus.note}", flush=True)
    if secret is not None:
        print(
            "Authentication is on: HS256 tokens with a tenant_id claim, each tenant a separate chat. "
            f"Get a token with: {SECRET_VARIABLE}=<the same secret> "
            "fraiseql-subscriptions token --user ann --tenant acme",
            flush=True,
        )
    if args.transport == "native":
        print(f"graphql-transport-ws on the native transport: port {ws_port}, path /graphql", flush=True)
    print(f"Open {_browser_url(args.host, args.port)} in a browser (Ctrl+C stops the server)", flush=True)
    # On Ctrl+C uvicorn shuts down gracefully (WebSockets closed with 1001), then re-raises it.
    with contextlib.suppress(KeyboardInterrupt):
        if args.transport == "native":
            try:
                asyncio.run(_serve_with_native(app, manager, args.host, args.port, ws_port, args.log_level))
            except OSError as error:
                message = f"fraiseql-subscriptions demo: cannot serve on port {ws_port}: {error}"
                print(message, file=sys.stderr)
                return 1
        else:
            run(app, manager, host=args.host, port=args.port, log_level=args.log_level)
    print("Stopped.", flush=True)
    return 0


async def _serve_with_native(
    app: Any, manager: SubscriptionManager, host: str, port: int, ws_port: int, log_level: str
) -> None:
    """The page and API through uvicorn, graphql-transport-ws on the native transport; uvicorn's
    shutdown (Ctrl+C) shuts the manager down, which closes the native connections with 1001."""
    from fraiseql.integrations.uvicorn_server import serve
    from fraiseql.subscriptions.native import NativeServer

    # Bound before uvicorn starts: a port in use fails here, before the page is served.
    server = await NativeServer.start(manager, host, ws_port, "/graphql")
    native = asyncio.ensure_future(server.serve_forever())
    try:
        await serve(app, manager, host=host, port=port, log_level=log_level)
    finally:
        native.cancel()
        await asyncio.gather(native, return_exceptions=True)


def _token(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    secret = _secret(args.secret)
    if secret is None:
        parser.error(f"give the demo's secret: set {SECRET_VARIABLE} (or use --secret)")
    if args.lifetime <= 0:
        parser.error(f"--lifetime must be a positive number of seconds, got {args.lifetime}")
    if not args.user.strip() or not args.tenant.strip():
        parser.error("--user and --tenant must not be empty")
    from fraiseql.demo._auth import check_secret
    from fraiseql.subscriptions.jwt_auth import issue_token

    try:
        check_secret(secret)
    except ValueError as error:
        parser.error(str(error))
    claims = {"name": args.name} if args.name else {}
    print(issue_token(secret, user_id=args.user, tenant_id=args.tenant, lifetime=args.lifetime, **claims))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args, parser)
    if args.command == "token":
        return _token(args, parser)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
