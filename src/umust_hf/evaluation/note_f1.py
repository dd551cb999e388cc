"""Note-level transcription F1 with mir_eval (paper Table 7; YourMT3's 50 ms onset F1).

mir_eval compares notes by onset (within ``onset_tolerance``), pitch (within 50 cents,
so MIDI numbers are converted to Hz first) and, optionally, offset (within
``max(offset_ratio * reference duration, offset_min_tolerance)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import mir_eval
import numpy as np

from .notes import NoteInput, as_note_array, midi_to_hz


@dataclass(frozen=True)
class NoteF1Result:
    """Precision, recall and F1 in [0, 1] for one pair of note lists."""

    precision: float
    recall: float
    f1: float
    num_reference: int
    num_estimated: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def note_f1(
    reference: NoteInput,
    estimated: NoteInput,
    *,
    onset_tolerance: float = 0.05,
    with_offsets: bool = False,
    offset_ratio: float = 0.2,
    offset_min_tolerance: float = 0.05,
    pitch_tolerance_cents: float = 50.0,
) -> NoteF1Result:
    """Note F1 between reference and estimated notes (``(N, 3)`` onset, offset, MIDI pitch).

    ``with_offsets=False`` is mir_eval's onset-only score (``offset_ratio=None``), the
    paper's AMT figure. Two empty lists score 1.0 (nothing to find, nothing invented);
    mir_eval itself would return 0 there. One empty side scores 0.
    """
    ref = as_note_array(reference, name="reference notes")
    est = as_note_array(estimated, name="estimated notes")
    if len(ref) == 0 or len(est) == 0:
        perfect = float(len(ref) == 0 and len(est) == 0)
        return NoteF1Result(perfect, perfect, perfect, len(ref), len(est))
    precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
        ref[:, :2],
        midi_to_hz(ref[:, 2]),
        est[:, :2],
        midi_to_hz(est[:, 2]),
        onset_tolerance=onset_tolerance,
        pitch_tolerance=pitch_tolerance_cents,
        offset_ratio=offset_ratio if with_offsets else None,
        offset_min_tolerance=offset_min_tolerance,
    )
    return NoteF1Result(float(precision), float(recall), float(f1), len(ref), len(est))


def mean_note_f1(results: Iterable[NoteF1Result]) -> NoteF1Result:
    """Average per-piece scores (the mir_eval/YourMT3 convention for a test set)."""
    results = list(results)
    if not results:
        raise ValueError("no note F1 results to average")
    return NoteF1Result(
        precision=float(np.mean([r.precision for r in results])),
        recall=float(np.mean([r.recall for r in results])),
        f1=float(np.mean([r.f1 for r in results])),
        num_reference=sum(r.num_reference for r in results),
        num_estimated=sum(r.num_estimated for r in results),
    )


def note_f1_at(
    reference: NoteInput, estimated: NoteInput, tolerances: Sequence[float] = (0.05, 0.1, 0.2), **kwargs
) -> dict[float, NoteF1Result]:
    """Onset F1 at several onset tolerances (seconds), as in Tables 3 and 6."""
    ref = as_note_array(reference, name="reference notes")
    est = as_note_array(estimated, name="estimated notes")
    return {float(t): note_f1(ref, est, onset_tolerance=t, **kwargs) for t in tolerances}
