#!/usr/bin/env bash
# Builds the Rust extension in release mode into its own virtual environment (.venv-bench/)
# and runs the engine benchmark with it.
# Usage: scripts/bench.sh [--quick]
#
# Note: `maturin develop` places the built library next to the Python sources
# (python-source/fraiseql/_fraiseql_rs.abi3.so), so after this script .venv/ also
# imports the release build until scripts/setup.sh is run again.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-python3}"
if [[ ! -x .venv-bench/bin/python ]]; then
    echo "==> creating .venv-bench with $($python --version)"
    "$python" -m venv .venv-bench
fi
.venv-bench/bin/python -m pip install --quiet "maturin>=1.7,<2"

# Builds are slow on small machines: share the target directory across clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fraiseql-subscriptions/target}"
echo "==> building the Rust extension (release)"
VIRTUAL_ENV="$PWD/.venv-bench" .venv-bench/bin/maturin develop --quiet --release

echo "==> running benchmarks/bench_engine.py $*"
.venv-bench/bin/python benchmarks/bench_engine.py "$@"
