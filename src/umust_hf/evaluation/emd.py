"""Earth Mover's Distance between LMX token histograms (paper Table 4, Appendix B.2, Fig. 8).

For audio -> image, the generated score image is read back with an OMR model, and the
pitch tokens and the duration (note type) tokens of that LMX are compared with the
ground truth as normalised histograms over fixed, ordered bins. On ordered 1-D bins the
EMD with unit ground distance between neighbouring bins is
``sum_k |CDF_p(k) - CDF_q(k)|``, which is what :func:`histogram_emd` computes; the unit
is "bins" (diatonic steps for pitch, factors of two for durations). Duration EMD is taken
at shifts -1, 0, +1 of the predicted histogram (a piece read in 2/2 instead of 4/4 has
every note type one bin off) and the minimum is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from lmx.linearization.vocabulary import ALL_TOKENS

from .ser import split_tokens

_PITCH_NAMES = ("C", "D", "E", "F", "G", "A", "B")
#: Pitch bins in pitch order: C0, D0, ..., B9 (LMX spells pitch without alteration).
PITCH_TOKENS: tuple[str, ...] = tuple(f"{step}{octave}" for octave in range(10) for step in _PITCH_NAMES)
#: Duration bins from shortest to longest note type; each bin is twice the previous.
DURATION_TOKENS: tuple[str, ...] = (
    "1024th", "512th", "256th", "128th", "64th", "32nd", "16th",
    "eighth", "quarter", "half", "whole", "breve", "long", "maxima",
)  # fmt: skip
DURATION_SHIFTS = (-1, 0, 1)

assert set(PITCH_TOKENS) <= set(ALL_TOKENS) and set(DURATION_TOKENS) <= set(ALL_TOKENS)
_PITCH_INDEX = {token: i for i, token in enumerate(PITCH_TOKENS)}
_DURATION_INDEX = {token: i for i, token in enumerate(DURATION_TOKENS)}


def token_histogram(lmx: str | Sequence[str], bins: Sequence[str]) -> np.ndarray:
    """Counts ``(len(bins),)`` of the tokens of ``lmx`` that are in ``bins`` (others ignored)."""
    index = _PITCH_INDEX if bins is PITCH_TOKENS else _DURATION_INDEX if bins is DURATION_TOKENS else None
    index = index or {token: i for i, token in enumerate(bins)}
    counts = np.zeros(len(bins), dtype=np.float64)
    for token in split_tokens(lmx):
        position = index.get(token)
        if position is not None:
            counts[position] += 1
    return counts


def histogram_emd(p: np.ndarray, q: np.ndarray, *, shift: int = 0) -> float:
    """EMD between histograms ``p (K,)`` and ``q (K,)`` after normalising each to sum 1,
    with ``q``'s bins moved by ``shift`` (mass is never lost at the edges).

    Returns NaN when either histogram is empty (there is no distribution to compare).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"histograms must have the same 1-D shape, got {p.shape} and {q.shape}")
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    pad = abs(shift)
    p_padded = np.pad(p / p.sum(), pad)
    q_padded = np.roll(np.pad(q / q.sum(), pad), shift)
    return float(np.abs(np.cumsum(p_padded - q_padded)).sum())


@dataclass(frozen=True)
class TokenEmdResult:
    """Pitch EMD and duration EMD (minimum over shifts) for one gold/predicted pair.

    ``duration_by_shift`` maps each tried shift to its EMD; ``duration_shift`` is the shift
    that gave ``duration``. A NaN means one side had no such tokens.
    """

    pitch: float
    duration: float
    duration_shift: int
    duration_by_shift: dict[int, float]

    def to_dict(self) -> dict:
        return asdict(self)


def token_emd(
    gold_lmx: str | Sequence[str], pred_lmx: str | Sequence[str], *, shifts: Sequence[int] = DURATION_SHIFTS
) -> TokenEmdResult:
    """Pitch and duration token EMD between gold and predicted LMX (paper Appendix B.2)."""
    pitch = histogram_emd(token_histogram(gold_lmx, PITCH_TOKENS), token_histogram(pred_lmx, PITCH_TOKENS))
    gold_durations = token_histogram(gold_lmx, DURATION_TOKENS)
    pred_durations = token_histogram(pred_lmx, DURATION_TOKENS)
    by_shift = {int(s): histogram_emd(gold_durations, pred_durations, shift=int(s)) for s in shifts}
    if any(np.isnan(v) for v in by_shift.values()):
        return TokenEmdResult(pitch, float("nan"), 0, by_shift)
    best = min(by_shift, key=lambda s: (by_shift[s], abs(s)))
    return TokenEmdResult(pitch, by_shift[best], best, by_shift)


def image_token_emd(gold_lmx: str, generated_image, omr: Callable[[object], str]) -> TokenEmdResult:
    """EMD for a generated score image: ``omr`` (image -> LMX string) reads it first."""
    return token_emd(gold_lmx, omr(generated_image))


@dataclass(frozen=True)
class MeanEmd:
    """Mean pitch and duration EMD over the pairs where each is defined."""

    pitch: float
    duration: float
    num_pairs: int
    num_undefined_pitch: int
    num_undefined_duration: int


def mean_token_emd(results: Sequence[TokenEmdResult]) -> MeanEmd:
    """Average per-pair EMDs (Table 4 reports the mean over the test set), skipping NaNs
    and counting them so that a caller can report how many pairs had no tokens."""
    pitch = np.array([r.pitch for r in results], dtype=float)
    duration = np.array([r.duration for r in results], dtype=float)

    def nanmean(values: np.ndarray) -> float:
        finite = values[~np.isnan(values)]
        return float(finite.mean()) if finite.size else float("nan")

    return MeanEmd(
        nanmean(pitch), nanmean(duration), len(results), int(np.isnan(pitch).sum()), int(np.isnan(duration).sum())
    )
