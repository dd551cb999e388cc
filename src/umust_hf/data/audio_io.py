"""Read the ``audio`` and ``midi`` columns of our datasets without torchcodec.

``datasets`` 5.x decodes ``Audio()`` only through torchcodec, which we do not depend
on; the corpora store ``Audio(decode=False)`` (embedded FLAC/WAV bytes) and these
helpers decode them with soundfile.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from ..errors import UserError


@dataclass(frozen=True)
class MidiNote:
    """One note of a MIDI file; times in seconds, ``program`` is the 0-based GM program (-1: drums)."""

    pitch: int
    start: float
    end: float
    velocity: int
    program: int


def decode_audio(value, *, mono: bool = True) -> tuple[np.ndarray, int]:
    """Samples and sampling rate of an ``audio`` cell.

    ``value`` is what an ``Audio(decode=False)`` column yields (``{"bytes": ..., "path": ...}``),
    raw file bytes, or a path. Returns float32 ``(num_samples,)`` when ``mono`` (channels
    averaged), else ``(num_samples, channels)``.
    """
    import soundfile  # heavy: soundfile

    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        source = io.BytesIO(data) if data else path
    elif isinstance(value, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(value))
    elif isinstance(value, (str, os.PathLike)):
        source = value
    else:
        raise UserError(f"cannot decode audio from a {type(value).__name__}; expected bytes, a path or {{'bytes', 'path'}}")
    if source is None:
        raise UserError("audio cell has neither bytes nor a path")
    try:
        samples, rate = soundfile.read(source, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as error:
        raise UserError(f"cannot decode audio ({error})") from error
    return (samples.mean(axis=1) if mono else samples), int(rate)


def read_midi_notes(midi_bytes: bytes) -> list[MidiNote]:
    """All notes of a MIDI file, sorted by (start, pitch)."""
    import pretty_midi  # heavy: pretty_midi

    try:
        midi = pretty_midi.PrettyMIDI(io.BytesIO(bytes(midi_bytes)))
    except Exception as error:  # mido/pretty_midi raise several types on bad bytes
        raise UserError(f"cannot read MIDI ({type(error).__name__}: {error})") from error
    notes = [
        MidiNote(n.pitch, float(n.start), float(n.end), n.velocity, -1 if inst.is_drum else inst.program)
        for inst in midi.instruments
        for n in inst.notes
    ]
    return sorted(notes, key=lambda n: (n.start, n.pitch, n.end))
