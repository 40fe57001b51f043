"""The Redis and PostgreSQL servers the bus tests use (scripts/services.sh makes sure they are up),
and what the tests do to them directly: SQL through ``psql``, commands through ``redis-cli``."""

from __future__ import annotations

import os
import subprocess
import uuid

from fraiseql.subscriptions import PyEventBusConfig

REDIS_URL = os.environ.get("FRAISEQL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("FRAISEQL_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
BUSES = ("redis", "postgresql")


def unique(prefix: str) -> str:
    """A name no other test (or earlier run) uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def bus_config(kind: str, name: str, **options: float) -> PyEventBusConfig:
    """A bus of ``kind`` of its own: the Redis consumer group or PostgreSQL table ``name``."""
    if kind == "redis":
        return PyEventBusConfig.redis(REDIS_URL, name, **options)  # type: ignore[arg-type]
    return PyEventBusConfig.postgresql(POSTGRES_URL, table=name, **options)


def sql(statement: str) -> str:
    """Runs SQL on the test database (as any other program would) and returns its output."""
    result = subprocess.run(
        ["psql", POSTGRES_URL, "-v", "ON_ERROR_STOP=1", "-Atqc", statement],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def redis(*command: str) -> str:
    result = subprocess.run(
        ["redis-cli", "-u", REDIS_URL, *command], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def kill_bus_reader(kind: str, bus_id: str) -> int:
    """Cuts the reading connection of the bus whose id is ``bus_id``; returns how many were cut."""
    name = f"fraiseql-read-{bus_id}"
    if kind == "redis":
        killed = 0
        for line in redis("CLIENT", "LIST").splitlines():
            fields = dict(field.split("=", 1) for field in line.split(" ") if "=" in field)
            if fields.get("name") == name:
                killed += int(redis("CLIENT", "KILL", "ID", fields["id"]))
        return killed
    return int(
        sql(
            f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{name}'"
        )
    )


def drop_bus(kind: str, name: str) -> None:
    """Removes what a test's bus left behind (its stream or its table)."""
    if kind == "redis":
        redis("DEL", f"fraiseql:{name}:events")
    else:
        sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
