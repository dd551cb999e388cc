"""``umust ytsv``: turn downloaded score videos into a YTSV-style HF Dataset.

Two modes:

* ``umust ytsv --videos DIR --metadata CSV --out DIR [--detectors DIR] [--category ...]``
  processes every ``VIDEO_ID.mp4`` (with its audio track or a sibling ``VIDEO_ID.m4a`` /
  ``.wav`` ...) listed in the metadata CSV and matching the filters.
* ``umust ytsv --train-detectors --out DIR [--corpus PAGES_DIR]`` trains the system and
  staff detectors (from a built embedded corpus's pages, from ``NAME.png`` + ``NAME.json``
  box files in ``PAGES_DIR``, or by default from freshly engraved music21 pages) and
  reports their held-out precision, recall and mAP.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UserError
from ..ytsv.detectors import DEFAULT_DETECTOR_DIR, SlideDetector, TrainingConfig, train_detectors
from ..ytsv.media import VIDEO_SUFFIXES
from ..ytsv.metadata import filter_metadata, read_metadata
from ..ytsv.pages import load_pages, render_music21_pages
from ..ytsv.pipeline import PipelineConfig, run_pipeline
from ..ytsv.slides import SegmentationConfig

HELP = "build the YouTube Score Video dataset (slides, systems, audio segments) from downloaded score videos"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--videos", type=Path, help="folder of VIDEO_ID.mp4 files (searched recursively)")
    parser.add_argument("--metadata", type=Path, help="YTSV metadata CSV (ytsv_metadata.csv)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (dataset, or detectors with --train-detectors)")
    parser.add_argument("--detectors", type=Path, default=None, help="folder with system.pt and staff.pt (default: umust-data/ytsv-detectors)")
    parser.add_argument("--category", action="append", help="keep videos of this metadata Category (repeatable), e.g. 'piano solo'")
    parser.add_argument("--instrumentation", action="append", help="keep videos of this Instrumentation (repeatable), e.g. solo")
    parser.add_argument("--staff-count", action="append", help="keep videos with this Staff Count (repeatable), e.g. 0-2")
    parser.add_argument("--include-unlisted", action="store_true", help="also process videos missing from the metadata CSV")
    parser.add_argument("--sample-fps", type=float, default=10.0, help="frames per second analysed for slide changes (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    training = parser.add_argument_group("detector training (--train-detectors)")
    training.add_argument("--train-detectors", action="store_true", help="train the YOLOv8 system/staff detectors into --out")
    training.add_argument("--corpus", type=Path, default=None, help="built embedded corpus (umust build-corpus --out DIR) or a page folder (NAME.png + NAME.json boxes); default: engrave music21 corpus scores")
    training.add_argument("--scores", type=int, default=25, help="music21 scores to engrave when --corpus is not given (default: %(default)s)")
    training.add_argument("--epochs", type=int, default=24, help="training epochs per detector (default: %(default)s; the system detector needs about 24 on CPU-sized data)")
    training.add_argument("--imgsz", type=int, default=416, help="detector input size (default: %(default)s)")


def _train(args: argparse.Namespace) -> int:
    pages = list(load_pages(args.corpus) if args.corpus else render_music21_pages(args.scores, seed=0))
    metrics = train_detectors(pages, args.out, TrainingConfig(epochs=args.epochs, imgsz=args.imgsz))
    print(json.dumps(metrics, indent=2))
    return 0


def _videos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise UserError(f"{folder}: video folder does not exist")
    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not videos:
        raise UserError(f"{folder}: no videos ({', '.join(VIDEO_SUFFIXES)})")
    return videos


def run(args: argparse.Namespace) -> int:
    if args.train_detectors:
        return _train(args)
    if args.videos is None or args.metadata is None:
        raise UserError("--videos and --metadata are required (or use --train-detectors)")

    records = read_metadata(args.metadata)
    selected = {
        r.video_id: r
        for r in filter_metadata(
            records.values(), categories=args.category, instrumentations=args.instrumentation, staff_counts=args.staff_count
        )
    }
    videos = []
    skipped_unlisted = skipped_filtered = 0
    for video in _videos(args.videos):
        if video.stem in selected:
            videos.append(video)
        elif video.stem not in records:
            if args.include_unlisted:
                videos.append(video)
            else:
                skipped_unlisted += 1
        else:
            skipped_filtered += 1
    print(f"{len(videos)} videos to process ({skipped_filtered} excluded by metadata filters, {skipped_unlisted} not in the metadata CSV)")
    detector = SlideDetector(args.detectors or DEFAULT_DETECTOR_DIR)
    config = PipelineConfig(segmentation=SegmentationConfig(sample_fps=args.sample_fps))
    summary = run_pipeline(videos, args.out, detector.detect, metadata=records, config=config, progress=not args.no_progress)
    print(summary.format())
    print(f"dataset: {args.out / 'dataset'}  summary: {args.out / 'summary.json'}")
    return 0
