"""Tokenizer speed: embedded-corpus excerpts per second, both directions, for LMX and MIDI.

    python benchmarks/bench_tokenizers.py [--corpus DIR] [--repeats 3] [--long-seconds 300]

* LMX encode = ``LMXTokenizer.from_musicxml`` (MusicXML text -> tokens, grammar check included);
  LMX decode = ``LMXTokenizer.to_musicxml`` (ids -> complete MusicXML text).
* MIDI encode = ``MidiTokenizer.encode_midi`` (MIDI bytes -> partitura -> notes -> segments);
  MIDI decode = ``MidiTokenizer.decode_to_midi`` (segments -> notes -> MIDI bytes via partitura).
  The pure event codec (notes <-> ids, no file I/O) is timed too, and so is one long synthetic
  multi-instrument performance (``--long-seconds``) to show how segmenting scales.

Without ``--corpus`` a small embedded corpus (4 pieces) is built in a temporary folder first.
excerpts/s = excerpts / wall seconds, the best of ``--repeats`` passes after a warm-up pass.
Writes ``benchmarks/results/tokenizers.json`` (atomically).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "tokenizers.json"


def best_rate(items: list, run: Callable, repeats: int) -> float:
    """Items per second: best of ``repeats`` timed passes after one warm-up pass."""
    for item in items:
        run(item)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            run(item)
        best = min(best, time.perf_counter() - start)
    return len(items) / best


def load_excerpts(corpus: str | None) -> tuple[list[str], list[bytes], str]:
    import datasets

    from umust_hf.data.embedded import build_embedded_corpus

    name = "built here: max_pieces=4, seed=0"
    if corpus is not None:
        build = Path(corpus) / "build.json"
        settings = json.loads(build.read_text()) if build.is_file() else {}
        name = f"given: {Path(corpus).name} (build settings {settings})"
    if corpus is None:
        corpus = tempfile.mkdtemp(prefix="bench-tokenizers-")
        build_embedded_corpus(corpus, max_pieces=4, seed=0, num_proc=1, show_progress=False)
    dataset = datasets.load_from_disk(corpus)
    xml: list[str] = []
    midi: list[bytes] = []
    for split in dataset.values():
        for row in split.select_columns(["musicxml", "midi"]):
            xml.append(row["musicxml"])
            midi.append(row["midi"])
    return xml, midi, name


def long_performance(seconds: float, seed: int = 0) -> list:
    from umust_hf.processing.notes import Note

    rng = random.Random(seed)
    notes = []
    for program, is_drum in ((0, False), (40, False), (33, False), (0, True)):
        t = 0.0
        while t < seconds:
            notes.append(Note(t, t + rng.uniform(0.05, 2.0), rng.randint(30, 90), 90, program, is_drum))
            t += rng.uniform(0.05, 0.5)
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", help="a built embedded corpus (datasets.load_from_disk folder)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-seconds", type=float, default=300.0)
    args = parser.parse_args()
    logging.getLogger("umust_hf").setLevel(logging.ERROR)

    from umust_hf.processing.tokenization_lmx import LMXTokenizer
    from umust_hf.processing.tokenization_midi import MidiTokenizer

    xml, midi, corpus = load_excerpts(args.corpus)
    lmx_tok, midi_tok = LMXTokenizer(), MidiTokenizer()
    lmx_ids = [lmx_tok(" ".join(lmx_tok.from_musicxml(x)))["input_ids"] for x in xml]
    midi_segments = [midi_tok.encode_midi(m) for m in midi]
    midi_notes = [midi_tok.midi_to_notes(m) for m in midi]

    long_notes = long_performance(args.long_seconds)
    long_segments = midi_tok.encode_notes(long_notes)
    start = time.perf_counter()
    midi_tok.decode_segments(midi_tok.encode_notes(long_notes))
    long_round_trip = time.perf_counter() - start

    results = {
        "excerpts": len(xml),
        "corpus": corpus,
        "lmx": {
            "encode_excerpts_per_s": best_rate(xml, lmx_tok.from_musicxml, args.repeats),
            "decode_excerpts_per_s": best_rate(lmx_ids, lmx_tok.to_musicxml, args.repeats),
            "mean_tokens": sum(map(len, lmx_ids)) / len(lmx_ids),
        },
        "midi": {
            "encode_excerpts_per_s": best_rate(midi, midi_tok.encode_midi, args.repeats),
            "decode_excerpts_per_s": best_rate(midi_segments, midi_tok.decode_to_midi, args.repeats),
            "events_encode_excerpts_per_s": best_rate(midi_notes, midi_tok.encode_notes, args.repeats),
            "events_decode_excerpts_per_s": best_rate(midi_segments, midi_tok.decode_segments, args.repeats),
            "mean_notes": sum(map(len, midi_notes)) / len(midi_notes),
            "mean_tokens": sum(len(s) for segs in midi_segments for s in segs) / len(midi_segments),
        },
        "midi_long_performance": {
            "seconds": args.long_seconds,
            "notes": len(long_notes),
            "segments": len(long_segments),
            "tokens": sum(map(len, long_segments)),
            "encode_plus_decode_s": long_round_trip,
        },
        "machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=RESULTS.parent, suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")
    os.replace(tmp, RESULTS)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
