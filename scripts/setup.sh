#!/usr/bin/env bash
# Set up a virtual environment for umust-hf in ./.venv (idempotent).
# - the SVG rasteriser needs libcairo; install it through apt when it is missing (root only)
# - CI versions are pinned in constraints/ci.txt; the package's own requirements stay loose
set -euo pipefail
cd "$(dirname "$0")/.."

if ! ldconfig -p 2>/dev/null | grep -q 'libcairo\.so\.2'; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq libcairo2 >/dev/null
    else
        echo "setup: libcairo2 is missing; install it with your system's package manager" >&2
        exit 1
    fi
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints/ci.txt -e ".[test]"
echo "setup: ready — activate with: . .venv/bin/activate"
