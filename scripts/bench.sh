#!/usr/bin/env bash
# Builds a release wheel (lto = "fat", codegen-units = 1), installs it into its own virtual
# environment (.venv-bench/, so the development build in .venv/ is left alone) and runs a
# benchmark with it.
# Usage: scripts/bench.sh [engine|server|bus|suite|profile] [benchmark options...]   (default: engine)
#   suite:   every scenario against every system, the report and plots in docs/benchmarks/<date>/
#            (benchmarks/bench_suite.py; docs/benchmarks/README.md)
#   profile: each system under the saturation load, with py-spy or perf (benchmarks/bench_profile.py)
set -euo pipefail
cd "$(dirname "$0")/.."

which_bench="engine"
case "${1:-}" in
    engine | server | bus | suite | profile)
        which_bench="$1"
        shift
        ;;
esac

python="${PYTHON:-python3}"
if [[ ! -x .venv-bench/bin/python ]]; then
    echo "==> creating .venv-bench with $($python --version)"
    "$python" -m venv .venv-bench
fi
.venv-bench/bin/python -m pip install --quiet "maturin>=1.7,<2" -r requirements-bench.txt

# Builds are slow on small machines: share the target directory across clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fraiseql-subscriptions/target}"
echo "==> building the release wheel"
wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
.venv-bench/bin/maturin build --quiet --release --out "$wheels"
.venv-bench/bin/python -m pip install --quiet --force-reinstall --no-deps "$wheels"/*.whl

if [[ "$which_bench" != "engine" ]]; then
    # The compiled load client (benchmarks/load-client): a Python one saturates before the server.
    echo "==> building the load client"
    cargo build --quiet --release --manifest-path benchmarks/load-client/Cargo.toml
    export FRAISEQL_LOAD_CLIENT="$CARGO_TARGET_DIR/release/fraiseql-load-client"
fi
if [[ "$which_bench" == "server" || "$which_bench" == "suite" || "$which_bench" == "profile" ]]; then
    echo "==> installing the Node peer (benchmarks/peers/graphql-ws-node)"
    (cd benchmarks/peers/graphql-ws-node && npm ci --no-audit --no-fund --silent)
    echo "==> building the Rust peer (benchmarks/peers/async-graphql-axum)"
    cargo build --quiet --release --manifest-path benchmarks/peers/async-graphql-axum/Cargo.toml
    export FRAISEQL_PEER_ASYNC_GRAPHQL="$CARGO_TARGET_DIR/release/bench-peer-async-graphql-axum"
fi
if [[ "$which_bench" == "bus" ]]; then
    scripts/services.sh
fi
# Run from outside the repository so `import fraiseql` finds the installed wheel.
echo "==> running benchmarks/bench_${which_bench}.py $*"
(cd benchmarks && ../.venv-bench/bin/python "bench_${which_bench}.py" "$@")
if [[ "$which_bench" == "bus" ]]; then
    echo "==> the buses alone, in Rust (crates/fraiseql-bus/examples/bus_throughput.rs)"
    cargo run --quiet --release -p fraiseql-bus --example bus_throughput
fi
if [[ "$which_bench" == "engine" ]]; then
    echo "==> shaping alone, in Rust (crates/fraiseql-engine/examples/shaping.rs)"
    cargo run --quiet --release -p fraiseql-engine --example shaping
    echo "==> filters alone, in Rust (crates/fraiseql-engine/examples/filters.rs)"
    cargo run --quiet --release -p fraiseql-engine --example filters
fi
