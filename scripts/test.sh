#!/usr/bin/env bash
# Sets everything up and runs every check and test: rustfmt, clippy, cargo test, ruff, mypy,
# stubtest (the hand-written .pyi against the compiled module) and pytest (the engine, the
# protocol suite over real sockets against every integration, the gql and graphql-ws (Node)
# clients, the demo's API and its page in headless Chromium). Extra arguments go to pytest.
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
echo "==> cargo test (engine)"
cargo test -p fraiseql-engine --quiet
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
