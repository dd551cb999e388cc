"""External transcriber speed: basic-pitch (nmp.onnx through onnxruntime) in times real time on this CPU.

    python benchmarks/bench_transcriber.py --corpus DIR [--split test] [--repeats 3]

``DIR``: an embedded-corpus DatasetDict (e.g. ``umust-demo/work/excerpts`` of a ``umust demo`` run).
Times the transcription of every clip of the split (notes included, the model load excluded),
the best of ``--repeats`` passes after a warm-up pass; writes ``benchmarks/results/transcriber.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from _common import machine_facts

RESULTS = Path(__file__).resolve().parent / "results" / "transcriber.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import datasets
    import onnxruntime

    from umust_hf.data.audio_io import decode_audio
    from umust_hf.evaluation.transcribers import BasicPitchTranscriber
    from umust_hf.io_utils import atomic_write_json

    clips = [decode_audio(audio) for audio in datasets.load_from_disk(args.corpus)[args.split]["audio"]]
    seconds = sum(len(audio) / rate for audio, rate in clips)
    facts = machine_facts("transcriber")
    start = time.perf_counter()
    transcriber = BasicPitchTranscriber()
    load = time.perf_counter() - start
    transcriber.transcribe_batch(clips)  # warm-up
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        transcriber.transcribe_batch(clips)
        best = min(best, time.perf_counter() - start)
    result = {**facts, "transcriber": transcriber.name, "onnxruntime": onnxruntime.__version__,
              "clips": len(clips), "audio_seconds": round(seconds, 1), "model_load_seconds": round(load, 3),
              "wall_seconds": round(best, 3), "times_real_time": round(seconds / best, 1),
              "corpus": f"{Path(args.corpus).name}[{args.split}]"}  # fmt: skip
    atomic_write_json(RESULTS, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
