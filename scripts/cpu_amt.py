"""The ``cpu_amt`` path in one command: corpus -> spectral audio codec -> AMT bake -> ``umust train --recipe
cpu_amt`` -> evaluation on every held-out excerpt; prints its total wall time. Resumable: rerun the same
command and finished stages are skipped (training resumes from its last checkpoint).

    python scripts/cpu_amt.py --out-dir runs/cpu-amt            # about 90 minutes on a 2-core CPU
    python scripts/cpu_amt.py --out-dir /tmp/amt --quick        # a smoke test (a few steps)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from umust_hf.demo.cpu_amt import CpuAmtSettings, run_cpu_amt
from umust_hf.errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default="umust-cpu-amt-run", help="where every stage writes (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    for field in dataclasses.fields(CpuAmtSettings):
        flag = "--" + field.name.replace("_", "-")
        kind = {"int": int, "float": float, "int | None": int}.get(str(field.type), float)
        parser.add_argument(flag, type=kind, default=None, help=f"(default: {field.default})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(CpuAmtSettings) if getattr(args, f.name) is not None}
    settings = CpuAmtSettings.quick(**overrides) if args.quick else CpuAmtSettings(**overrides)
    try:
        run_cpu_amt(args.out_dir, settings, show_progress=not args.quiet)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
