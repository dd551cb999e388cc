#!/usr/bin/env bash
# Set up a virtual environment for umust-hf in ./.venv (idempotent).
# - CI versions are pinned in constraints/ci.txt; the package's own requirements stay loose
# - basic-pitch (the external transcriber of the audio metrics) goes in with --no-deps:
#   its metadata requires tensorflow, which the package never imports (it runs nmp.onnx via onnxruntime)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints/ci.txt -e ".[test,eval]"
.venv/bin/python -m pip install -q --no-deps -c constraints/ci.txt basic-pitch
echo "setup: ready — activate with: . .venv/bin/activate"
