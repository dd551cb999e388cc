"""Note F1: hand-counted matches and agreement with direct mir_eval calls."""

import mir_eval
import numpy as np
import pytest

from umust_hf.evaluation.note_f1 import mean_note_f1, note_f1, note_f1_at
from umust_hf.evaluation.notes import as_note_array, midi_to_hz

REFERENCE = [(0.0, 0.5, 60), (0.5, 1.0, 62), (1.0, 1.5, 64), (1.5, 2.0, 65)]


def test_midi_to_hz():
    assert midi_to_hz(69) == pytest.approx(440.0)
    assert midi_to_hz(60) == pytest.approx(261.6255653)
    assert midi_to_hz(81) == pytest.approx(880.0)


def test_hand_counted_onset_matches():
    estimated = [
        (0.0, 0.5, 60),  # exact
        (0.53, 1.0, 62),  # 30 ms late: within 50 ms
        (1.08, 1.5, 64),  # 80 ms late: outside 50 ms
        (1.5, 2.0, 66),  # right time, wrong pitch (a semitone is beyond 50 cents)
        (3.0, 3.5, 70),  # invented note
    ]
    result = note_f1(REFERENCE, estimated)
    # 2 matches; 5 estimated, 4 reference
    assert result.precision == pytest.approx(2 / 5)
    assert result.recall == pytest.approx(2 / 4)
    assert result.f1 == pytest.approx(2 * (2 / 5) * (2 / 4) / (2 / 5 + 2 / 4))
    # the 80 ms note matches at 100 ms
    wider = note_f1(REFERENCE, estimated, onset_tolerance=0.1)
    assert wider.recall == pytest.approx(3 / 4)
    at = note_f1_at(REFERENCE, estimated, tolerances=(0.05, 0.1))
    assert at[0.05].f1 == pytest.approx(result.f1) and at[0.1].f1 == pytest.approx(wider.f1)


def test_offsets_only_count_when_asked():
    estimated = [(on, off + 0.4, p) for on, off, p in REFERENCE]  # offsets 400 ms late (> 20% of 0.5 s)
    assert note_f1(REFERENCE, estimated).f1 == pytest.approx(1.0)
    assert note_f1(REFERENCE, estimated, with_offsets=True).f1 == pytest.approx(0.0)
    close = [(on, off + 0.05, p) for on, off, p in REFERENCE]  # within max(0.2 * 0.5, 0.05) = 0.1 s
    assert note_f1(REFERENCE, close, with_offsets=True).f1 == pytest.approx(1.0)


def test_agrees_with_direct_mir_eval_calls():
    rng = np.random.default_rng(0)
    for _ in range(5):
        onsets = np.sort(rng.uniform(0, 10, 40))
        ref = np.stack([onsets, onsets + rng.uniform(0.1, 1.0, 40), rng.integers(30, 90, 40)], 1)
        est = ref.copy()
        est[:, 0] += rng.normal(0, 0.04, 40).clip(-ref[:, 0], None)
        est[:, 1] = np.maximum(est[:, 1] + rng.normal(0, 0.1, 40), est[:, 0] + 0.05)
        est[rng.random(40) < 0.2, 2] += 1
        for with_offsets in (False, True):
            ours = note_f1(ref, est, with_offsets=with_offsets)
            p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
                ref[:, :2], 440.0 * 2 ** ((ref[:, 2] - 69) / 12), est[:, :2], 440.0 * 2 ** ((est[:, 2] - 69) / 12),
                onset_tolerance=0.05, offset_ratio=0.2 if with_offsets else None,
            )  # fmt: skip
            assert (ours.precision, ours.recall, ours.f1) == pytest.approx((p, r, f))


def test_input_forms_agree():
    structured = np.array(
        [(on, off - on, p) for on, off, p in REFERENCE],
        dtype=[("onset_sec", "f8"), ("duration_sec", "f8"), ("pitch", "i4")],
    )
    dicts = [{"onset": on, "offset": off, "pitch": p} for on, off, p in REFERENCE]
    expected = np.array(REFERENCE, dtype=float)
    for form in (REFERENCE, np.array(REFERENCE), structured, dicts, [list(n) for n in REFERENCE]):
        np.testing.assert_allclose(as_note_array(form), expected)


def test_empty_and_invalid_notes():
    assert note_f1([], []).f1 == 1.0
    assert note_f1(REFERENCE, []).f1 == 0.0
    assert note_f1([], REFERENCE).precision == 0.0
    with pytest.raises(ValueError, match="ends before it starts"):
        note_f1([(1.0, 0.5, 60)], REFERENCE)
    with pytest.raises(ValueError, match="0-127"):
        note_f1([(0.0, 0.5, 130)], REFERENCE)
    # zero-length notes (drum hits) are accepted
    assert note_f1([(0.0, 0.0, 36)], [(0.01, 0.01, 36)]).f1 == 1.0


def test_mean_over_pieces():
    a = note_f1(REFERENCE, REFERENCE)
    b = note_f1(REFERENCE, [])
    assert mean_note_f1([a, b]).f1 == pytest.approx(0.5)
