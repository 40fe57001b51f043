from __future__ import annotations

import pytest

from fraiseql.subscriptions import PyEventBusConfig, PySubscriptionExecutor


def test_memory() -> None:
    config = PyEventBusConfig.memory()
    assert config.bus_type == "memory"
    assert config.url is None
    assert repr(config) == "PyEventBusConfig.memory()"


@pytest.mark.parametrize("url", ["redis://localhost:6379", "rediss://cache.internal:6380/2", "redis://:pw@h"])
def test_redis_accepts_redis_urls(url: str) -> None:
    config = PyEventBusConfig.redis(url, "workers")
    assert (config.bus_type, config.url, config.consumer_group) == ("redis", url, "workers")


@pytest.mark.parametrize(
    "url", ["http://localhost:6379", "localhost:6379", "redis://", "redis:///0", "postgresql://h/db", ""]
)
def test_redis_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="invalid Redis URL"):
        PyEventBusConfig.redis(url, "workers")


def test_redis_refuses_empty_consumer_group() -> None:
    with pytest.raises(ValueError, match="consumer group"):
        PyEventBusConfig.redis("redis://localhost", " ")


@pytest.mark.parametrize("dsn", ["postgresql://localhost/test", "postgres://u:p@db:5432/app"])
def test_postgresql_accepts_postgres_urls(dsn: str) -> None:
    config = PyEventBusConfig.postgresql(dsn)
    assert (config.bus_type, config.url, config.consumer_group) == ("postgresql", dsn, None)


@pytest.mark.parametrize(
    "dsn", ["mysql://localhost/db", "host=localhost dbname=test", "postgresql://", "x postgresql://h/db"]
)
def test_postgresql_refuses_other_strings(dsn: str) -> None:
    with pytest.raises(ValueError, match="invalid PostgreSQL connection string"):
        PyEventBusConfig.postgresql(dsn)


def test_repr_hides_passwords() -> None:
    config = PyEventBusConfig.postgresql("postgresql://me:secret@db/app")
    assert "secret" not in repr(config)
    assert "me:***@db" in repr(config)
    with pytest.raises(ValueError, match="invalid Redis URL") as caught:
        PyEventBusConfig.redis("http://me:secret@h", "g")
    assert "secret" not in str(caught.value)


def test_equality_and_executor_carries_config() -> None:
    config = PyEventBusConfig.redis("redis://localhost:6379", "g")
    assert config == PyEventBusConfig.redis("redis://localhost:6379", "g")
    assert config != PyEventBusConfig.memory()
    assert hash(config) == hash(PyEventBusConfig.redis("redis://localhost:6379", "g"))
    assert PySubscriptionExecutor(config).bus_config == config
    assert PySubscriptionExecutor().bus_config.bus_type == "memory"


def test_redis_options() -> None:
    config = PyEventBusConfig.redis(
        "rediss://cache:6380/1",
        "app",
        max_len=500,
        tls_ca_file="/etc/ca.pem",
        connect_timeout=2,
        publish_timeout=0.5,
    )
    assert (config.max_len, config.connect_timeout, config.publish_timeout) == (500, 2.0, 0.5)
    assert (config.table, config.retention) == (None, None)
    with pytest.raises(ValueError, match="max_len must be at least 1"):
        PyEventBusConfig.redis("redis://h", "g", max_len=0)


def test_postgresql_options() -> None:
    config = PyEventBusConfig.postgresql("postgresql://db/app", table="chat.events", retention=60)
    assert (config.table, config.retention, config.max_len) == ("chat.events", 60.0, None)
    assert repr(config) == 'PyEventBusConfig.postgresql("postgresql://db/app", table="chat.events")'
    with pytest.raises(ValueError, match="invalid table name"):
        PyEventBusConfig.postgresql("postgresql://db/app", table="events; drop table x")
    with pytest.raises(ValueError, match="retention must be a positive number"):
        PyEventBusConfig.postgresql("postgresql://db/app", retention=0)
    with pytest.raises(ValueError, match="publish_timeout must be a positive number"):
        PyEventBusConfig.postgresql("postgresql://db/app", publish_timeout=float("nan"))


def test_memory_has_no_bus_options() -> None:
    config = PyEventBusConfig.memory()
    assert (config.max_len, config.table, config.retention, config.connect_timeout) == (
        None,
        None,
        None,
        None,
    )
    with pytest.raises(ValueError, match="only a PostgreSQL bus"):
        config.events_table_sql()
