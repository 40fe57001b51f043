#!/usr/bin/env bash
# Installs what the headless browser test needs: Debian's Chromium (when /usr/bin/chromium is
# missing) and the Python `playwright` package (its wheel carries the driver). Never runs
# `playwright install`: the test drives the system Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ ! -x /usr/bin/chromium ]]; then
    echo "==> installing Debian's chromium"
    sudo_cmd=()
    if [[ "$(id -u)" != "0" ]]; then
        sudo_cmd=(sudo)
    fi
    "${sudo_cmd[@]}" apt-get update
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi
/usr/bin/chromium --version

if [[ -x .venv/bin/python ]] && ! .venv/bin/python -c "import playwright" 2>/dev/null; then
    echo "==> installing the playwright Python package"
    .venv/bin/python -m pip install --quiet "playwright>=1.40"
fi
