"""Train the YTSV system/staff detectors on engraved music21 pages and report held-out metrics.

Usage: python scripts/train_ytsv_detectors.py --scores 25 --epochs 24 --imgsz 416 --out umust-data/ytsv-detectors
(the same as ``umust ytsv --train-detectors``; kept as a script for long unattended runs).
"""

from __future__ import annotations

import argparse
import json
import time

from umust_hf.ytsv.detectors import TrainingConfig, train_detectors
from umust_hf.ytsv.pages import render_music21_pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scores", type=int, default=25)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--imgsz", type=int, default=416)
    parser.add_argument("--out", default="umust-data/ytsv-detectors")
    args = parser.parse_args()
    start = time.time()
    pages = list(render_music21_pages(args.scores, seed=0))
    rendered = time.time() - start
    metrics = train_detectors(pages, args.out, TrainingConfig(epochs=args.epochs, imgsz=args.imgsz))
    print(json.dumps({"pages": len(pages), "render_s": rendered, "total_s": time.time() - start, "metrics": metrics}, indent=2))


if __name__ == "__main__":
    main()
