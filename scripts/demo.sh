#!/usr/bin/env bash
# Sets everything up and runs the project's main job: the live chat demo, a web page whose
# messages arrive over GraphQL subscriptions (graphql-transport-ws). Open the printed URL.
# Usage: scripts/demo.sh [--host 127.0.0.1] [--port 8000] [--bus memory] [--framework fastapi|starlette]
#                        [--auth-jwt-secret SECRET]   (see docs/demo.md)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m fraiseql.cli demo "$@"
