"""The ``fraiseql.subscriptions`` logger: structured records that stay bounded under floods.

Every record carries its facts as attributes (``extra``) beside the message, so a JSON log
formatter can emit them as fields: ``event`` (what happened, e.g. ``"connection.refused"``) and,
where they apply, ``connection_id``, ``subscription_id``, ``field``, ``code``, ``client``. No
record ever holds a token, a ``connection_init`` payload or an event's data.

What a client or a failing resolver can repeat without end (refusals, resolver errors, slow
resolvers) is logged once per key and interval; the next record says how many were held back.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("fraiseql.subscriptions")

#: Seconds between two records of the same repeated kind (per key).
LOG_INTERVAL = 60.0


class EveryInterval:
    """Admits one occurrence per key and interval; counts the ones held back in between.

    Keys are bounded (least recently admitted forgotten first), so memory does not grow with
    the number of distinct keys ever seen.
    """

    def __init__(
        self, interval: float | None = None, clock: Callable[[], float] = time.monotonic, max_keys: int = 1024
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._max_keys = max_keys
        self._state: OrderedDict[str, list[float]] = OrderedDict()  # key -> [admitted at, held back]

    def admit(self, key: str) -> int | None:
        """``None`` to hold this occurrence back, else how many were held back since the last one."""
        now = self._clock()
        interval = LOG_INTERVAL if self._interval is None else self._interval
        state = self._state.get(key)
        if state is not None and now - state[0] < interval:
            state[1] += 1
            return None
        held_back = int(state[1]) if state is not None else 0
        self._state[key] = [now, 0]
        self._state.move_to_end(key)
        while len(self._state) > self._max_keys:
            self._state.popitem(last=False)
        return held_back


def log(level: int, event: str, message: str, *args: object, exc_info: Any = None, **fields: object) -> None:
    """One structured record: ``event`` and ``fields`` become attributes of the record."""
    logger.log(level, message, *args, exc_info=exc_info, extra={"event": event, **fields})


def log_bounded(
    limiter: EveryInterval,
    key: str,
    level: int,
    event: str,
    message: str,
    *args: object,
    exc_info: Any = None,
    **fields: object,
) -> None:
    """Like :func:`log`, at most once per ``key`` and interval (``held_back`` says how many were
    skipped since the last record)."""
    held_back = limiter.admit(key)
    if held_back is None:
        return
    if held_back:
        message += " (%d more since the last such record)"
        args = (*args, held_back)
    log(level, event, message, *args, exc_info=exc_info, held_back=held_back, **fields)
