#!/usr/bin/env bash
# Sets everything up and runs the project's main job. Until the WebSocket server lands this is
# a guided run of the engine: subscriptions, events, resolvers and metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python examples/engine_tour.py "$@"
