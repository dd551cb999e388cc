"""Pictures of what an audio codec keeps: spectrograms of held-out originals and reconstructions,
with the ground-truth notes (white outlines) and basic-pitch's notes on each (red) drawn over them.

    python scripts/codec_spectrograms.py DEMO_DIR CODEC_DIR [CODEC_DIR ...] --out codecs.png [--excerpts 3] [--seconds 6]

DEMO_DIR is a finished ``umust demo`` folder (its ``umust-demo/work/excerpts`` test split is used);
each CODEC_DIR is a saved audio codec (DAC or spectral). One row per excerpt, one column per source.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SR = 44100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo_dir", type=Path)
    parser.add_argument("codecs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--excerpts", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()

    import datasets
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from transformers import AutoModel

    import umust_hf  # noqa: F401  registers the audio codecs with AutoModel
    from umust_hf.data.audio_io import decode_audio, read_midi_notes
    from umust_hf.demo.figure import draw_spectrogram_with_notes
    from umust_hf.evaluation.transcribers import default_transcriber
    from umust_hf.io_utils import atomic_write

    test = datasets.load_from_disk(str(args.demo_dir / "umust-demo" / "work" / "excerpts"))["test"]
    rows = [test[i] for i in np.linspace(0, len(test) - 1, args.excerpts).astype(int)]
    codecs = [(f"{path.parent.name}/{path.name}", AutoModel.from_pretrained(path).eval()) for path in args.codecs]
    transcriber = default_transcriber()

    columns = 1 + len(codecs)
    figure, axes = plt.subplots(len(rows), columns, figsize=(4.2 * columns, 2.8 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        audio, rate = decode_audio(row["audio"])
        audio = librosa.resample(audio, orig_sr=rate, target_sr=SR) if rate != SR else audio
        audio = audio[: int(args.seconds * SR)].astype(np.float32)
        truth = [n for n in read_midi_notes(row["midi"]) if n.start < args.seconds]
        sources = [("original", audio)]
        for name, codec in codecs:
            with torch.no_grad():
                decoded = codec.decode(codec.encode(torch.from_numpy(audio)[None, None]))[0, 0, : len(audio)].numpy()
            sources.append((name, decoded))
        for c, (name, clip) in enumerate(sources):
            notes = {"white": truth, **({"red": transcriber(clip, SR)} if transcriber is not None else {})}
            draw_spectrogram_with_notes(axes[r, c], clip, SR, notes, name)
    figure.suptitle("white: ground-truth notes; red: basic-pitch on that audio", fontsize=9)
    figure.tight_layout()
    atomic_write(args.out, lambda temporary: figure.savefig(temporary, dpi=80, format="png"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
