#!/usr/bin/env bash
# The wheel works outside the checkout: build it, install it with --no-deps into a fresh venv
# that sees the CI environment's packages (.venv's site-packages on its path, so nothing is
# downloaded twice), and run `umust demo --quick` from a temporary folder.
# Usage: bash scripts/check_wheel.sh   (after scripts/setup.sh)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ci_python="$repo/.venv/bin/python"

"$ci_python" -m pip wheel "$repo" --no-deps --no-build-isolation -q -w "$work/dist"
"$ci_python" -m venv "$work/venv"
purelib() { "$1" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }
# a plain path line: .venv's own .pth files (the editable install of the checkout) stay inactive
purelib "$ci_python" > "$(purelib "$work/venv/bin/python")/ci-environment.pth"
"$work/venv/bin/python" -m pip install -q --no-deps --no-index "$work"/dist/*.whl

cd "$work"
"$work/venv/bin/python" - "$repo" <<'PY'
import sys
from pathlib import Path

import umust_hf

installed = Path(umust_hf.__file__).resolve()
assert Path(sys.argv[1]) not in installed.parents, f"umust_hf imported from the checkout: {installed}"
assert (installed.parent / "model_cards" / "translator.md").is_file(), "model-card template missing from the wheel"
print(f"check_wheel: umust_hf {umust_hf.__version__} from {installed.parent}")
PY
"$work/venv/bin/umust" --help > /dev/null
start=$SECONDS
"$work/venv/bin/umust" demo --quick --out-dir "$work/out"
test -s "$work/out/umust-demo/summary.png"
echo "check_wheel: umust demo --quick from the installed wheel passed in $((SECONDS - start)) s"
