"""Arguments and entry point of ``umust demo`` (``umust_hf.commands.demo`` delegates here)."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from ..errors import UserError
from .settings import DemoSettings

HELP = ("the whole package on a CPU: build the embedded corpus, train codecs and tiny I2A/A2I models, "
        "run all six tasks on held-out excerpts and compare them with trivial baselines")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out-dir", default=".", help="where umust-data/, umust-codecs/, umust-i2a/, umust-a2i/ and "
                        "umust-demo/ go (default: the working directory)")
    parser.add_argument("--budget-minutes", type=float, default=15.0,
                        help="wall-time budget the default settings are sized for; training is capped to fit it "
                             "(default: %(default)s)")
    parser.add_argument("--corpus-pieces", type=int, default=None, metavar="N",
                        help=f"pieces in the embedded corpus (default: {DemoSettings.corpus_pieces}, or 4 with --quick)")
    parser.add_argument("--fresh", action="store_true",
                        help="delete earlier demo outputs (codecs, models, umust-demo/) first; the corpus is kept")
    parser.add_argument("--quick", action="store_true", help="tiny settings (minutes; for CI, not for quality)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    # the first `umust demo` only built the corpus: say where that went instead of abbreviating to --out-dir
    parser.add_argument("--out", dest="old_out", default=None, help=argparse.SUPPRESS)


def settings_from_args(args: argparse.Namespace):
    """DemoSettings for the options: ``--budget-minutes`` scales the training and codec time caps."""
    if getattr(args, "old_out", None) is not None:
        raise UserError("umust demo has no --out: the corpus-only preview is `umust build-corpus --out DIR --preview`; "
                        "the whole demo writes under --out-dir")
    if args.budget_minutes <= 0:
        raise UserError(f"--budget-minutes must be positive, got {args.budget_minutes}")
    if args.corpus_pieces is not None and args.corpus_pieces < 4:
        raise UserError(f"--corpus-pieces must be at least 4 (train and test splits need pieces), got {args.corpus_pieces}")
    settings = DemoSettings.quick() if args.quick else DemoSettings()
    if args.corpus_pieces is not None:
        settings = replace(settings, corpus_pieces=args.corpus_pieces)
    if not args.quick and args.budget_minutes != settings.budget_minutes:
        scale = args.budget_minutes / settings.budget_minutes
        settings = replace(settings, budget_minutes=args.budget_minutes, codec_minutes=settings.codec_minutes * scale,
                           i2a_minutes=settings.i2a_minutes * scale, a2i_minutes=settings.a2i_minutes * scale)
    return settings


def run(args: argparse.Namespace) -> int:
    from .report import timing_table  # heavy: tqdm

    settings = settings_from_args(args)
    started = time.perf_counter()
    from .pipeline import run_demo  # heavy: torch, transformers, datasets

    result = run_demo(args.out_dir, settings, fresh=args.fresh, show_progress=not args.quiet)
    wall = time.perf_counter() - started
    paths = result.paths
    print("\nmetrics on held-out test excerpts (trained model vs trivial baseline):")
    print(result.table)
    print("\nstage times (seconds):")
    print(timing_table(result.stages))
    verdict = "within" if wall <= 60 * settings.budget_minutes else "OVER"
    print(f"wall time {wall / 60:.1f} min, {verdict} the {settings.budget_minutes:g}-minute budget")
    print(f"\noutputs: {paths.demo} (summary.png, alignment.png, metrics.md, omr/ amt/ m2a/ i2a/ l2i/ a2i/)")
    print(f"models: {paths.model('i2a')} and {paths.model('a2i')} "
          "(AutoModel.from_pretrained / AutoProcessor.from_pretrained after `import umust_hf`)")
    return 0
