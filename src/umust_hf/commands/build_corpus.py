"""``umust build-corpus``: build the embedded four-modality corpus (work in progress)."""

from __future__ import annotations

import argparse

HELP = "build the embedded corpus (image, LMX/MusicXML, MIDI, audio) from scores shipped in PyPI packages"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="umust-data", help="output directory (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from umust_hf.errors import UserError

    raise UserError("the corpus builder is not implemented yet")
