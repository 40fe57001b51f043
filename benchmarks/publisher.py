"""The server-side publisher shared by the two benchmark apps (``fraiseql_app``, ``strawberry_app``).

A single HTTP request starts a loop that publishes inside the server process, so HTTP overhead is
not in the measured path. Each message carries ``at``, the ``time.time()`` taken immediately before
the app's publish call: the load client (same machine, same clock) computes the end-to-end latency
as its receive time minus ``at``.

``rate > 0`` paces the publishes on an absolute schedule (event ``i`` is due at ``start + i / rate``,
so a late publish does not shift the ones after it); ``rate == 0`` publishes as fast as possible,
yielding to the event loop after every publish so that the connections' writers run in between,
as they would between the requests of a real application. ``overlap`` starts each publish on
schedule without waiting for the previous one to finish (as an application's concurrent requests
would, at most ``max_in_flight`` at a time): with a bus, an awaited publish takes a round trip.
``rooms > 0`` spreads the events over that many rooms, ``<room>-0`` to ``<room>-<rooms - 1>``
(event ``i`` to ``<room>-<i mod rooms>``): with one subscriber per room, each event is for one
subscriber (the load client's ``--rooms``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, Field

#: ``publish(room, sequence_number, text)``: builds the message, stamps ``at`` and publishes it.
PublishOne = Callable[[str, int, str], Awaitable[None]]

#: Longest loop one request may start (bounded in time whatever the body says).
MAX_LOOP_SECONDS = 600.0


class PublishRequest(BaseModel):
    """Body of ``POST /publish`` and ``POST /publish_loop``.

    ``count`` messages, or ``rate * duration`` when ``duration`` is given; ``rate`` in messages per
    second, ``0`` for as fast as possible. The default is one message, published at once.
    """

    room: str = "bench"
    count: int = Field(default=1, ge=0, le=10_000_000)
    rate: float = Field(default=0.0, ge=0.0)
    duration: float | None = Field(default=None, gt=0.0, le=MAX_LOOP_SECONDS)
    text: str = "hello from the benchmark"
    overlap: bool = False
    max_in_flight: int = Field(default=1000, ge=1, le=100_000)
    rooms: int = Field(default=0, ge=0, le=1_000_000)


def room_of(request: PublishRequest, sequence: int) -> str:
    """The room event ``sequence`` goes to."""
    return f"{request.room}-{sequence % request.rooms}" if request.rooms > 0 else request.room


def message_fields(room: str, sequence: int, text: str) -> dict[str, Any]:
    """The message without ``at`` (stamped by the app right before its publish call)."""
    return {"id": str(sequence), "room": room, "text": text, "author": "bench"}


async def run_publish(publish: PublishOne, request: PublishRequest) -> dict[str, Any]:
    """Publishes the requested messages; returns how many, how long it took and the worst lag."""
    count = round(request.rate * request.duration) if request.duration is not None else request.count
    rate = request.rate
    loop = asyncio.get_running_loop()
    start = loop.time()
    give_up = start + MAX_LOOP_SECONDS
    max_lag = 0.0
    published = 0
    in_flight: set[asyncio.Future[None]] = set()
    slots = asyncio.Semaphore(request.max_in_flight)

    async def publish_in_slot(sequence: int) -> None:
        try:
            await publish(room_of(request, sequence), sequence, request.text)
        finally:
            slots.release()

    for sequence in range(count):
        if rate > 0:
            due = start + sequence / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                max_lag = max(max_lag, -delay)
        if request.overlap:
            await slots.acquire()
            task = asyncio.ensure_future(publish_in_slot(sequence))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        else:
            await publish(room_of(request, sequence), sequence, request.text)
        published += 1
        if rate <= 0 or loop.time() >= start + (sequence + 1) / rate:
            # As fast as possible, or behind schedule: let the writers run before the next one.
            await asyncio.sleep(0)
        if loop.time() > give_up:
            break
    if in_flight:
        await asyncio.gather(*in_flight)
    elapsed = loop.time() - start
    return {
        "published": published,
        "elapsed_s": elapsed,
        "achieved_rate": published / elapsed if elapsed > 0 else 0.0,
        "max_lag_ms": max_lag * 1000,
        "finished_at": time.time(),
    }
