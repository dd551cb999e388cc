"""Small helpers shared by test modules (not tests themselves)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


@contextmanager
def quiet_repairs() -> Iterator[None]:
    """Silence the expected repair warnings without leaking a log level into other tests."""
    logger = logging.getLogger("umust_hf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def staff_image(width: int, seed: int) -> np.ndarray:
    """A white ``(192, width)`` system with five staff lines and a few random dark strokes."""
    image = np.full((192, width), 255, np.uint8)
    for line in range(5):
        image[80 + 8 * line] = 0
    image[70:130, np.random.default_rng(seed).integers(0, width, 6)] = 0
    return image


def midi_of(seconds: float, pitch: int, every: float = 0.5) -> bytes:
    """MIDI bytes of notes every ``every`` seconds for ``seconds`` (pitches cycling upwards from ``pitch``)."""
    from umust_hf import MidiTokenizer
    from umust_hf.processing.notes import Note

    onsets = np.arange(0, seconds, every)
    return MidiTokenizer().notes_to_midi([Note(t, t + 0.4, pitch + i % 5) for i, t in enumerate(onsets)])
