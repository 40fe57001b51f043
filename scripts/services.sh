#!/usr/bin/env bash
# Makes sure the services the bus tests talk to are up: Redis on 127.0.0.1:6379 and PostgreSQL on
# 127.0.0.1:5432 with a database "test" (trust authentication). Starts them with the machine's own
# commands when they are installed but stopped; says plainly what is missing otherwise (and fails).
# Other servers: set FRAISEQL_TEST_REDIS_URL / FRAISEQL_TEST_POSTGRES_URL and this only checks them.
set -euo pipefail

redis_url="${FRAISEQL_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
postgres_url="${FRAISEQL_TEST_POSTGRES_URL:-postgresql://127.0.0.1:5432/test}"

wait_for() {  # wait_for <what> <command...>: up to 30 s
    local what="$1"
    shift
    for _ in $(seq 1 150); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    echo "error: $what did not come up within 30 s" >&2
    return 1
}

redis_up() { redis-cli -u "$redis_url" ping 2>/dev/null | grep -q PONG; }
postgres_up() { psql "$postgres_url" -Atqc "select 1" 2>/dev/null | grep -q 1; }

if ! command -v redis-cli >/dev/null 2>&1; then
    echo "error: the bus tests need Redis: redis-cli is not installed (Debian: apt-get install redis-server)" >&2
    exit 1
fi
if ! redis_up; then
    if [[ -n "${FRAISEQL_TEST_REDIS_URL:-}" ]] || ! command -v redis-server >/dev/null 2>&1; then
        echo "error: no Redis answers at $redis_url (Debian: apt-get install redis-server)" >&2
        exit 1
    fi
    echo "==> starting Redis on 127.0.0.1:6379"
    mkdir -p /tmp/fraiseql-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp/fraiseql-redis --logfile /tmp/fraiseql-redis/redis.log
    wait_for "Redis" redis_up
fi

if ! command -v psql >/dev/null 2>&1; then
    echo "error: the bus tests need PostgreSQL: psql is not installed (Debian: apt-get install postgresql)" >&2
    exit 1
fi
if ! postgres_up; then
    if [[ -z "${FRAISEQL_TEST_POSTGRES_URL:-}" ]] && command -v pg_ctlcluster >/dev/null 2>&1 \
        && ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
        echo "==> starting PostgreSQL on 127.0.0.1:5432"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start
        wait_for "PostgreSQL" pg_isready -h 127.0.0.1 -p 5432
    fi
    if [[ -z "${FRAISEQL_TEST_POSTGRES_URL:-}" ]] && pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 \
        && ! postgres_up; then
        echo "==> creating the database \"test\""
        createdb -h 127.0.0.1 -p 5432 test
    fi
    if ! postgres_up; then
        echo "error: no PostgreSQL answers at $postgres_url (Debian: apt-get install postgresql)" >&2
        exit 1
    fi
fi
echo "==> Redis at $redis_url and PostgreSQL at $postgres_url are up"
