#!/usr/bin/env bash
# Sets everything up and runs the project's main job: the live chat demo, a web page whose
# messages arrive over GraphQL subscriptions (graphql-transport-ws). Open the printed URL.
# The engine is built with the release profile (optimised, like the published wheels), so the
# demo shows the real speed; that build is slower than the development one (README.md says how
# much). scripts/setup.sh without --release goes back to the development build.
# Usage: scripts/demo.sh [--host 127.0.0.1] [--port 8000] [--bus memory] [--framework fastapi|starlette]
#                        [--auth-jwt-secret SECRET]   (see docs/demo.md)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
exec .venv/bin/python -m fraiseql.cli demo "$@"
