"""The document cache is bounded by the bytes its compiled documents hold, and can be asked
whether a document is already compiled without compiling it."""

from __future__ import annotations

import gc
import resource
from pathlib import Path

import pytest

from fraiseql.subscriptions import ConfigurationError, GraphQLDocumentError, PySubscriptionExecutor

DEFAULT_BUDGET = 64 * 1024 * 1024


def rss_bytes() -> int:
    fields = Path("/proc/self/statm").read_text().split()
    return int(fields[1]) * resource.getpagesize()


def large_document(tag: int) -> str:
    """The hardening issue's document: 27 KB, nine thousand ``id`` selections, distinct per tag."""
    return f"# {tag}\nsubscription {{ a {{ " + " ".join(["id"] * 9000) + " } }"


def test_three_hundred_large_documents_stay_small() -> None:
    # Before, each of these cost about 2 MiB once compiled: 600 MiB for the 300.
    executor = PySubscriptionExecutor()
    assert executor.document_cache_bytes == DEFAULT_BUDGET
    executor.inspect_subscription(large_document(-1))  # lazily built state is not counted
    gc.collect()
    start = rss_bytes()
    for tag in range(300):
        assert executor.inspect_subscription(large_document(tag))["root_field"] == "a"
    metrics = executor.get_metrics()
    assert metrics["cached_documents"] == 301
    assert 0 < metrics["cached_document_bytes"] <= DEFAULT_BUDGET
    assert rss_bytes() - start < 150 * 1024 * 1024


def test_the_byte_budget_evicts_the_least_recently_used() -> None:
    budget = 1024 * 1024
    executor = PySubscriptionExecutor(document_cache_bytes=budget)
    assert executor.document_cache_bytes == budget
    for tag in range(100):
        executor.inspect_subscription(large_document(tag))
        assert executor.get_metrics()["cached_document_bytes"] <= budget
    cached = executor.get_metrics()["cached_documents"]
    assert 1 <= cached < 100
    assert executor.is_document_cached(large_document(99))
    assert not executor.is_document_cached(large_document(0))


def test_a_document_over_the_budget_is_answered_but_not_cached() -> None:
    executor = PySubscriptionExecutor(document_cache_bytes=1)
    assert executor.inspect_subscription(large_document(0))["root_field"] == "a"
    assert not executor.is_document_cached(large_document(0))
    assert executor.get_metrics()["cached_document_bytes"] == 0


def test_is_document_cached_neither_compiles_nor_refreshes() -> None:
    executor = PySubscriptionExecutor(document_cache_size=2)
    first, second, third = "subscription { a }", "subscription { b }", "subscription { c }"
    assert not executor.is_document_cached(first)
    assert executor.get_metrics()["cached_documents"] == 0
    executor.inspect_subscription(first)
    executor.inspect_subscription(second)
    assert executor.is_document_cached(first)
    assert executor.is_document_cached(first, None)
    assert not executor.is_document_cached(first, operation_name="Other")
    # The peek above left `first` the least recently used: it is the one evicted.
    executor.inspect_subscription(third)
    assert not executor.is_document_cached(first)
    assert executor.is_document_cached(second)
    assert executor.is_document_cached(third)


def test_named_operations_are_cached_by_name() -> None:
    executor = PySubscriptionExecutor()
    query = "subscription A { a } subscription B { b }"
    executor.inspect_subscription(query, "B")
    assert executor.is_document_cached(query, "B")
    assert not executor.is_document_cached(query, "A")
    assert not executor.is_document_cached(query)


def test_invalid_documents_are_not_cached() -> None:
    executor = PySubscriptionExecutor()
    with pytest.raises(GraphQLDocumentError):
        executor.inspect_subscription("subscription { a")
    assert not executor.is_document_cached("subscription { a")


@pytest.mark.parametrize("value", [0, -1])
def test_the_byte_budget_must_be_positive(value: int) -> None:
    with pytest.raises(ConfigurationError, match="document_cache_bytes must be at least 1"):
        PySubscriptionExecutor(document_cache_bytes=value)
