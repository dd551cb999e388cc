"""Fit a demo model's training steps into its wall-time cap, from a short measurement of step costs.

A wall-time stop alone would cut the end of the curriculum, where the demo recipes bring in their
later tasks (MIDI-to-audio and image-to-audio enter after the OMR steps), so a slow machine
would save a model that never trained on them. Instead the whole curriculum is shrunk: a few
forward/backward passes per task give this machine's seconds per step, and the planned step
count is scaled down (with the curriculum, by ``train_from_recipe``) to what the cap allows.
"""

from __future__ import annotations

import time
from typing import Any

#: Measured trainer time / probe estimate on the demo's I2A run (data loading, optimiser,
#: logging and the guided-attention loss are not in the probe): 223 s actual vs 177 s estimated.
TRAINER_OVERHEAD = 1.3


def step_seconds(model: Any, dataset: Any, tasks: tuple[str, ...], batch_size: int, repeats: int = 2) -> dict[str, float]:
    """Seconds of one forward/backward pass on a ``batch_size`` batch of each task (after one warm-up
    pass). Gradients are cleared afterwards and no weight changes."""
    from ..data.collator import BundleCollator  # heavy: torch

    collator = BundleCollator(num_codebooks=model.config.num_codebooks)
    was_training = model.training
    model.train()
    costs: dict[str, float] = {}
    names = dataset["task"]  # one column read; no filtered copy (and no cache file) per task
    for task in tasks:
        picked = [index for index, name in enumerate(names) if name == task][:batch_size]
        if not picked:
            continue
        batch = collator([dataset[index] for index in picked])
        inputs = {key: value.to(model.device) for key, value in batch.items() if key != "task_ids"}
        timings = []
        for _ in range(repeats + 1):
            started = time.perf_counter()
            model(**inputs, output_attentions=True, return_logits=False).loss.backward()
            timings.append(time.perf_counter() - started)
        model.zero_grad(set_to_none=True)
        costs[task] = min(timings[1:])
    model.train(was_training)
    return costs


def planned_seconds(curriculum: Any, steps: int, costs: dict[str, float]) -> float:
    """Expected wall time of ``steps`` steps: a mixed batch costs about as much as the dearest task
    active at that step, times :data:`TRAINER_OVERHEAD`."""
    dearest = [max((costs.get(task, 0.0) for task in curriculum.active_tasks(step)), default=0.0)
               for step in range(steps)]
    return TRAINER_OVERHEAD * sum(dearest)


def steps_within(curriculum: Any, steps: int, costs: dict[str, float], minutes: float) -> int:
    """The planned ``steps`` scaled down (never up) so that :func:`planned_seconds` fits ``minutes``.

    Scaling the curriculum with the steps keeps every task's share, so the scaled run costs the
    same fraction of the planned one.
    """
    total = planned_seconds(curriculum, steps, costs)
    if total <= 60.0 * minutes:
        return steps
    return max(1, int(steps * 60.0 * minutes / total))
