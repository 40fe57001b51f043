"""Bounded log records: once per key and interval, with a count of the ones held back."""

from __future__ import annotations

import logging

import pytest

from fraiseql.subscriptions._logging import EveryInterval, log_bounded


def test_one_record_per_key_and_interval() -> None:
    now = [0.0]
    limiter = EveryInterval(10.0, clock=lambda: now[0], max_keys=2)
    assert limiter.admit("a") == 0
    assert limiter.admit("a") is None
    assert limiter.admit("b") == 0
    now[0] = 10.0
    assert limiter.admit("a") == 1, "one held back since the last record"
    assert limiter.admit("c") == 0
    assert limiter.admit("b") == 0, "only the newest keys are kept"


def test_bounded_records_carry_their_fields_and_the_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    limiter = EveryInterval(1.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="fraiseql.subscriptions"):
        for _ in range(3):
            log_bounded(limiter, "k", logging.INFO, "thing.happened", "thing %s", "x", field="f")
        now[0] = 2.0
        log_bounded(limiter, "k", logging.INFO, "thing.happened", "thing %s", "x", field="f")
    assert [record.getMessage() for record in caplog.records] == [
        "thing x",
        "thing x (2 more since the last such record)",
    ]
    assert [record.__dict__["held_back"] for record in caplog.records] == [0, 2]
    assert all(record.__dict__["event"] == "thing.happened" for record in caplog.records)
