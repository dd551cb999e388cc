"""Token EMD: hand cases, scipy's Wasserstein distance, and the duration shift rule."""

import math

import numpy as np
import pytest
from lmx.linearization.vocabulary import ALL_TOKENS
from scipy.stats import wasserstein_distance

from umust_hf.evaluation.emd import (
    DURATION_TOKENS,
    PITCH_TOKENS,
    histogram_emd,
    mean_token_emd,
    token_emd,
    token_histogram,
)


def test_bins_cover_lmx_pitches_and_note_types_in_order():
    assert len(PITCH_TOKENS) == 70 and PITCH_TOKENS[0] == "C0" and PITCH_TOKENS[-1] == "B9"
    assert PITCH_TOKENS.index("C4") - PITCH_TOKENS.index("B3") == 1
    assert [t for t in ALL_TOKENS if t in PITCH_TOKENS] == list(PITCH_TOKENS)
    assert DURATION_TOKENS.index("half") - DURATION_TOKENS.index("quarter") == 1
    assert len(DURATION_TOKENS) == 14


def test_histogram_ignores_other_tokens():
    lmx = "measure key:fifths:0 clef:G2 C4 quarter chord E4 quarter sharp C4 eighth rest half"
    pitch = token_histogram(lmx, PITCH_TOKENS)
    assert pitch[PITCH_TOKENS.index("C4")] == 2 and pitch[PITCH_TOKENS.index("E4")] == 1 and pitch.sum() == 3
    durations = token_histogram(lmx, DURATION_TOKENS)
    assert durations[DURATION_TOKENS.index("quarter")] == 2 and durations.sum() == 4  # rests have types too


def test_pitch_emd_hand_cases():
    assert token_emd("C4 quarter C4 quarter", "D4 quarter D4 quarter").pitch == pytest.approx(1.0)
    assert token_emd("C4 quarter", "E4 quarter").pitch == pytest.approx(2.0)
    assert token_emd("B3 quarter", "C4 quarter").pitch == pytest.approx(1.0)  # octave boundary is one step
    # {C4: .5, E4: .5} vs {D4: 1}: move half a unit of mass one step each way
    assert token_emd("C4 quarter E4 quarter", "D4 half D4 half").pitch == pytest.approx(1.0)
    # counts are normalised: 1 x C4 vs 3 x C4 is no distance
    assert token_emd("C4 quarter", "C4 quarter C4 quarter C4 quarter").pitch == 0.0


def test_matches_scipy_wasserstein_on_random_histograms():
    rng = np.random.default_rng(0)
    for _ in range(10):
        p, q = rng.integers(0, 5, 70).astype(float), rng.integers(0, 5, 70).astype(float)
        bins = np.arange(70)
        assert histogram_emd(p, q) == pytest.approx(wasserstein_distance(bins, bins, p, q))
        assert histogram_emd(p, q, shift=1) == pytest.approx(wasserstein_distance(bins, bins + 1, p, q))


def test_duration_shift_keeps_minimum():
    # prediction read every note one type longer (e.g. 2/2 for 4/4): shift -1 aligns it
    result = token_emd("C4 quarter D4 quarter E4 eighth", "C4 half D4 half E4 quarter")
    assert result.duration_by_shift == pytest.approx({-1: 0.0, 0: 1.0, 1: 2.0})
    assert (result.duration, result.duration_shift) == (0.0, -1)
    shorter = token_emd("C4 quarter", "C4 eighth")
    assert (shorter.duration, shorter.duration_shift) == (0.0, 1)
    # two types off: the best shift still leaves one bin
    assert token_emd("C4 quarter", "C4 whole").duration == pytest.approx(1.0)
    # a tie prefers no shift
    assert token_emd("C4 quarter C4 half", "C4 quarter C4 half").duration_shift == 0


def test_empty_side_is_undefined_and_counted():
    result = token_emd("C4 quarter", "measure")
    assert math.isnan(result.pitch) and math.isnan(result.duration)
    mean = mean_token_emd([result, token_emd("C4 quarter", "E4 half")])
    assert mean.pitch == pytest.approx(2.0) and mean.duration == pytest.approx(0.0)
    assert (mean.num_pairs, mean.num_undefined_pitch, mean.num_undefined_duration) == (2, 1, 1)
