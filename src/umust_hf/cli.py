"""The ``umust`` command.

Each subcommand lives in its own module under :mod:`umust_hf.commands` and exposes
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Command modules
keep heavy imports (torch, transformers, verovio...) inside ``run`` so that ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from ._version import __version__
from .errors import UserError

# subcommand name -> module under umust_hf.commands ("module:NAME" for an object in a module)
COMMANDS: dict[str, str] = {
    "build-corpus": "build_corpus",
    "bake": "bake",
    "demo": "demo",
    "evaluate": "evaluate",
    "train": "train",
    "omr": "translate:OMR",
    "transcribe": "translate:TRANSCRIBE",
    "synthesize": "translate:SYNTHESIZE",
    "render": "translate:RENDER",
    "score2audio": "translate:SCORE2AUDIO",
    "audio2score": "translate:AUDIO2SCORE",
    "ytsv": "ytsv",
    "train-codec": "train_codec",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="umust",
        description="U-MUST: translate between score images, notation (LMX/MusicXML), MIDI and audio.",
    )
    parser.add_argument("--version", action="version", version=f"umust-hf {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module_name, _, attribute = module_name.partition(":")
        module = importlib.import_module(f"umust_hf.commands.{module_name}")
        if attribute:
            module = getattr(module, attribute)
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None, *, before_run: Callable[[], None] | None = None) -> int:
    """Parse ``argv`` and run its command; ``before_run`` is called once the command is known
    (the console script finishes the package's import there, see :mod:`umust_cli`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 0
    if before_run is not None:
        before_run()
    try:
        return int(args._run(args) or 0)
    except UserError as error:
        print(f"umust {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"umust {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
