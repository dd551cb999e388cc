"""Reference rows that need no model: ground truth against itself, and random pairing.

``random-pairing`` scores every test excerpt against a *different* excerpt of the same
split (the "GT Random Pairing Baseline" of Table 4, applied to every task): the chance
level a model must beat. ``ground-truth`` scores every excerpt against itself, which must
give the metrics' best values (SER 0, F1 100, FAD 0, EMD 0) and so checks the whole
evaluation path on real data.

FAD compares two *sets* of clips, and a random pairing leaves both sets unchanged, so the
random-pairing rows carry no audio and their FAD stays empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.audio_io import decode_audio, read_midi_notes
from ..errors import UserError
from .predictions import PredictionRow
from .transcribers import transcribe_all

BASELINES = ("random-pairing", "ground-truth")


def partners(count: int, kind: str, seed: int) -> np.ndarray:
    """Index of the excerpt that plays "prediction" for each excerpt (``random-pairing``: never itself)."""
    if kind == "ground-truth":
        return np.arange(count)
    if count < 2:
        raise UserError("random pairing needs at least 2 excerpts in the split")
    order = np.random.default_rng(seed).permutation(count)
    partner = np.empty(count, dtype=np.int64)
    partner[order] = np.roll(order, -1)  # a cycle through a shuffled order: nobody pairs with itself
    return partner


def _fields(task: str, gold: dict[str, Any], pred: dict[str, Any], kind: str) -> dict[str, Any]:
    if task in ("omr", "l2i", "a2i"):
        return {"gold": gold["lmx"], "pred": pred["lmx"]}
    fields: dict[str, Any] = {
        "gold_notes": read_midi_notes(gold["midi"]),
        "pred_notes": read_midi_notes(pred["midi"]),
    }
    if task in ("i2a", "m2a") and kind == "ground-truth":
        fields.update(gold_audio=gold["audio"], pred_audio=pred["audio"])
    return fields


def baseline_rows(
    examples: Sequence[dict[str, Any]],
    task: str,
    *,
    kind: str = "random-pairing",
    seed: int = 0,
    source: str = "dataset",
) -> list[PredictionRow]:
    """Gold/prediction rows for ``task`` built from dataset examples (embedded-corpus columns
    ``id``, ``lmx``, ``midi``, ``audio``)."""
    if kind not in BASELINES:
        raise UserError(f"unknown baseline {kind!r}; expected one of {', '.join(BASELINES)}")
    partner = partners(len(examples), kind, seed)
    rows = []
    for index, other in enumerate(partner):
        gold, pred = examples[index], examples[int(other)]
        fields = {
            "id": gold.get("id", str(index)),
            "pred_id": pred.get("id", str(other)),
            **_fields(task, gold, pred, kind),
        }
        rows.append(PredictionRow(task, fields, f"{source}[{index}]", Path(".")))
    return rows


def load_split(data_dir: str | Path, split: str, limit: int | None, columns: Sequence[str]) -> list[dict[str, Any]]:
    """The first ``limit`` examples of ``data_dir[split]`` as dicts, checked for ``columns``."""
    from datasets import load_from_disk  # heavy: datasets

    path = Path(data_dir)
    if not (path / "dataset_dict.json").is_file():
        raise UserError(f"{path} is not a saved DatasetDict (no dataset_dict.json); build one with umust build-corpus")
    dataset = load_from_disk(str(path))
    if split not in dataset:
        raise UserError(f"{path} has no split {split!r}; it has {', '.join(dataset)}")
    table = dataset[split]
    missing = [column for column in columns if column not in table.column_names]
    if missing:
        raise UserError(f"{path}[{split}] lacks the column(s) {', '.join(missing)}")
    table = table.select_columns([c for c in ("id", *columns) if c in table.column_names])
    if limit is not None:
        table = table.select(range(min(limit, len(table))))
    return [table[i] for i in range(len(table))]


#: dataset columns each task's baseline reads
TASK_COLUMNS = {
    "omr": ("lmx",), "l2i": ("lmx",), "a2i": ("lmx",),
    "amt": ("midi",), "i2a": ("midi", "audio"), "m2a": ("midi", "audio"),
}  # fmt: skip


def peer_rows(examples: Sequence[dict[str, Any]], transcriber: Any, *, source: str = "dataset") -> list[PredictionRow]:
    """AMT rows of an external transcriber (``transcriber``: :mod:`.transcribers`, e.g. basic-pitch) on
    dataset examples: the reference MIDI's notes against its transcription of the recording, scored
    by the same note-F1 code as a trained model's rows."""
    transcribed = transcribe_all(transcriber, [decode_audio(example["audio"]) for example in examples])
    return [PredictionRow("amt", {"id": example.get("id", str(index)), "gold_notes": read_midi_notes(example["midi"]),
                                  "pred_notes": notes}, f"{source}[{index}]", Path("."))
            for index, (example, notes) in enumerate(zip(examples, transcribed))]  # fmt: skip
