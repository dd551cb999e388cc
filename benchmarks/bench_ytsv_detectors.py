"""YTSV system and staff detectors trained on embedded-corpus pages: held-out precision, recall, mAP.

    python benchmarks/bench_ytsv_detectors.py [--pieces 40] [--epochs 40] [--imgsz 416] [--batch 4]
        [--corpus umust-data/bench-corpus-40] [--work umust-data/bench-ytsv-detectors] [--num-proc 2]

Builds an embedded corpus of ``--pieces`` pieces (an existing ``--corpus`` is used as it is), trains both
YOLOv8n detectors from scratch on its pages (each page also as a 16:9 "slide" band, pages
split by piece so held-out pages come from unseen pieces; see ``umust_hf.ytsv.detectors``)
and evaluates them on the held-out pages with ultralytics' ``val``. Writes
``benchmarks/results/ytsv_detectors.json``: the metrics, the settings, image counts, the
command and the wall minutes of the corpus build and of the training. This is what
``umust ytsv --train-detectors --corpus DIR`` does, timed. On a 2-core CPU the default
settings take about 18 minutes of training.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from _common import machine_facts

from umust_hf.io_utils import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "ytsv_detectors.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=40, help="corpus pieces (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=40, help="training epochs per detector (default: %(default)s)")
    parser.add_argument("--imgsz", type=int, default=416, help="detector input size (default: %(default)s)")
    parser.add_argument("--batch", type=int, default=4, help="training batch size (default: %(default)s)")
    parser.add_argument("--val-fraction", type=float, default=0.2, help="share of pieces held out (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="corpus and training seed (default: %(default)s)")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus folder, built if missing (default: umust-data/bench-corpus-PIECES)")
    parser.add_argument("--work", type=Path, default=Path("umust-data") / "bench-ytsv-detectors", help="detector output folder (default: %(default)s)")
    parser.add_argument("--num-proc", type=int, default=2, help="processes for the corpus build (default: %(default)s)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="JSON to write (default: benchmarks/results/ytsv_detectors.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from umust_hf.data.embedded import build_embedded_corpus
    from umust_hf.ytsv.detectors import TrainingConfig, train_detectors
    from umust_hf.ytsv.pages import load_pages

    facts = machine_facts("YTSV detectors on held-out embedded-corpus pages (precision, recall, mAP50, mAP50-95; higher is better)")
    corpus = args.corpus or Path("umust-data") / f"bench-corpus-{args.pieces}"
    started = time.perf_counter()
    summary_path = corpus / "summary.json"
    if summary_path.is_file():
        build_minutes = 0.0  # an existing corpus is used as it is (its own piece count is recorded)
    else:
        build_embedded_corpus(corpus, max_pieces=args.pieces, seed=args.seed, num_proc=args.num_proc)
        build_minutes = (time.perf_counter() - started) / 60
    corpus_summary = json.loads(summary_path.read_text())
    if corpus_summary["pieces"] != args.pieces:
        print(f"note: {corpus} holds {corpus_summary['pieces']} pieces (not --pieces {args.pieces}); using it as it is", file=sys.stderr)
    pages = list(load_pages(corpus))

    started = time.perf_counter()
    config = TrainingConfig(epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, seed=args.seed)
    train_detectors(pages, args.work, config, val_fraction=args.val_fraction)
    train_minutes = (time.perf_counter() - started) / 60
    trained = json.loads((args.work / "metrics.json").read_text())

    result = {
        **facts,
        "command": shlex.join(["python", "benchmarks/bench_ytsv_detectors.py", *(sys.argv[1:] if argv is None else argv)]),
        "settings": {
            "corpus": str(corpus),
            "pieces": corpus_summary["pieces"],
            "pages": len(pages),
            "epochs": args.epochs,
            "imgsz": args.imgsz,
            "batch": args.batch,
            "val_fraction": args.val_fraction,
            "seed": args.seed,
            "model": trained["model"],
        },
        "train_images": trained["train_images"],
        "val_images": trained["val_images"],
        "metrics": trained["metrics"],
        "corpus_build_wall_minutes": round(build_minutes, 2),
        "training_wall_minutes": round(train_minutes, 2),
    }
    atomic_write_json(args.results, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
