"""Server logs stay bounded: a burst per kind and interval, then a count of what was held back."""

from __future__ import annotations

import logging
import sys

import pytest

from fraiseql.integrations.bounded_logging import BoundedRecords, bounded_server_logs


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("uvicorn.error", logging.WARNING, __file__, 1, message, args, exc_info)


def test_each_kind_gets_a_burst_per_interval_then_a_count() -> None:
    clock = Clock()
    records = BoundedRecords(burst=3, interval=10.0, clock=clock)
    let_through = [records.filter(record("Invalid HTTP request received.")) for _ in range(10)]
    assert let_through == [True] * 3 + [False] * 7
    assert records.filter(record("another kind %s", "x")), "kinds are counted apart"
    clock.now += 10
    first = record("Invalid HTTP request received.")
    assert records.filter(first)
    assert first.getMessage() == "Invalid HTTP request received. (7 more like this were not logged)"


def test_a_message_with_a_literal_percent_sign_keeps_it() -> None:
    clock = Clock()
    records = BoundedRecords(burst=1, interval=1.0, clock=clock)
    for _ in range(3):
        records.filter(record("100% busy"))
    clock.now += 1
    again = record("100% busy")
    assert records.filter(again)
    assert again.getMessage() == "100% busy (2 more like this were not logged)"


def test_client_mistakes_lose_their_traceback_and_others_keep_it() -> None:
    records = BoundedRecords()
    mistake = record("Invalid UTF-8 sequence received from client.", exc=True)
    failure = record("Exception in ASGI application\n", exc=True)
    assert records.filter(mistake)
    assert records.filter(failure)
    assert mistake.exc_info is None
    assert failure.exc_info is not None


def test_installed_on_the_server_loggers_for_a_block(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("uvicorn.error")
    with caplog.at_level(logging.WARNING, logger="uvicorn.error"):
        with bounded_server_logs(BoundedRecords(burst=2)):
            for _ in range(5):
                logger.warning("Invalid HTTP request received.")
        logger.warning("Invalid HTTP request received.")
    assert len(caplog.records) == 3, "two in the block, then the filter is gone"
