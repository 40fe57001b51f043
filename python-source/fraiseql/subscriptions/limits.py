"""What one client may cost: token buckets per connection, and connections per user.

Every structure here lives as long as what it limits (a connection, a user's open connections),
so memory does not grow with the number of clients ever seen.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable


class TokenBucket:
    """At most ``rate`` per second on average, ``burst`` at once (O(1) per check)."""

    __slots__ = ("_clock", "_counted", "_tokens", "burst", "rate")

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else 2 * rate)
        self._clock = clock
        self._tokens = self.burst
        self._counted = clock()

    def take(self) -> bool:
        """Takes a token if one is there."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._counted) * self.rate)
        self._counted = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class PerKeyCount:
    """Open connections per user: an entry exists only while the user has one."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._counts: Counter[Hashable] = Counter()

    def acquire(self, key: Hashable) -> bool:
        """Counts one more for ``key``; False (and nothing counted) when it is at the limit."""
        # Reading a Counter does not add the key.
        if self.limit is not None and self._counts[key] >= self.limit:
            return False
        self._counts[key] += 1
        return True

    def release(self, key: Hashable) -> None:
        self._counts[key] -= 1
        if self._counts[key] <= 0:
            del self._counts[key]

    def __len__(self) -> int:
        return len(self._counts)
