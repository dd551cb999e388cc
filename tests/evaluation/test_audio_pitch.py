"""Pitch agreement: the same notes score near 1, other notes near chance, silence is handled."""

from __future__ import annotations

import numpy as np
import pytest

from umust_hf.evaluation import transcribers
from umust_hf.evaluation.audio_pitch import (
    KEYS,
    pitch_agreement,
    pitch_agreement_chance,
    semitone_roll,
    transcription_agreement,
)

SR = 22050


def tone(midi_pitches: list[int], seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """A chord of harmonic tones (three partials each) with a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    audio = sum(np.sin(2 * np.pi * 440.0 * 2 ** ((p - 69) / 12) * k * t) / k for p in midi_pitches for k in (1, 2, 3))
    return (0.1 * audio + 1e-3 * np.random.default_rng(seed).normal(size=t.shape)).astype(np.float32)


def test_a_roll_marks_the_keys_that_sound():
    roll = semitone_roll(tone([60, 67]), SR)
    assert roll.shape[0] == KEYS
    loud = roll[:, 10:-10].mean(axis=1) > 0.9  # keys on in (almost) every middle frame
    assert loud[60 - 21] and loud[67 - 21]
    assert not loud[[61 - 21, 64 - 21, 66 - 21, 70 - 21]].any()  # neighbours and other notes stay off
    assert not semitone_roll(np.zeros(SR, np.float32), SR).any()


def test_the_same_notes_agree_and_other_notes_do_not():
    chords = [tone([60, 64, 67], seed=1), tone([57, 62], seed=2), tone([48, 55, 71], seed=3)]
    assert pitch_agreement(chords, chords, SR) == pytest.approx(1.0)
    noisy = [chord + 0.003 * np.random.default_rng(9).normal(size=chord.shape).astype(np.float32) for chord in chords]
    same = pitch_agreement(chords, noisy, SR)
    chance = pitch_agreement_chance(chords, SR)
    transposed = pitch_agreement(chords, [tone([61, 65, 68]), tone([58, 63]), tone([49, 56, 72])], SR)
    assert same > 0.9 and chance < 0.4 and transposed < 0.05, (same, chance, transposed)
    shorter = pitch_agreement(chords, [chord[: SR // 2] for chord in noisy], SR)  # compared over the shared frames
    assert shorter > 0.9


def test_silence_and_too_few_clips():
    silent = [np.zeros(SR, np.float32)]
    assert pitch_agreement(silent, silent, SR) is None
    assert pitch_agreement_chance(silent, SR) is None
    assert pitch_agreement([tone([60])], silent, SR) == 0.0
    with pytest.raises(ValueError):
        pitch_agreement([tone([60])], [], SR)


@pytest.mark.skipif(not transcribers.basic_pitch_available(), reason="basic-pitch is not installed")
def test_transcription_agreement_keeps_a_copy_and_not_another_clip():
    rate = 22050
    t = np.arange(rate) / rate

    def tones(*hz):  # half-second tones one after another
        return np.concatenate([0.3 * np.sin(2 * np.pi * f * t[: rate // 2]) for f in hz]).astype(np.float32)

    originals = [tones(262, 330, 392, 523), tones(147, 175, 220, 294)]
    noisy = [clip + 0.003 * np.random.default_rng(0).standard_normal(len(clip)).astype(np.float32) for clip in originals]
    result = transcription_agreement(originals, noisy, rate, transcribers.BasicPitchTranscriber())
    assert result["transcriber"] == "basic-pitch"
    assert result["agreement"] >= 0.9 and result["chance"] <= 0.1
