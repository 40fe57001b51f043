"""Subscriptions on Starlette, as the seeds' quick reference runs it:

    cd examples/subscriptions-starlette && python app.py [--port 8000]

then open http://127.0.0.1:8000/ (examples/client.html) and post messages there. Needs
``pip install 'fraiseql-subscriptions[starlette]'`` (or ``scripts/setup.sh`` and ``.venv/bin/python``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from fraiseql.integrations.starlette import create_subscription_app
from fraiseql.integrations.uvicorn_server import serve
from fraiseql.subscriptions import SubscriptionManager, subscription

CLIENT_PAGE = Path(__file__).resolve().parent.parent / "client.html"


@dataclass
class Message:
    id: str
    text: str


@subscription(channel="room:{room}")
def messageAdded(event: dict[str, str], *, room: str) -> Message:
    """A sync resolver: it runs in a worker thread, never on the event loop."""
    return Message(id=event["id"], text=event["text"])


manager = SubscriptionManager(fields=[messageAdded])


async def post_message(request: Request) -> Response:
    try:
        text = json.loads(await request.body())["text"]
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": 'send {"text": "..."}'}, status_code=400)
    if not isinstance(text, str):
        return JSONResponse({"error": "text must be a string"}, status_code=400)
    event = {"id": uuid.uuid4().hex, "text": text}
    await manager.publish(f"room:{request.path_params['room']}", event)
    return JSONResponse(event, status_code=201)


async def client_page(request: Request) -> Response:
    return FileResponse(CLIENT_PAGE)


app = create_subscription_app(
    Starlette(
        routes=[Route("/", client_page), Route("/rooms/{room}/messages", post_message, methods=["POST"])]
    ),
    manager,
)  # ws://HOST:PORT/graphql

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="FraiseQL subscriptions on Starlette")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    print(
        f"open http://{args.host}:{args.port}/  (graphql-transport-ws at ws://{args.host}:{args.port}/graphql)"
    )
    asyncio.run(serve(app, manager, args.host, args.port))
