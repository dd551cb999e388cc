"""One PNG that shows an excerpt's modalities side by side: system image, piano roll, spectrogram."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...io_utils import atomic_write
from ..audio_io import decode_audio, read_midi_notes
from .builder import load_embedded_corpus


def write_preview(directory: str | os.PathLike, out_png: str | os.PathLike, index: int = 0, split: str = "train") -> Path:
    """Draw row ``index`` of ``split`` of the corpus in ``directory`` into ``out_png``.

    Falls back to the first non-empty split when ``split`` is empty.
    """
    import matplotlib  # heavy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: matplotlib

    corpus = load_embedded_corpus(directory)
    if len(corpus[split]) == 0:
        split = next((name for name in corpus if len(corpus[name]) > 0), split)
    rows = corpus[split]
    if not 0 <= index < len(rows):
        raise UserError(f"preview index {index} is outside the {len(rows)} rows of split {split!r} in {directory}")
    row = rows[index]
    samples, rate = decode_audio(row["audio"])
    notes = read_midi_notes(row["midi"])

    figure, axes = plt.subplots(3, 1, figsize=(12, 8), gridspec_kw={"height_ratios": [1.4, 1, 1]})
    axes[0].imshow(np.asarray(row["image"]), cmap="gray", vmin=0, vmax=255, aspect="equal")
    axes[0].set_title(f"{row['id']}  ({row['composer'] or 'anon.'}: {row['title']}, measures {row['start_measure']}-{row['end_measure']})", fontsize=9)
    axes[0].axis("off")
    for note in notes:
        axes[1].add_patch(plt.Rectangle((note.start, note.pitch - 0.4), note.end - note.start, 0.8, color=plt.cm.viridis(note.velocity / 127)))
    pitches = [n.pitch for n in notes] or [60]
    axes[1].set_xlim(0, len(samples) / rate)
    axes[1].set_ylim(min(pitches) - 2, max(pitches) + 2)
    axes[1].set_ylabel("MIDI pitch")
    axes[1].set_title(f"performance MIDI: {len(notes)} notes at {row['tempo_bpm']:.0f} BPM", fontsize=9)
    with np.errstate(divide="ignore"):
        axes[2].specgram(samples + 1e-7, NFFT=2048, Fs=rate, noverlap=1536, cmap="magma", vmin=-120)
    axes[2].set_ylim(0, 5000)
    axes[2].set_xlim(0, len(samples) / rate)
    axes[2].set_xlabel("seconds")
    axes[2].set_ylabel("Hz")
    axes[2].set_title(f"audio: {row['duration']:.2f} s at {rate} Hz, GM program {list(row['programs'])}", fontsize=9)
    figure.tight_layout()
    out = atomic_write(out_png, lambda temporary: figure.savefig(temporary, dpi=100, format="png"))
    plt.close(figure)
    return out
