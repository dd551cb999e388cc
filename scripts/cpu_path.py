"""A CPU task path in one command: corpus -> codec -> one-task bake -> ``umust train --recipe cpu_<task>``
-> evaluation on every held-out excerpt; prints its total wall time. Resumable: rerun the same command and
finished stages are skipped (training resumes from its last checkpoint).

    python scripts/cpu_path.py amt --out-dir runs/cpu       # AMT: spectral audio codec, about 75 minutes
    python scripts/cpu_path.py omr --out-dir runs/cpu       # OMR: image codec
    python scripts/cpu_path.py amt --out-dir /tmp/p --quick # a smoke test (a few steps)
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from umust_hf.demo.cpu_paths import TASK_CODECS, CpuPathSettings, run_cpu_path
from umust_hf.errors import UserError

_TYPES = {"int": int, "float": float, "int | None": int, "float | None": float}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("task", choices=sorted(TASK_CODECS), help="the task the path trains")
    parser.add_argument("--out-dir", default="umust-cpu-runs", help="where every stage writes (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    fields = [f for f in dataclasses.fields(CpuPathSettings) if f.name != "task"]
    for field in fields:
        parser.add_argument("--" + field.name.replace("_", "-"), type=_TYPES[str(field.type)], default=None,
                            help=f"(default: {field.default})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in fields if getattr(args, f.name) is not None}
    try:
        settings = (CpuPathSettings.quick if args.quick else CpuPathSettings)(task=args.task, **overrides)
        run_cpu_path(args.out_dir, settings, show_progress=not args.quiet)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
