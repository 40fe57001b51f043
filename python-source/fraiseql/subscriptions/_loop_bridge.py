"""The two places where the Rust engine meets asyncio.

* The writer wake-up: the engine writes a byte to a socket when connections have frames; the
  application's loop watches that socket, and the callback hands the frames to the waiting
  writers. Nothing polls.
* Async resolvers: their coroutines run as tasks on the application's loop and report their
  result back to the engine, which delivers it in publish order.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable
from typing import Any, Protocol


class _ResolutionSink(Protocol):
    def _resolution_succeeded(self, pending: object, result: object) -> None: ...
    def _resolution_failed(self, pending: object, error: BaseException | None, timed_out: bool) -> None: ...
    def _on_frames_ready(self) -> None: ...


# Tasks are referenced until they finish: asyncio keeps only weak references to them.
_running: set[asyncio.Future[Any]] = set()


def install_reader(loop: asyncio.AbstractEventLoop, fd: int, executor: _ResolutionSink) -> None:
    """Wake ``executor``'s writers when ``fd`` becomes readable, without keeping it alive."""
    ref = weakref.ref(executor)

    def on_ready() -> None:
        target = ref()
        if target is None:
            loop.remove_reader(fd)
            return
        target._on_frames_ready()

    loop.add_reader(fd, on_ready)


class _Resolution:
    """One async resolver call as a task on the loop, with its timeout as a timer (cheaper than
    ``asyncio.wait_for``, which adds a task and a future per call)."""

    __slots__ = ("expired", "pending", "sink", "timer")

    def __init__(self, sink: _ResolutionSink, pending: object) -> None:
        self.sink = sink
        self.pending = pending
        self.expired = False
        self.timer: asyncio.TimerHandle | None = None

    def start(
        self, loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any], timeout: float | None
    ) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(awaitable, loop=loop)
        _running.add(task)
        if timeout is not None:
            self.timer = loop.call_later(timeout, self.expire, task)
        task.add_done_callback(self.finished)
        return task

    def expire(self, task: asyncio.Future[Any]) -> None:
        self.expired = True
        task.cancel()

    def finished(self, task: asyncio.Future[Any]) -> None:
        _running.discard(task)
        if self.timer is not None:
            self.timer.cancel()
        if task.cancelled():
            self.sink._resolution_failed(self.pending, None, self.expired)
            return
        error = task.exception()
        if error is not None:
            self.sink._resolution_failed(self.pending, error, False)
        else:
            self.sink._resolution_succeeded(self.pending, task.result())


async def _run_to_completion(
    resolution: _Resolution, awaitable: Awaitable[Any], timeout: float | None
) -> None:
    task = resolution.start(asyncio.get_running_loop(), awaitable, timeout)
    # `finished` was registered first, so it has run when this wait returns.
    await asyncio.wait([task])


def schedule(
    sink: _ResolutionSink,
    pending: object,
    awaitable: Awaitable[Any],
    timeout: float | None,
    attached_loop: asyncio.AbstractEventLoop | None,
) -> None:
    """Run an async resolver on the application's loop.

    The loop running in this thread wins; else the loop attached to the executor (the call
    comes from another thread); else, in a plain synchronous program, a private loop runs the
    resolver to completion before ``publish_event`` returns.
    """
    resolution = _Resolution(sink, pending)
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        resolution.start(running, awaitable, timeout)
    elif attached_loop is not None and attached_loop.is_running():
        attached_loop.call_soon_threadsafe(resolution.start, attached_loop, awaitable, timeout)
    else:
        asyncio.run(_run_to_completion(resolution, awaitable, timeout))


_logger = logging.getLogger("fraiseql.subscriptions")


def log_resolver_error(root_field: str, error: BaseException) -> None:
    """Log a resolver's exception with its traceback (the client gets a short message)."""
    _logger.error("resolver for %r failed", root_field, exc_info=error)
