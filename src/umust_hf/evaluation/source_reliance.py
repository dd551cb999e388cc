"""Does a model read its source? Held-out loss with each example's own source vs another's.

A translation model that has collapsed into a language model of its targets scores the same
teacher-forced loss whichever source it is given; one that reads its input does worse when the
sources are swapped. On a tiny training set the greedy outputs of such a collapsed model can
still beat a trivial baseline by luck of length and structure, so this gap is the honest check
that a score reflects reading (the demo reports it for every task).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .generation import DEFAULT_BATCH_SIZE, chunks


def summed_loss(model: Any, batch: dict[str, Any]) -> tuple[float, int]:
    """Teacher-forced loss of one collated batch, summed over its target frames, and the number of frames."""
    import torch

    inputs = {key: value.to(model.device) for key, value in batch.items() if key != "task_ids"}
    frames = int((inputs["labels"][..., 0] != -100).sum())
    with torch.no_grad():
        loss = float(model(**inputs, return_logits=False).loss)
    return loss * frames, frames


def heldout_loss(model: Any, rows: Sequence[dict[str, Any]], batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """Mean teacher-forced loss per target frame over baked task rows (``input_ids``, ``labels``, modalities)."""
    from ..training.collator import BundleCollator

    if not rows:
        raise ValueError("no rows to score")
    collate = BundleCollator(num_codebooks=model.config.num_codebooks)
    total, frames = 0.0, 0
    for batch in chunks(rows, batch_size):
        loss, count = summed_loss(model, collate(list(batch)))
        total, frames = total + loss, frames + count
    return total / max(frames, 1)


def source_reliance(model: Any, rows: Sequence[dict[str, Any]], batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, float]:
    """``{"own_source", "other_source", "gap"}``: held-out loss of ``rows`` of one task as they are, and with
    every row's source replaced by the next row's (a fixed derangement, so the result is deterministic).

    ``gap`` = other - own: about 0 when the model ignores its input, clearly positive when it reads it.
    """
    model = model.eval()
    rows = list(rows)
    if len(rows) < 2:
        raise ValueError(f"source reliance needs at least 2 rows of a task, got {len(rows)}")
    if len({(row["source_modality"], row["target_modality"]) for row in rows}) != 1:
        raise ValueError("source reliance compares rows of one task: all rows need the same source and target modality")
    swapped = [{**row, "input_ids": rows[(index + 1) % len(rows)]["input_ids"]} for index, row in enumerate(rows)]
    own, other = heldout_loss(model, rows, batch_size), heldout_loss(model, swapped, batch_size)
    return {"own_source": own, "other_source": other, "gap": other - own}


__all__ = ["heldout_loss", "source_reliance", "summed_loss"]
