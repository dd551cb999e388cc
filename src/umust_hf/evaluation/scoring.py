"""Turn a task's gold/prediction rows into the figures of the paper's tables.

Units follow the paper: SER and F1 in percent, FAD and EMD as they come. Per-sample
scores (note F1, DTW-F1, EMD) are averaged over the test set; SER is one corpus-level
ratio; FAD pools all clips of each side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from ..errors import UserError
from .baselines import partners
from .dtw import DEFAULT_TOLERANCES, dtw_onset_f1
from .emd import mean_token_emd, token_emd
from .fad import AudioEmbedding, LogMelEmbedding, frechet_audio_distance
from .note_f1 import mean_note_f1, note_f1
from .notes import as_note_array
from .predictions import PredictionRow
from .ser import ser_counts
from .tables import MethodResult
from .transcribers import INSTALL_HINT, Transcriber, transcribe_all

logger = logging.getLogger(__name__)

#: Why an audio row has no F1 figures.
NO_TRANSCRIBER = (f"DTW onset F1 not computed: no transcriber for the generated audio; install the default one "
                  f"({INSTALL_HINT}) or pass --transcriber DIR (a saved U-MUST model)")

Metrics = dict[str, float | None]


def _check_rows(rows: Sequence[PredictionRow], task: str) -> None:
    if not rows:
        raise UserError(f"no {task} rows to evaluate")


def score_omr(rows: Sequence[PredictionRow]) -> tuple[Metrics, dict[str, Any]]:
    """Table 5: corpus SER and SERnotuplets (percent)."""
    _check_rows(rows, "omr")
    gold = [row.text("gold") for row in rows]
    pred = [row.text("pred") for row in rows]
    full = ser_counts(gold, pred)
    notuplets = ser_counts(gold, pred, drop_tuplets=True)
    details = {"edits": full.edits, "gold_tokens": full.gold_tokens,
               "edits_notuplets": notuplets.edits, "gold_tokens_notuplets": notuplets.gold_tokens}  # fmt: skip
    return {"ser": full.ser, "ser_notuplets": notuplets.ser}, details


def score_amt(rows: Sequence[PredictionRow], *, onset_tolerance: float = 0.05) -> tuple[Metrics, dict[str, Any]]:
    """Table 7: mean onset F1 and onset+offset F1 over pieces (percent)."""
    _check_rows(rows, "amt")
    onset, with_offset = [], []
    for row in tqdm(rows, desc="amt note F1", disable=len(rows) < 50):
        gold, pred = row.notes("gold_notes"), row.notes("pred_notes")
        onset.append(note_f1(gold, pred, onset_tolerance=onset_tolerance))
        with_offset.append(note_f1(gold, pred, onset_tolerance=onset_tolerance, with_offsets=True))
    mean_onset, mean_offset = mean_note_f1(onset), mean_note_f1(with_offset)
    metrics = {"onset_f1": 100 * mean_onset.f1, "onset_offset_f1": 100 * mean_offset.f1}
    details = {"onset_precision": 100 * mean_onset.precision, "onset_recall": 100 * mean_onset.recall,
               "reference_notes": mean_onset.num_reference, "estimated_notes": mean_onset.num_estimated}  # fmt: skip
    return metrics, details


def transcriber_name(transcriber: Transcriber | None) -> str | None:
    """The name written beside a figure a transcriber made (None: no transcriber)."""
    if transcriber is None:
        return None
    return getattr(transcriber, "name", None) or getattr(transcriber, "__name__", type(transcriber).__name__)


def calibrate_transcriber(
    gold_notes: Sequence[np.ndarray],
    gold_clips: Sequence[tuple[np.ndarray, int]],
    transcriber: Transcriber,
    *,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
    seed: int = 0,
) -> dict[str, Metrics | None]:
    """The range a transcriber's DTW onset F1 can show on these excerpts (percent).

    ``ceiling``: the reference notes against the transcription of their own recording (what a perfect
    generator would score); ``floor``: against the transcription of another excerpt's recording (a
    fixed derangement, what a generator ignoring its source scores). ``floor`` is None for one excerpt.
    """
    transcribed = transcribe_all(transcriber, gold_clips)

    def mean_f1(pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> Metrics:
        results = [dtw_onset_f1(ref, gen, tolerances=tolerances) for ref, gen in pairs]
        figures: Metrics = {f"f1_{round(t * 1000)}": 100 * float(np.mean([r.f1(t) for r in results]))
                            for t in tolerances}  # fmt: skip
        first = float(tolerances[0])
        figures[f"unaligned_f1_{round(first * 1000)}"] = 100 * float(np.mean([r.unaligned[first].f1 for r in results]))
        return figures

    ceiling = mean_f1(list(zip(gold_notes, transcribed)))
    floor = None
    if len(gold_notes) >= 2:
        partner = partners(len(gold_notes), "random-pairing", seed)
        floor = mean_f1([(gold_notes[i], transcribed[int(j)]) for i, j in enumerate(partner)])
    return {"ceiling": ceiling, "floor": floor}


def score_audio_generation(
    rows: Sequence[PredictionRow],
    *,
    task: str,
    transcriber: Transcriber | None = None,
    embedding: AudioEmbedding | None = None,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
) -> tuple[Metrics, dict[str, Any]]:
    """Tables 3 and 6: DTW-aligned onset F1 at each tolerance (percent) and FAD.

    F1 needs notes for both sides: given in the row, or transcribed from its audio with
    ``transcriber`` (:mod:`.transcribers`). Without a transcriber, rows that need one leave the F1
    figures out (None) with a note naming what to install. With one, ``details`` carry its
    ``transcriber`` name and its ``ceiling`` and ``floor`` on the rows' ground-truth audio
    (:func:`calibrate_transcriber`). FAD needs ``gold_audio`` and ``pred_audio`` in every row; it
    is left out (None) when no row has audio.
    """
    _check_rows(rows, task)
    embedding = embedding or LogMelEmbedding()
    needs_transcriber = any(not row.has(f"{side}_notes") for row in rows for side in ("gold", "pred"))
    metrics: Metrics = {f"f1_{round(t * 1000)}": None for t in tolerances}
    # "transcriber": what turned audio into notes for these figures (None where every row gave its notes)
    calibration_rows = [row for row in rows if row.has("gold_notes") and row.has("gold_audio")]
    used = needs_transcriber or bool(calibration_rows)
    details: dict[str, Any] = {"transcriber": transcriber_name(transcriber) if used else None,
                               "ceiling": None, "floor": None}  # fmt: skip
    if needs_transcriber and transcriber is None:
        details["transcriber_note"] = NO_TRANSCRIBER
        logger.warning("%s %s", task, NO_TRANSCRIBER)
    else:
        metrics.update(_dtw_f1(rows, task, transcriber, tolerances, details))
    if transcriber is not None and calibration_rows:
        details.update(calibrate_transcriber([row.notes("gold_notes") for row in calibration_rows],
                                             [row.audio("gold_audio") for row in calibration_rows],
                                             transcriber, tolerances=tolerances))  # fmt: skip
    metrics["fad"] = None
    details.update(_fad(rows, embedding, metrics))
    return metrics, details


def _dtw_f1(rows: Sequence[PredictionRow], task: str, transcriber: Transcriber | None, tolerances: Sequence[float],
            details: dict[str, Any]) -> Metrics:
    """Mean DTW-aligned onset F1 per tolerance (percent); the unaligned figures go into ``details``."""
    notes = {side: _notes_of_rows(rows, side, transcriber) for side in ("gold", "pred")}
    aligned: dict[float, list[float]] = {float(t): [] for t in tolerances}
    unaligned: dict[float, list[float]] = {float(t): [] for t in tolerances}
    for gold, pred in tqdm(zip(notes["gold"], notes["pred"]), desc=f"{task} DTW-F1", total=len(rows),
                           disable=len(rows) < 20):  # fmt: skip
        result = dtw_onset_f1(gold, pred, tolerances=tolerances)
        for t in aligned:
            aligned[t].append(result.aligned[t].f1)
            unaligned[t].append(result.unaligned[t].f1)
    details.update({f"unaligned_f1_{round(t * 1000)}": 100 * float(np.mean(v)) for t, v in unaligned.items()})
    return {f"f1_{round(t * 1000)}": 100 * float(np.mean(v)) for t, v in aligned.items()}


def _fad(rows: Sequence[PredictionRow], embedding: AudioEmbedding, metrics: Metrics) -> dict[str, Any]:
    """FAD of the generated clips against the ground-truth ones into ``metrics["fad"]``; its details."""
    details: dict[str, Any] = {"empty_generated_clips": 0, "fad_embedding": None}
    if not any(row.has("gold_audio") or row.has("pred_audio") for row in rows):
        return details
    reference_embeddings, generated_embeddings = [], []
    for row in rows:
        reference_embeddings.append(embedding(*row.audio("gold_audio")))
        generated, rate = row.audio("pred_audio")
        if generated.size == 0:  # nothing generated: FAD sees one second of silence
            details["empty_generated_clips"] += 1
            generated = np.zeros(rate, dtype=np.float32)
        generated_embeddings.append(embedding(generated, rate))
    try:
        metrics["fad"] = frechet_audio_distance(reference_embeddings, generated_embeddings)
    except ValueError as error:  # e.g. generated clips too short for a covariance
        details["fad_error"] = str(error)
    details["fad_embedding"] = getattr(embedding, "name", type(embedding).__name__)
    return details


def _notes_of_rows(rows: Sequence[PredictionRow], side: str, transcriber: Transcriber | None) -> list[np.ndarray]:
    """Each row's ``{side}_notes``, or the transcription of its ``{side}_audio`` (in one batch)."""
    missing = [row for row in rows if not row.has(f"{side}_notes")]
    for row in missing:
        if transcriber is None or not row.has(f"{side}_audio"):
            raise UserError(f"{row.source}: {row.task} onset F1 needs {side}_notes, or {side}_audio and a transcriber")
    transcribed = iter(transcribe_all(transcriber, [row.audio(f"{side}_audio") for row in missing]) if missing else [])
    return [row.notes(f"{side}_notes") if row.has(f"{side}_notes") else _as_notes(next(transcribed), row, side)
            for row in rows]


def _as_notes(value: Any, row: PredictionRow, side: str) -> np.ndarray:
    try:
        return as_note_array(value, name=f"{side} transcription")
    except ValueError as error:
        raise UserError(f"{row.source}: {error}") from None


def score_token_emd(
    rows: Sequence[PredictionRow], *, task: str, omr: Callable[[Any], str] | None = None
) -> tuple[Metrics, dict[str, Any]]:
    """Table 4: mean pitch and duration token EMD (duration: best of shifts -1/0/+1)."""
    _check_rows(rows, task)
    results = []
    for row in tqdm(rows, desc=f"{task} token EMD", disable=len(rows) < 50):
        if row.has("pred"):
            pred = row.text("pred")
        elif row.has("pred_image") and omr is not None:
            pred = omr(Image.open(row.path("pred_image")).convert("L"))
        else:
            raise UserError(
                f"{row.source}: {task} row needs 'pred' (LMX read from the generated image) "
                "or 'pred_image' plus an OMR model"
            )
        results.append(token_emd(row.text("gold"), pred))
    mean = mean_token_emd(results)
    metrics = {"emd_pitch": mean.pitch, "emd_duration": mean.duration}
    details = {
        "undefined_pitch": mean.num_undefined_pitch,
        "undefined_duration": mean.num_undefined_duration,
        "duration_shift_counts": {str(s): sum(r.duration_shift == s for r in results) for s in (-1, 0, 1)},
    }
    return metrics, details


def score_rows(
    rows: Sequence[PredictionRow],
    *,
    task: str,
    method: str,
    dataset: str,
    transcriber: Transcriber | None = None,
    embedding: AudioEmbedding | None = None,
    omr: Callable[[Any], str] | None = None,
) -> MethodResult:
    """Score one task's rows into a table row."""
    if task == "omr":
        metrics, details = score_omr(rows)
    elif task == "amt":
        metrics, details = score_amt(rows)
    elif task in ("i2a", "m2a"):
        metrics, details = score_audio_generation(rows, task=task, transcriber=transcriber, embedding=embedding)
    elif task in ("a2i", "l2i"):
        metrics, details = score_token_emd(rows, task=task, omr=omr)
    else:
        raise UserError(f"unknown task {task!r}")
    return MethodResult(
        task=task, method=method, dataset=dataset, metrics=metrics, num_samples=len(rows), details=details
    )
