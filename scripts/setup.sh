#!/usr/bin/env bash
# Sets up a development environment from scratch, idempotently:
# a virtual environment at .venv/, the Python tools, and the Rust extension built into it.
# Usage: scripts/setup.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."

profile_flag=()
if [[ "${1:-}" == "--release" ]]; then
    profile_flag=(--release)
fi

python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    echo "==> creating .venv with $($python --version)"
    "$python" -m venv .venv
fi
export VIRTUAL_ENV="$PWD/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"

# Reinstall the tools only when the requirement list changed.
stamp=.venv/.requirements-installed
if [[ ! -f "$stamp" ]] || ! cmp -s requirements-dev.txt "$stamp"; then
    echo "==> installing Python tools"
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet -r requirements-dev.txt
    cp requirements-dev.txt "$stamp"
fi

# Builds are slow on small machines: share the target directory across clones.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/fraiseql-subscriptions/target}"
echo "==> building the Rust extension (${profile_flag[*]:-dev profile})"
maturin develop --quiet "${profile_flag[@]}"
