"""Pictures of what a cpu_amt model transcribes: held-out input spectrograms with the ground-truth notes
(white), the model's notes (cyan) and, beside them, basic-pitch's notes on the same audio (red).

    python scripts/amt_transcriptions.py RUN_DIR --out amt.png [--excerpts 3]

RUN_DIR is the ``--out-dir`` of ``scripts/cpu_path.py amt`` (its ``umust-cpu-amt/model`` and the held-out
excerpts it was measured on). Each panel's title gives that excerpt's onset F1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--excerpts", type=int, default=3)
    args = parser.parse_args()

    import datasets
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from umust_hf.data.audio_io import decode_audio, read_midi_notes
    from umust_hf.demo.figure import draw_spectrogram_with_notes
    from umust_hf.evaluation.note_f1 import note_f1
    from umust_hf.evaluation.transcribers import default_transcriber
    from umust_hf.io_utils import atomic_write
    from umust_hf.translation import UMustTranslator

    run = args.run_dir / "umust-cpu-amt"
    if not (run / "metrics.json").is_file():
        raise SystemExit(f"error: {args.run_dir} holds no finished cpu_amt run (run `python scripts/cpu_path.py amt "
                         f"--out-dir {args.run_dir}` first)")
    translator = UMustTranslator.from_pretrained(run / "model")
    baked = datasets.load_from_disk(str(run / "work" / "baked"))["test"]
    measured = set(baked["id"])  # the excerpts the metrics were computed on
    test = datasets.load_from_disk(str(run / "work" / "excerpts"))["test"]
    candidates = [i for i, row_id in enumerate(test["id"]) if row_id in measured]
    rows = [test[candidates[i]] for i in np.linspace(0, len(candidates) - 1, args.excerpts).astype(int)]
    transcriber = default_transcriber()
    columns = 2 if transcriber is not None else 1
    figure, axes = plt.subplots(len(rows), columns, figsize=(6.0 * columns, 2.6 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        audio, rate = decode_audio(row["audio"])
        truth = read_midi_notes(row["midi"])
        predicted = read_midi_notes(translator.translate({"audio": audio, "sampling_rate": rate}, task="amt")[0])
        panels = [("cpu_amt model", "cyan", predicted)]
        if transcriber is not None:
            panels.append((transcriber.name, "red", transcriber(audio, rate)))
        for c, (name, colour, notes) in enumerate(panels):
            score = note_f1(truth, notes).f1
            draw_spectrogram_with_notes(axes[r, c], audio, rate, {"white": truth, colour: notes},
                                        f"{row['id']}: {name}, onset F1 {100 * score:.0f} %")
    figure.suptitle("white: ground-truth notes; cyan: the cpu_amt model's transcription; red: basic-pitch's", fontsize=9)
    figure.tight_layout()
    atomic_write(args.out, lambda temporary: figure.savefig(temporary, dpi=80, format="png"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
