"""graphql-ws, the JavaScript reference client (``tests/clients/js``), against the FastAPI server.

Needs ``node`` on PATH (skipped otherwise); the ``node`` fixture (conftest.py) installs the locked
packages with ``npm ci`` when ``tests/clients/js/node_modules`` lacks any of them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.protocol.harness import MESSAGE_ADDED, RunningServer, wait_until

JS_DIR = Path(__file__).parent / "js"
EVENTS = 200


async def _read_line(stream: asyncio.StreamReader) -> dict[str, Any] | None:
    line = await asyncio.wait_for(stream.readline(), 30)
    if not line:
        return None
    message = json.loads(line)
    assert isinstance(message, dict)
    return message


async def test_graphql_ws_receives_events_in_order(node: str, served: RunningServer) -> None:
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "subscribe.mjs"),
        served.url,
        MESSAGE_ADDED,
        json.dumps({"room": "lobby"}),
        str(EVENTS),
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        first = await _read_line(process.stdout)
        assert first == {"event": "connected"}, (first, await process.stderr.read())
        await wait_until(
            lambda: process.returncode is not None or served.metrics()["active_subscriptions"] == 1,
            timeout=30,
            what="the graphql-ws subscription",
        )
        assert process.returncode is None, await process.stderr.read()
        for n in range(EVENTS):
            await served.publish("room:lobby", {"id": n, "text": f"message {n}", "secret": "x"})
        lines = [await _read_line(process.stdout) for _ in range(EVENTS + 1)]
        stderr = (await asyncio.wait_for(process.stderr.read(), 30)).decode()
        assert await asyncio.wait_for(process.wait(), 30) == 0, stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    expected: list[dict[str, Any] | None] = [
        {"event": "next", "payload": {"data": {"messageAdded": {"id": n, "text": f"message {n}"}}}}
        for n in range(EVENTS)
    ]
    assert lines == [*expected, {"event": "done"}]
    await wait_until(
        lambda: served.metrics()["active_connections"] == 0, what="the graphql-ws connection to close"
    )
