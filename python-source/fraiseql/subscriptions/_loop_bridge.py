"""The places where the Rust engine meets asyncio.

* The writer wake-up: the engine writes a byte to a socket when connections have frames; the
  application's loop watches that socket, and the callback hands the frames to the waiting
  writers. Nothing polls.
* Async resolvers: their coroutines run as tasks on the application's loop and report their
  result back to the engine, which delivers it in publish order.
* Sync resolvers of events published from the loop: they run in worker threads (as Starlette
  runs sync endpoints), one call at a time per group, so a slow one delays only its own group
  and never the loop.
* The resolver log records (errors, timeouts, slow calls), bounded per field and interval.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import inspect
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from fraiseql.subscriptions._logging import EveryInterval, log, log_bounded


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
    """One resolver call reporting to the engine exactly once, with its timeout as a timer
    (cheaper than ``asyncio.wait_for``, which adds a task and a future per call)."""

    __slots__ = (
        "expired",
        "pending",
        "root_field",
        "settled",
        "sink",
        "slow_after",
        "started",
        "task",
        "timer",
    )

    def __init__(
        self, sink: _ResolutionSink, pending: object, root_field: str = "", slow_after: float | None = None
    ) -> None:
        self.sink = sink
        self.pending = pending
        self.root_field = root_field
        self.slow_after = slow_after
        self.expired = False
        self.settled = False
        self.started = 0.0
        self.task: asyncio.Future[Any] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def arm(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        if timeout is not None:
            self.timer = loop.call_later(timeout, self.expire)

    def follow(self, loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``awaitable`` as a task and report its outcome."""
        self.started = time.perf_counter()
        task = asyncio.ensure_future(awaitable, loop=loop)
        _running.add(task)
        self.task = task
        task.add_done_callback(self.finished)
        return task

    def start(
        self, loop: asyncio.AbstractEventLoop, awaitable: Awaitable[Any], timeout: float | None
    ) -> asyncio.Future[Any]:
        self.arm(loop, timeout)
        return self.follow(loop, awaitable)

    def expire(self) -> None:
        self.expired = True
        if self.task is not None:
            self.task.cancel()
        elif not self.settled:
            # Still waiting for its turn: it times out without ever running.
            self.settled = True
            log_resolver_timeout(self.root_field)
            self.sink._resolution_failed(self.pending, None, True)

    def finished(self, task: asyncio.Future[Any]) -> None:
        _running.discard(task)
        if self.timer is not None:
            self.timer.cancel()
        if self.settled:
            return
        self.settled = True
        if self.slow_after is not None and not self.expired:
            note_duration(self.root_field, time.perf_counter() - self.started, self.slow_after)
        if task.cancelled():
            if self.expired:
                log_resolver_timeout(self.root_field)
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
    root_field: str = "",
    slow_after: float | None = None,
) -> None:
    """Run an async resolver on the application's loop.

    The loop running in this thread wins; else the loop attached to the executor (the call
    comes from another thread); else, in a plain synchronous program, a private loop runs the
    resolver to completion before ``publish_event`` returns.
    """
    resolution = _Resolution(sink, pending, root_field, slow_after)
    running = asyncio._get_running_loop()
    if running is not None:
        resolution.start(running, awaitable, timeout)
    elif attached_loop is not None and attached_loop.is_running():
        attached_loop.call_soon_threadsafe(resolution.start, attached_loop, awaitable, timeout)
    else:
        asyncio.run(_run_to_completion(resolution, awaitable, timeout))


def _timed(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - started


async def _thread_result(future: asyncio.Future[tuple[Any, float]]) -> Any:
    # Shielded: a timeout cancels this task, never the call running in its thread.
    result, _ = await asyncio.shield(future)
    if inspect.isawaitable(result):  # a sync callable that returned a coroutine
        result = await result
    return result


_Call = tuple[_Resolution, Callable[..., Any], tuple[Any, ...]]


class SyncResolverRunner:
    """Runs one executor's sync resolvers in worker threads, for events published on the loop.

    Calls of one group run one at a time, in publish order (a group's next call starts when its
    previous one really ended, even one that timed out), so a slow or hung resolver holds at
    most one thread and delays only its own group. The timeout counts from the publish, waiting
    included; a call whose time is up before its turn never runs.
    """

    def __init__(self, threads: int) -> None:
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lanes: dict[int, collections.deque[_Call]] = {}

    def submit(
        self,
        loop: asyncio.AbstractEventLoop,
        sink: _ResolutionSink,
        pending: object,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        timeout: float | None,
        lane: int,
        root_field: str,
        slow_after: float | None,
    ) -> None:
        resolution = _Resolution(sink, pending, root_field)
        resolution.arm(loop, timeout)
        call: _Call = (resolution, function, args)
        waiting = self._lanes.get(lane)
        if waiting is not None:
            waiting.append(call)
            return
        self._lanes[lane] = collections.deque()
        self._run(loop, lane, call, slow_after)

    def _run(self, loop: asyncio.AbstractEventLoop, lane: int, call: _Call, slow_after: float | None) -> None:
        resolution, function, args = call
        if resolution.settled:
            self._next(loop, lane, slow_after)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="fraiseql-resolver")
        context = contextvars.copy_context()
        future = loop.run_in_executor(self._pool, context.run, _timed, function, args)

        def ended(done: asyncio.Future[tuple[Any, float]]) -> None:
            if slow_after is not None and not done.cancelled() and done.exception() is None:
                note_duration(resolution.root_field, done.result()[1], slow_after)
            self._next(loop, lane, slow_after)

        future.add_done_callback(ended)
        resolution.follow(loop, _thread_result(future))

    def _next(self, loop: asyncio.AbstractEventLoop, lane: int, slow_after: float | None) -> None:
        waiting = self._lanes.get(lane)
        if not waiting:
            self._lanes.pop(lane, None)
            return
        self._run(loop, lane, waiting.popleft(), slow_after)

    @property
    def busy_groups(self) -> int:
        """Groups with a call running or waiting (for tests and metrics)."""
        return len(self._lanes)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


# -- log records --------------------------------------------------------------------------------

_errors = EveryInterval()
_timeouts = EveryInterval()
_slow = EveryInterval()


def log_resolver_error(root_field: str, error: BaseException) -> None:
    """A resolver's exception with its traceback (the client gets a short message), at most
    once per field and interval."""
    log_bounded(
        _errors,
        root_field,
        logging.ERROR,
        "resolver.failed",
        "resolver for %r failed",
        root_field,
        exc_info=error,
        field=root_field,
        code="RESOLVER_ERROR",
    )


def log_resolver_timeout(root_field: str) -> None:
    log_bounded(
        _timeouts,
        root_field,
        logging.WARNING,
        "resolver.timed_out",
        "resolver for %r timed out",
        root_field,
        field=root_field,
        code="RESOLVER_TIMEOUT",
    )


def note_duration(root_field: str, seconds: float, threshold: float) -> None:
    """Log a resolver call slower than ``threshold`` seconds, at most once per field and interval."""
    if seconds <= threshold:
        return
    log_bounded(
        _slow,
        root_field,
        logging.WARNING,
        "resolver.slow",
        "resolver for %r took %.3f s (slower than %.3f s)",
        root_field,
        seconds,
        threshold,
        field=root_field,
        seconds=seconds,
    )


_BUS_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def log_bus_note(level: str, event: str, message: str) -> None:
    """A state change of the Redis or PostgreSQL bus (connection lost or back, events missed).
    Reconnection attempts are spaced by backoff, so these stay few."""
    log(_BUS_LEVELS.get(level, logging.WARNING), event, "%s", message)
