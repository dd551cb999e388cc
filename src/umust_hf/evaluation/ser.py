"""Symbol error rate (SER) on Linearized MusicXML, exactly as the OLiMPiC evaluation.

OLiMPiC (``zeus/ser_metric.py``, copied by U-MusT's ``calc_ser_metric``) splits each
sequence on whitespace, takes the Levenshtein distance between the *token lists*, and
reports one ratio over the whole corpus: ``100 * sum(edits) / sum(len(gold tokens))``.
This is not the mean of per-sample ratios; long samples weigh more. ``SERnotuplets``
drops ``tuplet:start``, ``tuplet:stop`` and every ``NinM`` time-modification token from
both sides before computing the same ratio.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import Levenshtein

_TIME_MODIFICATION = re.compile(r"^\d+in\d+$")
_TUPLET_BRACKETS = frozenset({"tuplet:start", "tuplet:stop"})


def is_tuplet_token(token: str) -> bool:
    """True for the tokens SERnotuplets ignores (tuplet brackets and ``NinM``)."""
    return token in _TUPLET_BRACKETS or _TIME_MODIFICATION.match(token) is not None


def split_tokens(text: str | Sequence[str], *, drop_tuplets: bool = False) -> list[str]:
    """Whitespace-split an LMX string (``str.split()``); a token list passes through."""
    tokens = text.split() if isinstance(text, str) else [str(token) for token in text]
    if drop_tuplets:
        tokens = [token for token in tokens if not is_tuplet_token(token)]
    return tokens


def token_edit_distance(gold: Sequence[str], pred: Sequence[str]) -> int:
    """Levenshtein distance between two token lists (insert, delete, substitute = 1 each).

    ``Levenshtein.distance`` accepts sequences of hashables, so every token counts as
    one symbol however many characters it has.
    """
    return int(Levenshtein.distance(list(gold), list(pred)))


@dataclass(frozen=True)
class SerResult:
    """Corpus totals behind a SER figure; ``ser`` is in percent."""

    edits: int
    gold_tokens: int
    num_samples: int

    @property
    def ser(self) -> float:
        if self.gold_tokens == 0:
            return 0.0 if self.edits == 0 else float("inf")
        return 100.0 * self.edits / self.gold_tokens

    def __add__(self, other: SerResult) -> SerResult:
        return SerResult(
            self.edits + other.edits, self.gold_tokens + other.gold_tokens, self.num_samples + other.num_samples
        )


def ser_counts(
    gold: Iterable[str | Sequence[str]], pred: Iterable[str | Sequence[str]], *, drop_tuplets: bool = False
) -> SerResult:
    """Sum edits and gold token counts over paired samples (gold[i] vs pred[i])."""
    gold = list(gold)
    pred = list(pred)
    if len(gold) != len(pred):
        raise ValueError(f"SER needs one prediction per gold sample: got {len(gold)} gold and {len(pred)} predictions")
    edits = 0
    total = 0
    for gold_text, pred_text in zip(gold, pred, strict=True):
        gold_tokens = split_tokens(gold_text, drop_tuplets=drop_tuplets)
        pred_tokens = split_tokens(pred_text, drop_tuplets=drop_tuplets)
        edits += token_edit_distance(gold_tokens, pred_tokens)
        total += len(gold_tokens)
    return SerResult(edits=edits, gold_tokens=total, num_samples=len(gold))


def symbol_error_rate(
    gold: Iterable[str | Sequence[str]], pred: Iterable[str | Sequence[str]], *, drop_tuplets: bool = False
) -> float:
    """Corpus-level SER in percent: ``100 * sum(edits) / sum(gold tokens)``.

    Args:
        gold: reference LMX strings (or token lists), one per sample.
        pred: predicted LMX strings (or token lists), aligned with ``gold``.
        drop_tuplets: compute OLiMPiC's ``SERnotuplets`` instead.
    """
    return ser_counts(gold, pred, drop_tuplets=drop_tuplets).ser


#: LMX token kinds for :func:`ser_by_kind`: pitch (note names and accidentals), duration (note types,
#: dots, tuplet ratios) and structure (everything else: measures, key/time/clef, chords, rests,
#: voices, staves, stems, beams, ties, articulations).
TOKEN_KINDS: tuple[str, ...] = ("pitch", "duration", "structure")

_ACCIDENTALS = {"sharp", "flat", "natural", "double-sharp", "flat-flat", "natural-sharp", "natural-flat"}
_DURATIONS = {"1024th", "512th", "256th", "128th", "64th", "32nd", "16th", "eighth", "quarter", "half", "whole",
              "breve", "long", "maxima", "dot"}


def token_kind(token: str) -> str:
    """The kind of one LMX token (one of :data:`TOKEN_KINDS`)."""
    if token in _ACCIDENTALS or (len(token) == 2 and token[0] in "ABCDEFG" and token[1].isdigit()):
        return "pitch"
    if token in _DURATIONS or _TIME_MODIFICATION.match(token) is not None:
        return "duration"
    return "structure"


def ser_by_kind(gold: Iterable[str | Sequence[str]], pred: Iterable[str | Sequence[str]]) -> dict[str, float]:
    """SER in percent within each token kind: both sides filtered to that kind's tokens, then
    ``100 * edits / gold tokens`` of the kind over the corpus (a pitch error counts under pitch only)."""
    gold_tokens = [split_tokens(g) for g in gold]
    pred_tokens = [split_tokens(p) for p in pred]
    result = {}
    for kind in TOKEN_KINDS:
        result[kind] = ser_counts([[t for t in g if token_kind(t) == kind] for g in gold_tokens],
                                  [[t for t in p if token_kind(t) == kind] for p in pred_tokens]).ser
    return result
