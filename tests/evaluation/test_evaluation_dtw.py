"""DTW-aligned onset F1: time-stretched copies score near 1 after alignment and low before."""

import numpy as np
import pytest

from umust_hf.evaluation.dtw import dtw_onset_f1, dtw_path, notes_to_pianoroll, warp_times

SAMPLE_RATE = 8000


def _melody(seed=0, count=50, seconds=15.0):
    rng = np.random.default_rng(seed)
    onsets = np.sort(rng.choice(np.arange(0, seconds, 0.125), size=count, replace=False))
    lengths = rng.uniform(0.1, 0.6, count)
    return np.stack([onsets, onsets + lengths, rng.integers(48, 84, count)], 1)


def _warped(notes, warp):
    out = notes.copy()
    out[:, 0], out[:, 1] = warp(notes[:, 0]), warp(notes[:, 1])
    return out


def test_pianoroll_frames():
    roll = notes_to_pianoroll([(0.0, 0.05, 60), (0.03, 0.1, 64)], fps=100)
    assert roll.shape == (11, 128)
    assert roll[:5, 60].tolist() == [1, 1, 1, 1, 1] and roll[5:, 60].sum() == 0
    assert roll[3:10, 64].sum() == 7 and roll[:3, 64].sum() == 0


def test_dtw_path_on_hand_made_cost():
    # zero cost along a path that holds generated frame 0 for two reference frames
    cost = np.array([[0, 5, 5], [0, 5, 5], [5, 0, 5], [5, 5, 0]], dtype=float)
    assert dtw_path(cost, step_pattern="classic").tolist() == [[0, 0], [1, 0], [2, 1], [3, 2]]
    # slope-limited: no vertical step; the (2, 1) step from (0, 0) to (2, 1) passes (1, 1) and pays its 5,
    # as does the diagonal through (1, 1); every path costs at least 5
    assert dtw_path(cost).tolist() == [[0, 0], [1, 1], [2, 1], [3, 2]]
    # identity on a square matrix with a zero diagonal
    square = 1.0 - np.eye(5)
    assert dtw_path(square).tolist() == [[i, i] for i in range(5)]
    with pytest.raises(ValueError, match="non-empty"):
        dtw_path(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="more than 2x"):
        dtw_path(np.zeros((7, 3)))
    assert len(dtw_path(np.zeros((7, 3)), step_pattern="classic")) == 7
    with pytest.raises(ValueError, match="lower fps"):
        dtw_path(np.zeros((20_000, 10_000), dtype=np.float32))


def test_warp_times_interpolates_along_path():
    path = np.array([[0, 0], [2, 1], [4, 2]])  # generated runs at half the reference's frame rate
    assert warp_times(np.array([0.0, 0.01, 0.015, 0.02]), path, fps=100) == pytest.approx([0.0, 0.02, 0.03, 0.04])


@pytest.mark.parametrize(
    "warp",
    [lambda t: 1.25 * t + 0.3, lambda t: 0.8 * t, lambda t: t + 0.3 * np.sin(t / 2.0) + 0.35],
    ids=["slower-and-late", "faster", "rubato"],
)
def test_time_stretched_copy_aligns(warp):
    reference = _melody()
    generated = _warped(reference, warp)
    result = dtw_onset_f1(reference, generated)
    assert result.unaligned[0.05].f1 < 0.3
    for tolerance in (0.05, 0.1, 0.2):
        assert result.aligned[tolerance].f1 >= 0.95
    assert result.f1(0.05) == result.aligned[0.05].f1


def test_more_than_double_length_falls_back_to_classic_steps():
    reference = _melody(seed=4, count=20, seconds=5.0)
    result = dtw_onset_f1(reference, _warped(reference, lambda t: 2.5 * t))
    assert result.step_pattern == "classic" and result.aligned[0.05].f1 >= 0.95
    assert dtw_onset_f1(reference, _warped(reference, lambda t: 1.5 * t)).step_pattern == "slope2"


def test_unrelated_music_stays_near_chance_after_alignment():
    reference = _melody(seed=5)
    unrelated = _melody(seed=6)
    result = dtw_onset_f1(reference, unrelated)
    assert result.aligned[0.05].f1 < 0.2  # slope limits keep DTW from dragging notes onto matches
    assert result.aligned[0.05].f1 < dtw_onset_f1(reference, _warped(reference, lambda t: 1.2 * t)).aligned[0.05].f1


def test_alignment_does_not_invent_matches_for_wrong_notes():
    reference = _melody(seed=1)
    wrong = _warped(reference, lambda t: 1.2 * t)
    wrong[:, 2] += 40  # every pitch wrong (88-123: no reference note has these)
    result = dtw_onset_f1(reference, wrong)
    assert result.aligned[0.2].f1 == 0.0


def test_partially_wrong_generation_scores_in_between():
    reference = _melody(seed=2, count=40)
    generated = _warped(reference, lambda t: 1.1 * t)
    generated[::4, 2] += 1  # a quarter of the notes a semitone off
    f1 = dtw_onset_f1(reference, generated).aligned[0.05].f1
    assert 0.65 <= f1 <= 0.8  # 30 of 40 correct -> 0.75


def _render(notes, seconds):
    """Sine tones for the notes (a stand-in performance)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    audio = np.zeros_like(t)
    for onset, offset, pitch in notes:
        mask = (t >= onset) & (t < offset)
        audio[mask] += 0.3 * np.sin(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * (t[mask] - onset))
    return audio


def _transcribe(audio, sample_rate):
    """A real (if naive) monophonic transcriber: energy gating in 10 ms frames, then the
    spectral peak of each sounding run gives its pitch."""
    hop = sample_rate // 100
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    active = np.concatenate([[False], np.sqrt((frames**2).mean(axis=1)) > 0.05, [False]])
    starts = np.flatnonzero(~active[:-1] & active[1:])
    stops = np.flatnonzero(active[:-1] & ~active[1:])
    notes = []
    for start, stop in zip(starts, stops, strict=True):
        segment = audio[start * hop : stop * hop]
        spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment)), n=8 * len(segment)))
        frequency = np.argmax(spectrum) * sample_rate / (8 * len(segment))
        notes.append((start / 100, stop / 100, int(round(69 + 12 * np.log2(frequency / 440)))))
    return notes


def test_audio_inputs_go_through_the_transcriber():
    rng = np.random.default_rng(3)
    onsets = np.arange(0, 8, 0.5)
    reference = np.stack([onsets, onsets + 0.35, rng.integers(55, 80, len(onsets))], 1)
    generated = _warped(reference, lambda t: 1.3 * t + 0.2)
    ref_audio, gen_audio = _render(reference, 9), _render(generated, 11)
    transcribed = np.array(_transcribe(ref_audio, SAMPLE_RATE))
    assert len(transcribed) == len(reference) and (transcribed[:, 2] == reference[:, 2]).all()
    result = dtw_onset_f1(ref_audio, gen_audio, transcriber=_transcribe, sample_rate=SAMPLE_RATE)
    assert result.unaligned[0.05].f1 < 0.3
    assert result.aligned[0.05].f1 >= 0.95
    # reference given as notes (e.g. the ground-truth MIDI), generated as audio
    mixed = dtw_onset_f1(reference, gen_audio, transcriber=_transcribe, sample_rate=SAMPLE_RATE)
    assert mixed.aligned[0.1].f1 >= 0.95
    with pytest.raises(ValueError, match="transcriber"):
        dtw_onset_f1(ref_audio, gen_audio)


def test_empty_generation_scores_zero():
    result = dtw_onset_f1(_melody(), [])
    assert result.aligned[0.05].f1 == 0.0 and result.unaligned[0.2].f1 == 0.0
