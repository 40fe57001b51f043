"""Subscriptions on FastAPI, as the seeds' quick reference runs it:

    cd examples/subscriptions-fastapi && python app.py [--port 8000]

then open http://127.0.0.1:8000/ (examples/client.html) in one or more windows and post
messages there, or with ``curl -d '{"text": "hi"}' -H 'Content-Type: application/json'
http://127.0.0.1:8000/rooms/lobby/messages``. Needs ``pip install 'fraiseql-subscriptions[fastapi]'``
(or ``scripts/setup.sh`` and ``.venv/bin/python``).
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from pydantic import BaseModel

from fraiseql.integrations.fastapi import SubscriptionRouterFactory
from fraiseql.integrations.uvicorn_server import serve
from fraiseql.subscriptions import SubscriptionManager, subscription

CLIENT_PAGE = Path(__file__).resolve().parent.parent / "client.html"


@dataclass
class Message:
    id: str
    text: str


@subscription(channel="room:{room}")  # the field's argument chooses the channel
async def messageAdded(event: dict[str, str], *, room: str) -> Message:
    """Typed: the schema (and its validation) comes from these annotations."""
    return Message(id=event["id"], text=event["text"])


class NewMessage(BaseModel):
    text: str


manager = SubscriptionManager(fields=[messageAdded])
app = FastAPI()
app.include_router(SubscriptionRouterFactory.create(manager))  # ws://HOST:PORT/graphql


@app.post("/rooms/{room}/messages", status_code=201)
async def post_message(room: str, message: NewMessage) -> dict[str, str]:
    event = {"id": uuid.uuid4().hex, "text": message.text}
    await manager.publish(f"room:{room}", event)
    return event


@app.get("/", include_in_schema=False)
async def client_page() -> FileResponse:
    return FileResponse(CLIENT_PAGE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="FraiseQL subscriptions on FastAPI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    print(
        f"open http://{args.host}:{args.port}/  (graphql-transport-ws at ws://{args.host}:{args.port}/graphql)"
    )
    asyncio.run(serve(app, manager, args.host, args.port))
