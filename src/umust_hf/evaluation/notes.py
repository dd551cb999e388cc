"""One note-list shape for every note metric: a float array ``(N, 3)`` of onset, offset, pitch.

Onsets and offsets are in seconds, pitch is a MIDI number (0-127). The metrics take notes
from several producers (our MIDI tokenizer's note objects, partitura note arrays, plain
tuples, JSON lists), so :func:`as_note_array` converts them all once, and checks them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

#: Zero-length notes (drum hits, onset-only events) get this length so mir_eval accepts
#: them; it equals one MIDI time step (10 ms).
MIN_NOTE_SECONDS = 0.01

NoteInput = Any  # ndarray (N, >=3), structured array, iterable of tuples or note objects


def _row(note: Any) -> tuple[float, float, float]:
    if hasattr(note, "start") and hasattr(note, "end") and hasattr(note, "pitch"):  # pretty_midi / MidiNote
        return float(note.start), float(note.end), float(note.pitch)
    if hasattr(note, "onset") and hasattr(note, "pitch"):
        offset = getattr(note, "offset", None)
        if offset is None:
            offset = note.onset + getattr(note, "duration", 0.0)
        return float(note.onset), float(offset), float(note.pitch)
    if isinstance(note, dict):
        return float(note["onset"]), float(note["offset"]), float(note["pitch"])
    values = tuple(note)
    if len(values) < 3:
        raise ValueError(f"a note needs (onset, offset, pitch); got {note!r}")
    return float(values[0]), float(values[1]), float(values[2])


def as_note_array(notes: NoteInput, *, name: str = "notes") -> np.ndarray:
    """Convert notes to a checked ``(N, 3)`` float64 array sorted by onset, then pitch.

    Accepts an ``(N, >=3)`` array, a partitura-style structured array (fields
    ``onset_sec``, ``duration_sec``, ``pitch``), or an iterable of ``(onset, offset, pitch)``
    tuples, dicts or objects with ``onset``/``offset`` (or ``duration``)/``pitch`` or
    ``start``/``end``/``pitch`` (pretty_midi notes, :class:`umust_hf.data.audio_io.MidiNote`).

    Raises:
        ValueError: naming ``name`` when a note has a negative time, ends before it starts,
            or has a pitch outside 0-127.
    """
    if isinstance(notes, np.ndarray) and notes.dtype.names:
        fields = notes.dtype.names
        if {"onset_sec", "duration_sec", "pitch"} <= set(fields):
            onset = notes["onset_sec"].astype(float)
            array = np.stack([onset, onset + notes["duration_sec"].astype(float), notes["pitch"].astype(float)], 1)
        elif {"onset", "offset", "pitch"} <= set(fields):
            array = np.stack([notes[f].astype(float) for f in ("onset", "offset", "pitch")], 1)
        else:
            raise ValueError(f"{name}: structured array needs onset_sec/duration_sec/pitch fields, has {fields}")
    elif isinstance(notes, np.ndarray):
        if notes.size == 0:
            array = np.zeros((0, 3))
        elif notes.ndim != 2 or notes.shape[1] < 3:
            raise ValueError(f"{name}: expected an (N, 3) array of onset, offset, pitch; got shape {notes.shape}")
        else:
            array = notes[:, :3].astype(float)
    else:
        rows = [_row(note) for note in (notes if isinstance(notes, Iterable) else [])]
        array = np.asarray(rows, dtype=float).reshape(-1, 3)
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: notes contain NaN or infinite values")
    if (array[:, 0] < 0).any():
        raise ValueError(f"{name}: negative onset at note {int(np.argmax(array[:, 0] < 0))}")
    if (array[:, 1] < array[:, 0]).any():
        raise ValueError(f"{name}: note {int(np.argmax(array[:, 1] < array[:, 0]))} ends before it starts")
    if ((array[:, 2] < 0) | (array[:, 2] > 127)).any():
        raise ValueError(f"{name}: MIDI pitch outside 0-127")
    array[:, 1] = np.maximum(array[:, 1], array[:, 0] + MIN_NOTE_SECONDS)
    order = np.lexsort((array[:, 2], array[:, 0]))
    return array[order]


def midi_to_hz(pitch: np.ndarray) -> np.ndarray:
    """MIDI note number -> frequency in Hz (A4 = 69 = 440 Hz), as mir_eval expects."""
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=float) - 69.0) / 12.0)
