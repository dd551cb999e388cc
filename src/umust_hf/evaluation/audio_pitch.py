"""Pitch agreement of two recordings without a transcriber: do they sound the same notes?

A codec reconstruction can keep every onset and the loudness envelope yet lose the pitches:
onset F1 (:mod:`.audio_onsets`) and the mel distance do not show it. Here each recording becomes
a semitone roll - a constant-Q spectrum with one bin per piano key (A0..C8), a bin counted as
sounding when it is a peak across keys (a tone leaks into its neighbours), within ``within_db``
of its frame's loudest bin and above an absolute floor -
and two rolls are compared by F1 over (key, frame) cells. A recording agrees with itself at 1;
:func:`pitch_agreement_chance` (each clip against another clip) gives the level of "other notes".
Calibration figures on the embedded corpus are in the repository's ``docs/experiments.md``.

:func:`transcription_agreement` is the second view, through a pretrained transcriber
(:mod:`.transcribers`, basic-pitch): onset F1 of its notes on a reconstruction against its notes
on the original, beside the same figure for another clip.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .note_f1 import note_f1
from .transcribers import Transcriber, transcribe_all

#: Piano keys A0..C8 (MIDI 21..108), the bins of a semitone roll.
LOWEST_KEY, KEYS = 21, 88
HOP_LENGTH = 512
WITHIN_DB, FLOOR_DB = 20.0, -60.0


def semitone_roll(audio: np.ndarray, sr: int, *, within_db: float = WITHIN_DB, floor_db: float = FLOOR_DB) -> np.ndarray:
    """``(88, frames)`` booleans: which piano keys sound in each hop of ``audio`` (see the module doc)."""
    import librosa  # heavy: librosa

    audio = np.asarray(audio, dtype=np.float32)
    frames = 1 + len(audio) // HOP_LENGTH
    if not np.any(audio):
        return np.zeros((KEYS, frames), dtype=bool)
    with warnings.catch_warnings():  # short clips: librosa warns that its lowest octaves' FFTs outgrow them
        warnings.filterwarnings("ignore", message="n_fft=.* is too large")
        spectrum = np.abs(librosa.cqt(audio, sr=sr, hop_length=HOP_LENGTH, fmin=librosa.midi_to_hz(LOWEST_KEY),
                                      n_bins=KEYS, bins_per_octave=12))
    decibels = librosa.amplitude_to_db(spectrum, ref=float(spectrum.max()) or 1.0)
    loud = decibels > np.maximum(decibels.max(axis=0, keepdims=True) - within_db, floor_db)
    padded = np.pad(decibels, ((1, 1), (0, 0)), constant_values=-np.inf)
    peak = (decibels >= padded[:-2]) & (decibels >= padded[2:])  # a tone leaks into the keys beside it
    return loud & peak


def pitch_agreement(references: Sequence[np.ndarray], estimates: Sequence[np.ndarray], sr: int) -> float | None:
    """F1 of the estimates' semitone rolls against the references', pooled over clips (each pair cut
    to the shorter); ``None`` when no reference sounds at all."""
    overlap = total = 0
    for reference, estimate in zip(references, estimates, strict=True):
        a, b = semitone_roll(reference, sr), semitone_roll(estimate, sr)
        frames = min(a.shape[1], b.shape[1])
        a, b = a[:, :frames], b[:, :frames]
        overlap += int((a & b).sum())
        total += int(a.sum() + b.sum())
    if total == 0:
        return None
    return 2.0 * overlap / total


def pitch_agreement_chance(references: Sequence[np.ndarray], sr: int) -> float | None:
    """:func:`pitch_agreement` of each clip against the next one (the last against the first): what
    sounding other notes scores. ``None`` for fewer than two clips."""
    if len(references) < 2:
        return None
    return pitch_agreement(references, [*references[1:], references[0]], sr)


def transcription_agreement(references: Sequence[np.ndarray], estimates: Sequence[np.ndarray], sr: int,
                            transcriber: Transcriber, *, onset_tolerance: float = 0.05) -> dict[str, Any]:
    """Mean onset F1 of ``transcriber``'s notes on each estimate against its notes on the matching
    reference (``agreement``), and on each reference's neighbour (``chance``: the last against the
    first; None for one clip), each pair cut to the shorter clip; ``transcriber``: its name."""
    cut = [min(len(r), len(e)) for r, e in zip(references, estimates, strict=True)]
    original = transcribe_all(transcriber, [(np.asarray(r)[:n], sr) for r, n in zip(references, cut)])
    rebuilt = transcribe_all(transcriber, [(np.asarray(e)[:n], sr) for e, n in zip(estimates, cut)])

    def mean_f1(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
        return float(np.mean([note_f1(a, b, onset_tolerance=onset_tolerance).f1 for a, b in pairs]))

    chance = mean_f1(list(zip(original, [*original[1:], original[0]]))) if len(original) >= 2 else None
    return {"transcriber": getattr(transcriber, "name", None), "agreement": mean_f1(list(zip(original, rebuilt))),
            "chance": chance}


__all__ = ["semitone_roll", "pitch_agreement", "pitch_agreement_chance", "transcription_agreement"]
