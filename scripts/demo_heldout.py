"""Score a finished demo's OMR and AMT on every held-out excerpt: ``python scripts/demo_heldout.py [DEMO_DIR ...]``."""

from __future__ import annotations

import argparse
import json
import sys

from umust_hf.demo.heldout import heldout_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("demo_dirs", nargs="*", default=["."], help="folders where `umust demo` ran (default: .)")
    for folder in parser.parse_args().demo_dirs:
        try:
            scores = heldout_scores(folder, progress=True)
        except (FileNotFoundError, ValueError) as error:
            sys.exit(f"demo_heldout: {error}")
        rounded = {task: {k: round(v, 3) if isinstance(v, float) else v for k, v in values.items()}
                   for task, values in scores.items()}
        print(json.dumps({"demo": folder, **rounded}))


if __name__ == "__main__":
    main()
