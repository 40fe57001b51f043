#!/usr/bin/env bash
# Sets everything up and runs every check and test: clippy, cargo test, ruff, mypy,
# stubtest (the hand-written .pyi against the compiled module) and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fraiseql-subscriptions/target}"
export PYO3_PYTHON="$VIRTUAL_ENV/bin/python"

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "==> cargo test (engine)"
cargo test -p fraiseql-engine --quiet
echo "==> ruff"
ruff check .
ruff format --check .
echo "==> mypy"
mypy
echo "==> stubtest"
python -m mypy.stubtest fraiseql._fraiseql_rs
echo "==> pytest"
python -m pytest "$@"
