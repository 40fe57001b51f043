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
_running: set[asyncio.Task[None]] = set()


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


async def _resolve(
    sink: _ResolutionSink, pending: object, awaitable: Awaitable[Any], timeout: float | None
) -> None:
    try:
        result = await asyncio.wait_for(awaitable, timeout)
    except asyncio.TimeoutError:
        sink._resolution_failed(pending, None, True)
    except asyncio.CancelledError as error:
        sink._resolution_failed(pending, error, False)
        raise
    except Exception as error:  # the resolver's failure becomes that subscription's `error`
        sink._resolution_failed(pending, error, False)
    else:
        sink._resolution_succeeded(pending, result)


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
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    coroutine = _resolve(sink, pending, awaitable, timeout)
    if running is not None:
        task = running.create_task(coroutine)
        _running.add(task)
        task.add_done_callback(_running.discard)
    elif attached_loop is not None and attached_loop.is_running():
        asyncio.run_coroutine_threadsafe(coroutine, attached_loop)
    else:
        asyncio.run(coroutine)


_logger = logging.getLogger("fraiseql.subscriptions")


def log_resolver_error(root_field: str, error: BaseException) -> None:
    """Log a resolver's exception with its traceback (the client gets a short message)."""
    _logger.error("resolver for %r failed", root_field, exc_info=error)
