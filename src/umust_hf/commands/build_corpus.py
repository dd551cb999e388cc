"""``umust build-corpus``: build the embedded four-modality corpus from scores shipped in PyPI packages."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.embedded import DEFAULT_MAX_PIECES, build_embedded_corpus, write_preview
from ..errors import UserError

HELP = "build the embedded corpus (image, LMX/MusicXML, MIDI, audio) from scores shipped in PyPI packages"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="umust-data", help="output directory (default: %(default)s); a partial build there is resumed")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--max-pieces", type=int, default=DEFAULT_MAX_PIECES, metavar="N", help="number of pieces to keep (default: %(default)s)")
    size.add_argument("--all", action="store_true", help="use every usable piece of the corpus (hours)")
    parser.add_argument("--seed", type=int, default=0, help="seed for piece order, split, tempo, velocities and timing (default: %(default)s)")
    parser.add_argument("--num-proc", type=int, default=2, metavar="P", help="worker processes (default: %(default)s)")
    parser.add_argument("--no-humanize", action="store_true", help="play exactly on the grid (no timing jitter)")
    parser.add_argument(
        "--preview",
        nargs="?",
        const="",
        default=None,
        metavar="PNG",
        help="also write a preview PNG (system image, piano roll, spectrogram); default path OUT/preview.png",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.max_pieces is not None and args.max_pieces < 1 and not args.all:
        raise UserError(f"--max-pieces must be at least 1, got {args.max_pieces}")
    summary = build_embedded_corpus(
        args.out,
        max_pieces=None if args.all else args.max_pieces,
        seed=args.seed,
        num_proc=args.num_proc,
        show_progress=not args.quiet,
        humanize=not args.no_humanize,
    )
    print(summary.format())
    if summary.excerpts == 0:
        raise UserError(f"no excerpt could be built in {args.out}; see the skipped reasons above")
    if args.preview is not None:
        target = Path(args.preview) if args.preview else Path(args.out) / "preview.png"
        print(f"preview: {write_preview(args.out, target)}")
    return 0
