"""Trivial baselines the demo's trained models must beat (the ones ``evaluation.baselines`` lacks).

- ``most_frequent``: the single training sequence an output-agnostic predictor would always
  emit: the most frequent one; ties (every excerpt is unique in a small corpus) go to the
  training medoid, the sequence with the smallest total distance to all the others, which
  makes the baseline as strong as a constant prediction can be.
- ``random_training_clip``: each held-out excerpt gets the audio (and MIDI) of a randomly
  drawn training excerpt (the paper's random-pairing baseline for generated audio).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from ..data.audio_io import read_midi_notes
from ..evaluation.ser import split_tokens, token_edit_distance

T = TypeVar("T")


def most_frequent(items: Sequence[T], distance: Callable[[T, T], float], *, key: Callable[[T], Any] = lambda x: x,
                  max_candidates: int = 200, seed: int = 0) -> T:
    """The most frequent item of ``items``; among equally frequent ones the medoid under ``distance``.

    At most ``max_candidates`` tied items (a seeded sample) are compared, each against all items.
    """
    if not items:
        raise ValueError("most_frequent needs at least one training item")
    counts = Counter(key(item) for item in items)
    top = max(counts.values())
    tied = [item for item in items if counts[key(item)] == top]
    unique = list({key(item): item for item in tied}.values())
    if len(unique) == 1:
        return unique[0]
    if len(unique) > max_candidates:
        chosen = np.random.default_rng(seed).choice(len(unique), max_candidates, replace=False)
        unique = [unique[i] for i in sorted(chosen)]
    totals = [sum(distance(candidate, other) for other in items) for candidate in unique]
    return unique[int(np.argmin(totals))]


def lmx_distance(a: str, b: str) -> float:
    """Token edit distance between two LMX strings (the SER numerator)."""
    return float(token_edit_distance(split_tokens(a), split_tokens(b)))


def midi_distance(a: bytes, b: bytes) -> float:
    """1 - onset F1 (50 ms) between the notes of two MIDI files."""
    from ..evaluation.note_f1 import note_f1  # heavy: mir_eval

    return 1.0 - note_f1(read_midi_notes(a), read_midi_notes(b)).f1


def random_partners(count: int, pool: int, seed: int) -> np.ndarray:
    """For each of ``count`` held-out excerpts, the index of a random training excerpt (seeded)."""
    return np.random.default_rng(seed).integers(0, pool, size=count)


def constant_lmx(train: Any, seed: int = 0) -> str:
    """The OMR baseline's one reading: the most frequent LMX of the ``train`` excerpts."""
    return most_frequent(list(train["lmx"]), lmx_distance, seed=seed)


def constant_midi(train: Any, seed: int = 0) -> bytes:
    """The AMT baseline's one transcription: the most frequent MIDI of the ``train`` excerpts
    (at most 60 tied candidates: each comparison reads two MIDI files)."""
    return most_frequent([bytes(m) for m in train["midi"]], midi_distance, max_candidates=60, seed=seed)
