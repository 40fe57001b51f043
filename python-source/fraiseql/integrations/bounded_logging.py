"""Server logs that stay bounded under attack.

uvicorn and asyncio log once per bad frame, bad request or refused accept, some with a traceback:
a client sending garbage in a loop fills the disk. :class:`BoundedRecords`, installed by
``serve()`` on the ``uvicorn.error`` and ``asyncio`` loggers, lets each kind of record (its
logger and message template) through ``burst`` times per ``interval`` seconds, then counts the
rest and says how many were held back with the next one it lets through; and it drops the
traceback of records that report a client's mistake, which say all there is to say in one line.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator

__all__ = ["CLIENT_MISTAKES", "BoundedRecords", "bounded_server_logs"]

#: Message templates of records about a client's mistake: logged without their traceback.
CLIENT_MISTAKES = frozenset(
    {
        "Invalid UTF-8 sequence received from client.",
        "Invalid HTTP request received.",
    }
)

#: The loggers a server's flood can fill.
SERVER_LOGGERS = ("uvicorn.error", "asyncio")


class BoundedRecords(logging.Filter):
    """At most ``burst`` records of a kind per ``interval`` (kinds are bounded in number too)."""

    def __init__(
        self,
        burst: int = 10,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        max_kinds: int = 256,
    ) -> None:
        super().__init__()
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._max_kinds = max_kinds
        # kind -> [window start, let through in this window, held back since the last one let through]
        self._kinds: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        template = str(record.msg)
        if template in CLIENT_MISTAKES:
            record.exc_info = None
            record.exc_text = None
        kind = (record.name, template)
        now = self._clock()
        state = self._kinds.get(kind)
        if state is None or now - state[0] >= self._interval:
            held_back = int(state[2]) if state is not None else 0
            state = [now, 0.0, float(held_back)]
            self._kinds[kind] = state
            self._kinds.move_to_end(kind)
            while len(self._kinds) > self._max_kinds:
                self._kinds.popitem(last=False)
        if state[1] >= self._burst:
            state[2] += 1
            return False
        state[1] += 1
        if state[2]:
            args = record.args if isinstance(record.args, tuple) else ()
            # A message logged without arguments is not %-formatted: keep its % signs literal.
            message = str(record.msg) if args else str(record.msg).replace("%", "%%")
            record.msg = f"{message} (%d more like this were not logged)"
            record.args = (*args, int(state[2]))
            state[2] = 0
        return True


@contextlib.contextmanager
def bounded_server_logs(records: BoundedRecords | None = None) -> Iterator[BoundedRecords]:
    """Installs one :class:`BoundedRecords` on the server loggers for the block's duration."""
    records = records or BoundedRecords()
    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    for logger in loggers:
        logger.addFilter(records)
    try:
        yield records
    finally:
        for logger in loggers:
            logger.removeFilter(records)
