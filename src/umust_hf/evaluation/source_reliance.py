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
    import torch  # heavy: torch

    inputs = {key: value.to(model.device) for key, value in batch.items() if key != "task_ids"}
    frames = int((inputs["labels"][..., 0] != -100).sum())
    with torch.no_grad():
        loss = float(model(**inputs, return_logits=False).loss)
    return loss * frames, frames


def heldout_loss(model: Any, rows: Sequence[dict[str, Any]], batch_size: int = DEFAULT_BATCH_SIZE) -> float:
    """Mean teacher-forced loss per target frame over baked task rows (``input_ids``, ``labels``, modalities)."""
    from ..data.collator import BundleCollator  # heavy: torch

    if not rows:
        raise ValueError("no rows to score")
    collate = BundleCollator(num_codebooks=model.config.num_codebooks)
    total, frames = 0.0, 0
    for batch in chunks(rows, batch_size):
        loss, count = summed_loss(model, collate(list(batch)))
        total, frames = total + loss, frames + count
    return total / max(frames, 1)


def _next_index(position: int, groups: Sequence[str], same_group: bool) -> int | None:
    """The first row after ``position`` (cyclically) whose group equals / differs from its own; None if none."""
    count = len(groups)
    for step in range(1, count):
        candidate = (position + step) % count
        if (groups[candidate] == groups[position]) == same_group:
            return candidate
    return None


def _swapped_loss(model: Any, rows: list[dict[str, Any]], pairs: list[tuple[int, int]], batch_size: int) -> float:
    """Held-out loss of ``rows[index]`` with the source of ``rows[donor]``, for each ``(index, donor)`` pair."""
    swapped = [{**rows[index], "input_ids": rows[donor]["input_ids"]} for index, donor in pairs]
    return heldout_loss(model, swapped, batch_size)


def source_reliance(model: Any, rows: Sequence[dict[str, Any]], batch_size: int = DEFAULT_BATCH_SIZE,
                    groups: Sequence[str] | None = None) -> dict[str, float]:
    """``{"own_source", "other_source", "gap"}``: held-out loss of ``rows`` of one task as they are, and with
    every row's source replaced by the next row's (a fixed derangement, so the result is deterministic).

    ``gap`` = other - own: about 0 when the model ignores its input, clearly positive when it reads it.

    ``groups`` (e.g. the piece of each row) makes the swap say more: ``other_source`` then takes the next
    row of *another* group (a different piece: layout, key and metre differ, so a model that reads
    only those already gains), and ``same_group_own`` / ``same_group_other`` / ``same_group_gap`` compare,
    over the rows whose group has at least two rows, each row's source with the next one of its own
    group (the same layout, so only reading the notes pays). ``across_groups`` is 0.0 when all rows
    share one group (``other_source`` then comes from the next row, as without groups), else 1.0.
    """
    model = model.eval()
    rows = list(rows)
    if len(rows) < 2:
        raise ValueError(f"source reliance needs at least 2 rows of a task, got {len(rows)}")
    if len({(row["source_modality"], row["target_modality"]) for row in rows}) != 1:
        raise ValueError("source reliance compares rows of one task: all rows need the same source and target modality")
    if groups is not None and len(groups) != len(rows):
        raise ValueError(f"groups has {len(groups)} entries for {len(rows)} rows")
    own = heldout_loss(model, rows, batch_size)
    across = groups is not None and len(set(groups)) >= 2
    donors = [_next_index(index, groups, same_group=False) if across else None for index in range(len(rows))]
    pairs = [(index, (index + 1) % len(rows) if donor is None else donor) for index, donor in enumerate(donors)]
    other = _swapped_loss(model, rows, pairs, batch_size)
    result = {"own_source": own, "other_source": other, "gap": other - own}
    if groups is not None:
        result["across_groups"] = float(across)  # 0: one group only, the swap stayed inside it
        within = [(index, donor) for index in range(len(rows))
                  if (donor := _next_index(index, groups, same_group=True)) is not None]
        if within:
            same_own = heldout_loss(model, [rows[index] for index, _ in within], batch_size)
            same_other = _swapped_loss(model, rows, within, batch_size)
            result.update(same_group_own=same_own, same_group_other=same_other, same_group_gap=same_other - same_own)
    return result


__all__ = ["heldout_loss", "source_reliance", "summed_loss"]
