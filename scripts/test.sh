#!/usr/bin/env bash
# Sets everything up and runs every check and test: rustfmt, clippy, cargo test (the engine, and
# the Redis and PostgreSQL buses against real servers), ruff, mypy, stubtest (the hand-written
# .pyi against the compiled module) and pytest (the engine, the protocol suite over real sockets
# against every integration, the buses across processes, the gql, graphql-ws, Apollo and urql
# clients, the demo's API and its page in headless Chromium). Redis and PostgreSQL are started
# when they are installed but stopped (scripts/services.sh). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fraiseql-subscriptions/target}"
export PYO3_PYTHON="$VIRTUAL_ENV/bin/python"

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
scripts/services.sh
echo "==> cargo test (engine, buses, native transport)"
cargo test -p fraiseql-engine -p fraiseql-bus -p fraiseql-transport --quiet
echo "==> ruff"
ruff check .
ruff format --check .
echo "==> mypy"
mypy
for example in examples/subscriptions-*/app.py; do
    mypy "$example"
done
echo "==> stubtest"
python -m mypy.stubtest fraiseql._fraiseql_rs
# Headless Chromium for the demo page's browser test (Debian's package; no download of its own).
scripts/setup-browser.sh
echo "==> pytest"
python -m pytest "$@"
