"""``umust demo``: build (or reuse) the embedded corpus and write a preview of one excerpt.

Until a trained model ships, this is the quickest way to see what the package does:
every excerpt pairs a score image, its LMX/MusicXML, a performance MIDI and audio.
"""

from __future__ import annotations

import argparse

HELP = "build or reuse the default embedded corpus in ./umust-data and write a preview PNG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="umust-data", help="corpus directory (default: %(default)s)")
    parser.add_argument("--num-proc", type=int, default=2, metavar="P", help="worker processes for a build (default: %(default)s)")
    parser.add_argument("--index", type=int, default=0, help="row of the train split to preview (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from umust_hf.data.embedded import build_embedded_corpus, write_preview
    from umust_hf.data.embedded.builder import SUMMARY_FILE

    out = Path(args.out)
    if (out / "dataset_dict.json").is_file() and (out / SUMMARY_FILE).is_file():
        summary = json.loads((out / SUMMARY_FILE).read_text())
        print(f"reusing the embedded corpus in {out}: {summary['pieces']} pieces, {summary['excerpts']} excerpts, {summary['hours']:.2f} h of audio")
    else:
        print(f"building the embedded corpus in {out} (a few minutes; rerun to resume if interrupted)")
        print(build_embedded_corpus(out, num_proc=args.num_proc).format())
    preview = write_preview(out, out / "preview.png", index=args.index)
    print(f"preview (system image | piano roll | spectrogram): {preview}")
    print(f"dataset: datasets.load_from_disk({str(out)!r})  (splits train/validation/test)")
    print(f"raw files (MusicXML, LMX, PNG, MIDI, FLAC per excerpt): {out / 'raw'}")
    print(f"page renderings with system and staff boxes: datasets.load_from_disk({str(out / 'pages')!r})")
    return 0
