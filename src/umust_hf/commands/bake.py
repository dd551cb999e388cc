"""``umust bake``: turn a public corpus into task examples (token bundles) for ``umust train``."""

from __future__ import annotations

import argparse
import os

from ..data.corpora import CORPORA, load_corpus
from ..errors import UserError

HELP = "encode a public corpus (GrandStaff, OLiMPiC, MusicNet, MAESTRO, Slakh, BPSD) into task examples for training"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", required=True, choices=sorted(CORPORA), help="which corpus ROOT holds")
    parser.add_argument("--root", required=True, metavar="DIR", help="the extracted corpus (see the README table)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output DatasetDict (save_to_disk), input of umust train --data")
    parser.add_argument(
        "--processor", required=True, metavar="DIR",
        help="a saved UMustProcessor with trained codecs in image_codec/ (score corpora) and audio_codec/ (recordings)",
    )
    parser.add_argument("--tasks", nargs="+", metavar="TASK", help="only these tasks (omr, l2i, amt, m2a, ...)")
    parser.add_argument("--preset", metavar="NAME",
                        help="UMustConfig preset whose position tables bound the sequence lengths (default: paper lengths)")
    parser.add_argument("--limit", type=int, metavar="N", help="read at most N rows per split (for a trial run)")
    parser.add_argument("--max-measures", type=int, default=4, metavar="N",
                        help="BPSD: measures per aligned excerpt (default: %(default)s)")
    parser.add_argument("--streaming", action="store_true", help="stream the corpus instead of caching it as Arrow first")
    parser.add_argument("--device", default=None, help="device of the codecs (default: cuda when available, else cpu)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    group.add_argument("--append", action="store_true", help="add to the bake in OUT (several corpora, one training set)")


def _processor(path: str, device: str | None):
    """The saved processor with its codecs on ``device``."""
    import torch  # heavy: torch

    from ..processing.processing_umust import UMustProcessor  # heavy: torch, transformers

    if not os.path.isdir(path):
        raise UserError(f"--processor {path!r} is not a directory (save one with UMustProcessor.save_pretrained)")
    try:
        processor = UMustProcessor.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot load a UMustProcessor from {path!r}: {error}") from None
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    for name in ("image_codec", "audio_codec"):
        codec = getattr(processor, name)
        if codec is not None:
            setattr(processor, name, codec.to(device).eval())
    return processor


def run(args: argparse.Namespace) -> int:
    from ..data.baking import bake_corpus  # heavy: datasets

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if args.max_measures < 1:
        raise UserError(f"--max-measures must be at least 1, got {args.max_measures}")
    config = None
    if args.preset:
        from ..modeling.configuration_umust import UMustConfig  # heavy: transformers

        try:
            config = UMustConfig.from_preset(args.preset)
        except (KeyError, ValueError) as error:
            raise UserError(f"--preset: {error}") from None
    processor = _processor(args.processor, args.device)
    data = load_corpus(args.corpus, args.root, streaming=args.streaming)
    summary = bake_corpus(
        args.corpus, data, processor, args.out, tasks=args.tasks, limit=args.limit, config=config,
        overwrite=args.overwrite, append=args.append, max_measures=args.max_measures,
    )
    for split, counts in summary.examples.items():
        print(f"{split}: {sum(counts.values())} examples {counts}, {summary.skipped_rows[split]} rows skipped")
    if summary.too_long:
        print(f"dropped as too long: {summary.too_long}")
    print(f"baked {summary.corpus} into {summary.out_dir} in {summary.wall_seconds:.1f} s")
    return 0
