"""Start-up time of the ``umust`` console script: ``umust --help`` and ``umust COMMAND --help``.

    python benchmarks/bench_cli_startup.py [--repeats 5]

Each figure is the best of ``--repeats`` fresh processes running the installed console
script (``umust`` next to this interpreter), beside ``python -c "import umust_hf"`` (what
every real command pays once it runs). Writes ``benchmarks/results/cli_startup.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _common import machine_facts

RESULTS = Path(__file__).resolve().parent / "results" / "cli_startup.json"


def best_seconds(command: list[str], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        best = min(best, time.perf_counter() - start)
    return round(best, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from umust_hf.cli import COMMANDS
    from umust_hf.io_utils import atomic_write_json

    script = str(Path(sys.executable).with_name("umust"))
    facts = machine_facts("cli_startup")
    result = {
        **facts,
        "umust --help": best_seconds([script, "--help"], args.repeats),
        "commands --help": {name: best_seconds([script, name, "--help"], args.repeats) for name in COMMANDS},
        "import umust_hf": best_seconds([sys.executable, "-c", "import umust_hf"], args.repeats),
        "repeats": args.repeats,
    }
    atomic_write_json(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
