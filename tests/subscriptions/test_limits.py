"""Token buckets and per-user counts: O(1), and nothing kept for clients that are gone."""

from __future__ import annotations

import pytest

from fraiseql.subscriptions import ConfigurationError, SubscriptionConfig
from fraiseql.subscriptions.limits import PerKeyCount, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10, clock=clock)
    assert sum(bucket.take() for _ in range(50)) == 20, "a burst of twice the rate"
    clock.now += 0.5
    assert sum(bucket.take() for _ in range(50)) == 5
    clock.now += 100
    assert sum(bucket.take() for _ in range(50)) == 20, "refills up to the burst, no more"


def test_a_slow_rate_still_allows_one() -> None:
    clock = Clock()
    bucket = TokenBucket(0.1, clock=clock)
    assert bucket.take()
    assert not bucket.take()
    clock.now += 10
    assert bucket.take()


def test_per_key_counts_forget_keys_that_reach_zero() -> None:
    counts = PerKeyCount(2)
    assert counts.acquire("ann")
    assert counts.acquire("ann")
    assert not counts.acquire("ann"), "at the limit"
    assert counts.acquire("bob")
    counts.release("ann")
    assert counts.acquire("ann")
    for key in ("ann", "ann", "bob"):
        counts.release(key)
    assert len(counts) == 0, "no entry for users without connections"
    for user in range(10_000):
        counts.acquire(user)
        counts.release(user)
    assert len(counts) == 0


def test_no_limit_counts_but_never_refuses() -> None:
    counts = PerKeyCount(None)
    assert all(counts.acquire("ann") for _ in range(1000))
    assert len(counts) == 1


@pytest.mark.parametrize(
    ("setting", "bad"),
    [
        ("max_connections", 0),
        ("max_connections_per_user", 0),
        ("max_messages_per_second", 0),
        ("max_subscribes_per_second", -1),
        ("max_frames_per_second", 0),
    ],
)
def test_limits_must_be_positive(setting: str, bad: float) -> None:
    with pytest.raises(ConfigurationError, match=setting):
        SubscriptionConfig(**{setting: bad})  # type: ignore[arg-type]


def test_every_limit_has_a_safe_default() -> None:
    config = SubscriptionConfig()
    assert config.max_connections == 10_000
    assert config.max_connections_per_user == 100
    assert config.max_messages_per_second == 100
    assert config.max_subscribes_per_second == 20
    assert config.max_subscriptions_per_connection == 100
    assert config.max_message_size == 64 * 1024
    assert config.max_document_size == 32 * 1024
