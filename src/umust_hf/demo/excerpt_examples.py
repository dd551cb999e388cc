"""The demo's short excerpts and their task examples.

The shared baker (:mod:`umust_hf.data.baking`) encodes a row's score *or* its recording;
an embedded-corpus row has both (``image``, ``lmx``, ``midi``, ``audio``, all aligned), so
this thin adapter encodes the two halves with :func:`~umust_hf.data.baking.encode_row` and
joins them into one segment before :func:`~umust_hf.data.baking.task_examples` makes the
six tasks' examples. Examples longer than the demo model's position tables are dropped
and counted, as the shared baker does.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
from datasets import DatasetDict, concatenate_datasets

from ..data.baking import BAKED_FEATURES, encode_row, position_limits, task_examples, tasks_for
from ..data.embedded import load_embedded_corpus
from ..errors import UserError
from ..modeling.vocabulary_umust import Modality

logger = logging.getLogger(__name__)

SCORE = (Modality.IMAGE, Modality.NOTATION)
RECORDING = (Modality.MIDI, Modality.AUDIO)


def select_short_excerpts(corpus_dir: str | os.PathLike, out_dir: str | os.PathLike, *, max_seconds: float,
                          max_train: int | None = None) -> dict[str, int]:
    """Save the corpus rows of at most ``max_seconds`` of audio as a DatasetDict in ``out_dir``.

    ``train`` takes the corpus's train rows, ``test`` its validation and test rows (the corpus
    splits by piece, so these pieces are never seen in training; the demo selects no model, so
    it needs no validation set, and a few more held-out pieces make its metrics less noisy).
    Returns the rows kept per split. Whole excerpts are kept or left out, so image, LMX, MIDI
    and audio stay aligned.
    """
    corpus = load_embedded_corpus(corpus_dir)
    kept = {}
    pools = {"train": ["train"] if "train" in corpus else [], "test": [s for s in ("validation", "test") if s in corpus]}
    for split, sources in pools.items():
        parts = []
        for source in sources:
            rows = [i for i, seconds in enumerate(corpus[source]["duration"]) if seconds <= max_seconds]
            if rows:  # an empty split saves no Arrow file and would not load back
                parts.append(corpus[source].select(rows))
        if parts:
            table = concatenate_datasets(parts) if len(parts) > 1 else parts[0]
            if split == "train" and max_train is not None:
                table = table.select(range(min(max_train, len(table))))
            kept[split] = table
    if not len(kept.get("train", [])) or not len(kept.get("test", [])):
        raise UserError(
            f"{corpus_dir}: no train or no test excerpt is at most {max_seconds} s long; build a larger corpus "
            "(--corpus-pieces) or allow longer excerpts"
        )
    sizes = {split: len(rows) for split, rows in kept.items()}
    _save_atomically(DatasetDict(kept), Path(out_dir), {"selection.json": json.dumps({"max_seconds": max_seconds, "rows": sizes})})
    return sizes


def bake_excerpts(data_dir: str | os.PathLike, processor: Any, out_dir: str | os.PathLike, *, config: Any,
                  show_progress: bool = True, only: Sequence[str] | None = None) -> dict[str, Any]:
    """Encode every row of ``data_dir`` (a DatasetDict of embedded-corpus rows) into the six tasks' examples
    (``only``: just the tasks named, e.g. ``["amt"]``; a half that no such task reads is not encoded, so
    an AMT bake needs no image codec).

    Writes a DatasetDict of task examples (the :data:`~umust_hf.data.baking.BAKED_FEATURES`
    layout) to ``out_dir`` and returns counts: examples per split and task, dropped as too
    long per task, rows that failed to encode.
    """
    import torch  # heavy: torch
    from tqdm.auto import tqdm  # heavy: tqdm

    data = datasets.load_from_disk(str(data_dir))
    tasks = tasks_for((*SCORE, *RECORDING), only)
    needed = {modality for task in tasks for modality in (task.source, task.target)}
    limits = position_limits(config)
    too_long: Counter = Counter()
    counts: dict[str, dict[str, int]] = {}
    failed: list[str] = []
    splits = {}
    with torch.no_grad():
        for split in data:
            rows, per_task = [], Counter()
            for row in tqdm(data[split], desc=f"bake {split}", disable=not show_progress):
                try:
                    score = encode_row(row, processor, SCORE)[0] if needed & set(SCORE) else {}
                    recording = (encode_row({**row, "musicxml": None}, processor, RECORDING)
                                 if needed & set(RECORDING) else [])
                except (UserError, ValueError, OSError, RuntimeError) as error:
                    logger.warning("skipping %s: %s", row["id"], error)
                    failed.append(row["id"])
                    continue
                # a demo excerpt is shorter than one 20 s MIDI segment: its first segment is all of it
                segment = {**score, **(recording[0] if recording else {})}
                for example in task_examples(row["id"], [segment], tasks, limits, too_long):
                    per_task[example["task"]] += 1
                    rows.append(example)
            counts[split] = dict(per_task)
            if rows:
                splits[split] = datasets.Dataset.from_list(rows, features=BAKED_FEATURES)
    if "train" not in splits:
        raise UserError(f"{data_dir}: no training example fits the demo's position tables {limits}")
    summary = {"tasks": [task.name for task in tasks], "examples": counts, "too_long": dict(too_long), "failed_rows": failed,
               "limits": {m.value: n for m, n in limits.items()}}
    _save_atomically(datasets.DatasetDict(splits), Path(out_dir), {"bake_summary.json": json.dumps(summary, indent=1)})
    return summary


def _save_atomically(data: Any, out: Path, extra: dict[str, str] | None = None) -> None:
    """``save_to_disk`` (plus ``extra`` text files) into a sibling temporary folder, then rename it into place."""
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    data.save_to_disk(str(staging))
    for name, text in (extra or {}).items():
        (staging / name).write_text(text)
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
