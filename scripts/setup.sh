#!/usr/bin/env bash
# Set up a virtual environment for umust-hf in ./.venv (idempotent).
# - CI versions are pinned in constraints/ci.txt; the package's own requirements stay loose
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints/ci.txt -e ".[test]"
echo "setup: ready — activate with: . .venv/bin/activate"
