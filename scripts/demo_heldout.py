"""Score a finished demo's OMR on every held-out excerpt: ``python scripts/demo_heldout_omr.py [DEMO_DIR ...]``."""

from __future__ import annotations

import argparse
import json
import sys

from umust_hf.demo.heldout import heldout_omr_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("demo_dirs", nargs="*", default=["."], help="folders where `umust demo` ran (default: .)")
    for folder in parser.parse_args().demo_dirs:
        try:
            scores = heldout_omr_scores(folder, progress=True)
        except (FileNotFoundError, ValueError) as error:
            sys.exit(f"demo_heldout_omr: {error}")
        print(json.dumps({"demo": folder, **{k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()}}))


if __name__ == "__main__":
    main()
