"""OMR and AMT of a finished demo on *every* held-out excerpt, not only the few the metrics table shows.

The demo's table scores six excerpts (the generation tasks are slow); OMR and AMT are cheap from the
baked tokens, so this gives their SER and note F1 on all baked test examples, beside the constant
baselines and the teacher-forced loss: figures with less noise for comparing training recipes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import HOP_LENGTH, SAMPLE_RATE
from ..data.audio_io import read_midi_notes
from ..evaluation.generation import DEFAULT_BATCH_SIZE, chunks, notes_of
from ..evaluation.predictions import PredictionRow
from ..evaluation.ser import ser_by_kind, symbol_error_rate
from ..evaluation.source_reliance import summed_loss
from ..translation import UMustTranslator
from .constant_baselines import constant_lmx, constant_midi
from .paths import DemoPaths


def heldout_scores(out_dir: str | Path, progress: bool = False, seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{"omr": score_heldout_omr(...), "amt": score_heldout_amt(...)}`` for the finished demo under
    ``out_dir`` (its models, bake and the metrics table's constant baselines)."""
    import datasets  # heavy: datasets

    paths = DemoPaths(Path(out_dir))
    missing = [d for d in ("i2a", "a2i") if not (paths.model(d) / "config.json").is_file()]
    if not (paths.work / "baked").is_dir() or missing:
        raise FileNotFoundError(f"{paths.root} holds no finished demo (run `umust demo --out-dir {paths.root}` first)")
    train = datasets.load_from_disk(str(paths.work / "excerpts"))["train"]
    test = datasets.load_from_disk(str(paths.work / "baked"))["test"]
    baseline_notes = read_midi_notes(constant_midi(train, seed))
    return {
        "omr": score_heldout_omr(test, UMustTranslator.from_pretrained(paths.model("i2a")), constant_lmx(train, seed),
                                 progress=progress),
        "amt": score_heldout_amt(test, UMustTranslator.from_pretrained(paths.model("a2i")), baseline_notes,
                                 progress=progress),
    }


def score_heldout_omr(test: Any, translator: Any, baseline_lmx: str, progress: bool = False,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """``{"examples", "ser", "baseline_ser", "ser_by_kind", "baseline_ser_by_kind", "heldout_loss"}`` over every
    OMR row of the baked ``test`` split (by kind: pitch, duration, structure; see
    :func:`~umust_hf.evaluation.ser.ser_by_kind`).

    ``translator``: a :class:`~umust_hf.translation.UMustTranslator` of the I2A model;
    ``baseline_lmx``: the constant prediction it is compared with. Rows are generated and
    scored ``batch_size`` at a time (padding changes neither the greedy readings nor, beyond float
    rounding, the loss).
    """
    read = _read_heldout(test, translator, "omr",
                         lambda rows, sources: [translator.lmx_of(row[None])[0] for row in rows], progress, batch_size)
    constant = [baseline_lmx] * len(read.gold)
    return {
        "examples": len(read.gold),
        "ser": symbol_error_rate(read.gold, read.predicted),
        "baseline_ser": symbol_error_rate(read.gold, constant),
        "ser_by_kind": ser_by_kind(read.gold, read.predicted),
        "baseline_ser_by_kind": ser_by_kind(read.gold, constant),
        "heldout_loss": read.loss,
    }


def score_heldout_amt(test: Any, translator: Any, baseline_notes: Any, progress: bool = False,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """``{"examples", "onset_f1", "onset_offset_f1", "baseline_onset_f1", "baseline_onset_offset_f1",
    "heldout_loss"}`` (F1 in percent) over every AMT row of the baked ``test`` split.

    ``translator``: the A2I model's :class:`~umust_hf.translation.UMustTranslator`; ``baseline_notes``:
    the constant ``(N, 3)`` transcription it is compared with. Gold notes are the rows' MIDI labels
    decoded as the model's output is (10 ms steps), so both sides pass the same tokenizer.
    """
    from ..evaluation.scoring import score_amt  # heavy: scipy, mir_eval, tqdm

    def notes(rows: Any, sources: Any) -> list[Any]:  # a note left sounding ends with its recording
        return [notes_of(translator.processor, row, len(source["input_ids"]) * HOP_LENGTH / SAMPLE_RATE)
                for row, source in zip(rows, sources)]

    read = _read_heldout(test, translator, "amt", notes, progress, batch_size)
    scores: dict[str, Any] = {"examples": len(read.gold)}
    for prefix, predicted in (("", read.predicted), ("baseline_", [baseline_notes] * len(read.gold))):
        rows = [PredictionRow("amt", {"gold_notes": gold, "pred_notes": pred}, f"held-out[{index}]", Path("."))
                for index, (gold, pred) in enumerate(zip(read.gold, predicted))]
        metrics, _ = score_amt(rows)
        scores.update({f"{prefix}{key}": value for key, value in metrics.items()})
    return {**scores, "heldout_loss": read.loss}


@dataclass
class _HeldOutReading:
    gold: list[Any]  # each row's labels, read as ``read`` reads an output
    predicted: list[Any]
    loss: float  # teacher-forced loss per target frame


def _read_heldout(test: Any, translator: Any, task: str, read: Callable[[Any, Any], list[Any]], progress: bool,
                  batch_size: int) -> _HeldOutReading:
    """Greedy outputs and teacher-forced loss of every ``task`` row of the baked ``test`` split, in batches,
    with ``read(bundles, rows)`` turning a list of ``(T, K)`` bundle rows (generated or gold) of the baked
    ``rows`` into what the metric compares."""
    from tqdm.auto import tqdm  # heavy: tqdm

    from ..data.collator import BundleCollator  # heavy: torch

    test = test.filter(lambda name: name == task, input_columns="task")
    if not len(test):
        raise ValueError(f"the held-out split has no {task.upper()} example to score")
    model = translator.model.eval()
    collate = BundleCollator(num_codebooks=model.config.num_codebooks)
    rows = list(test)
    gold, predicted, loss_sum, frames = [], [], 0.0, 0
    with tqdm(total=len(rows), desc=f"held-out {task.upper()}", disable=not progress) as bar:
        for batch_rows in chunks(rows, batch_size):
            outputs, batch_loss, batch_frames = _generate_and_score(model, collate(batch_rows), batch_rows[0])
            gold += read([np.asarray(row["labels"]) for row in batch_rows], batch_rows)
            predicted += read(list(outputs), batch_rows)
            loss_sum, frames = loss_sum + batch_loss, frames + batch_frames
            bar.update(len(batch_rows))
    return _HeldOutReading(gold, predicted, loss_sum / max(frames, 1))


def _generate_and_score(model: Any, batch: dict[str, Any], first_row: dict[str, Any]) -> tuple[Any, float, int]:
    """Greedy outputs of one collated batch (one task: its first row names the modalities), its summed
    teacher-forced loss and its number of target frames."""
    import torch  # heavy: torch

    inputs = {key: value.to(model.device) for key, value in batch.items() if key != "task_ids"}
    with torch.no_grad():
        outputs = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                 source_modality=first_row["source_modality"],
                                 target_modality=first_row["target_modality"], do_sample=False)
    return (outputs.cpu().numpy(), *summed_loss(model, batch))


__all__ = ["heldout_scores", "score_heldout_omr", "score_heldout_amt"]
