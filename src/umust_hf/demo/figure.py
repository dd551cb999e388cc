"""The demo's summary figure: for each of the six tasks, one held-out input beside the model's output.

Images are drawn as images, audio as a spectrogram, MIDI/notes as a piano roll and LMX as
wrapped token text, so every panel shows what the file next to it holds.
"""

from __future__ import annotations

import io
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..evaluation.notes import as_note_array

TITLES = {
    "omr": ("score image", "OMR: LMX read by umust-i2a"),
    "amt": ("audio", "AMT: notes transcribed by umust-a2i"),
    "m2a": ("performance MIDI", "MIDI-to-audio by umust-i2a"),
    "i2a": ("score image", "image-to-audio by umust-i2a"),
    "l2i": ("LMX", "LMX-to-image by umust-a2i"),
    "a2i": ("audio", "audio-to-image by umust-a2i"),
}


def _as_image(value: Any) -> np.ndarray:
    if isinstance(value, dict):  # a dataset image cell {"bytes", "path"}
        value = Image.open(io.BytesIO(value["bytes"])) if value.get("bytes") else Image.open(value["path"])
    return np.asarray(value.convert("L"))


def _draw(axis: Any, value: Any, kind: str) -> None:
    """Draw one panel: ``kind`` is image, audio ((samples, rate)), notes ((N, 3) or MidiNotes) or text."""
    import matplotlib.pyplot as plt  # heavy: matplotlib

    if kind == "image":
        axis.imshow(_as_image(value), cmap="gray", vmin=0, vmax=255, aspect="auto")
        axis.axis("off")
    elif kind == "audio":
        samples, rate = value
        samples = np.asarray(samples, dtype=np.float32)
        if samples.size < 4096:
            axis.text(0.5, 0.5, "(no audio generated)", ha="center", va="center", transform=axis.transAxes)
        else:
            with np.errstate(divide="ignore"):
                axis.specgram(samples + 1e-7, NFFT=2048, Fs=rate, noverlap=1536, cmap="magma", vmin=-120)
            axis.set_ylim(0, 5000)
        axis.set_xlabel("s", fontsize=7)
        axis.set_ylabel("Hz", fontsize=7)
    elif kind == "notes":
        notes = as_note_array(value)
        for onset, offset, pitch in notes:
            axis.add_patch(plt.Rectangle((onset, pitch - 0.4), max(offset - onset, 0.02), 0.8, color="tab:blue"))
        if len(notes):
            axis.set_xlim(0, float(notes[:, 1].max()) + 0.1)
            axis.set_ylim(float(notes[:, 2].min()) - 2, float(notes[:, 2].max()) + 2)
        else:
            axis.text(0.5, 0.5, "(no notes)", ha="center", va="center", transform=axis.transAxes)
        axis.set_xlabel("s", fontsize=7)
        axis.set_ylabel("pitch", fontsize=7)
    else:
        text = " ".join(str(value).split()[:90]) or "(empty)"
        axis.text(0.0, 1.0, textwrap.fill(text, 110), va="top", ha="left", family="monospace", fontsize=6,
                  transform=axis.transAxes)
        axis.axis("off")
    axis.tick_params(labelsize=6)


KINDS = {
    "omr": ("image", "text"), "amt": ("audio", "notes"), "m2a": ("notes", "audio"),
    "i2a": ("image", "audio"), "l2i": ("text", "image"), "a2i": ("audio", "image"),
}  # fmt: skip


def write_summary_figure(examples: dict[str, dict[str, Any]], out_png: str | os.PathLike) -> Path:
    """``examples``: task -> {"input": ..., "output": ...}; writes one PNG atomically and returns its path."""
    import matplotlib  # heavy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: matplotlib

    tasks = [task for task in TITLES if task in examples]
    figure, axes = plt.subplots(len(tasks), 2, figsize=(14, 2.3 * len(tasks)), squeeze=False)
    for row, task in enumerate(tasks):
        for column, side in enumerate(("input", "output")):
            _draw(axes[row, column], examples[task][side], KINDS[task][column])
            axes[row, column].set_title(f"{task.upper()} {side}: {TITLES[task][column]}", fontsize=8)
    figure.suptitle("umust demo: held-out test excerpts (left: input, right: trained model's output)", fontsize=10)
    return _save(figure, out_png)


def write_alignment_figure(maps: dict[str, np.ndarray], out_png: str | os.PathLike) -> Path:
    """``maps``: task -> ``(T, S)`` cross-attention of one held-out example; one panel per task.

    A model that reads its source in order draws a band from the top left to the bottom right;
    each title gives the band's share of the attention (:func:`~umust_hf.evaluation.alignment.diagonal_mass`).
    """
    import matplotlib  # heavy: matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: matplotlib

    from ..evaluation.alignment import diagonal_mass  # heavy: torch

    tasks = [task for task in TITLES if task in maps]
    if not tasks:
        raise ValueError("no attention map to draw")
    columns = min(3, len(tasks))
    rows = -(-len(tasks) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    for axis in axes.flat[len(tasks):]:
        axis.axis("off")
    for axis, task in zip(axes.flat, tasks):
        attention = np.asarray(maps[task], dtype=np.float32)
        rows_scaled = attention / np.maximum(attention.max(axis=1, keepdims=True), 1e-9)  # each frame's own focus
        axis.imshow(rows_scaled, aspect="auto", origin="upper", cmap="viridis", vmin=0.0, vmax=1.0,
                    interpolation="nearest")
        source, target = KINDS[task]
        axis.set_title(f"{task.upper()}: diagonal mass {diagonal_mass(attention):.2f}", fontsize=8)
        axis.set_xlabel(f"source frame ({source})", fontsize=7)
        axis.set_ylabel(f"target frame ({target})", fontsize=7)
        axis.tick_params(labelsize=6)
    figure.suptitle("umust demo: cross-attention on one held-out excerpt per task (teacher forced, mean over "
                    "heads and layers, each row scaled to its maximum)", fontsize=9)
    return _save(figure, out_png)


def _save(figure: Any, out_png: str | os.PathLike) -> Path:
    """Write ``figure`` as a PNG atomically and close it."""
    import matplotlib.pyplot as plt  # heavy: matplotlib

    figure.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    figure.savefig(tmp, dpi=90, format="png")
    plt.close(figure)
    os.replace(tmp, out)
    return out


# ------------------------------------------------------------------ spectrograms with notes drawn over them
#: Log-mel layout of :func:`draw_spectrogram_with_notes` (229 bins from 30 Hz, as Onsets and Frames).
_MELS, _FMIN = 229, 30.0


def draw_spectrogram_with_notes(axis: Any, audio: np.ndarray, sr: int, notes: dict[str, Any], title: str = "") -> None:
    """A log-mel spectrogram of ``audio`` on ``axis`` with note outlines over it: ``notes`` maps a matplotlib
    colour to notes (``(N, 3+)`` start/end/pitch arrays or objects with ``start``/``end``/``pitch``),
    each drawn as a box over its pitch's mel rows; the y range is the piano's."""
    import librosa  # heavy: librosa
    from matplotlib.patches import Rectangle  # heavy: matplotlib

    mel = librosa.feature.melspectrogram(y=audio, sr=sr, n_fft=2048, hop_length=512, n_mels=_MELS, fmin=_FMIN)
    hz = librosa.mel_frequencies(n_mels=_MELS, fmin=_FMIN, fmax=sr / 2)

    def row_of(pitch: float) -> float:
        return float(np.interp(440.0 * 2 ** ((pitch - 69) / 12), hz, np.arange(_MELS)))

    axis.imshow(librosa.power_to_db(mel, ref=np.max, top_db=80.0), origin="lower", aspect="auto", cmap="magma",
                extent=(0, len(audio) / sr, 0, _MELS))
    for colour, rows in notes.items():
        for start, end, pitch in as_note_array(rows)[:, :3]:
            low, high = row_of(pitch - 0.5), row_of(pitch + 0.5)
            axis.add_patch(Rectangle((start, low), end - start, max(high - low, 1.0), fill=False, edgecolor=colour,
                                     linewidth=0.8))
    axis.set_ylim(row_of(21) - 2, row_of(108) + 2)
    axis.set_yticks([])
    axis.set_title(title, fontsize=8)
