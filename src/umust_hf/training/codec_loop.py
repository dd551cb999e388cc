"""The step loop both codec trainers share: a step and/or time budget, a progress bar, checkpoints.

The codecs have no Trainer-shaped forward loss (the audio codec trains a GAN), so each trainer
keeps its own step and checkpoint contents and hands them to :func:`run_training_steps`, which
owns what they had in common: when to stop, when to checkpoint, what the bar shows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from tqdm.auto import tqdm

from ..errors import UserError


@dataclass(frozen=True)
class TrainingBudget:
    """Stop at ``max_steps`` total steps (resumed ones included; ``math.inf``: no cap) or after
    ``minutes`` of wall time in this call, whichever comes first."""

    max_steps: float
    minutes: float | None = None

    @classmethod
    def resolve(cls, max_steps: int | None, minutes: float | None, *, default_steps: int | None) -> TrainingBudget:
        """The budget of a ``--max-steps`` / ``--minutes`` pair. Without either, ``default_steps``
        (``None``: one of the two is required); a time budget alone has no step cap."""
        if max_steps is None and minutes is None and default_steps is None:
            raise UserError("give --max-steps or --minutes (or both) so that training stops")
        if max_steps is not None and max_steps < 0:
            raise UserError(f"--max-steps must be at least 0, got {max_steps}")
        if minutes is not None and minutes <= 0:
            raise UserError(f"--minutes must be positive, got {minutes}")
        if max_steps is not None:
            steps: float = int(max_steps)
        else:
            steps = default_steps if minutes is None else math.inf
        return cls(max_steps=steps, minutes=minutes)


@dataclass(frozen=True)
class LoopResult:
    steps: int  # total steps reached, resumed ones included
    seconds: float  # wall time since ``started``


def run_training_steps(
    train_step: Callable[[int], dict[str, float]],
    *,
    start_step: int,
    budget: TrainingBudget,
    checkpoint: Callable[[int], None],
    checkpoint_every: int,
    description: str,
    show_progress: bool = True,
    postfix: Callable[[dict[str, float]], dict[str, str]] | None = None,
    postfix_every: int = 1,
    started: float | None = None,
) -> LoopResult:
    """Call ``train_step(step)`` (it returns the step's losses) until the budget is spent.

    ``checkpoint(step)`` runs every ``checkpoint_every`` steps and once at the end, so a killed run
    loses at most ``checkpoint_every`` steps. ``started`` (a ``time.monotonic()`` value) lets the
    time budget include set-up work done before the loop, such as codebook seeding.
    """
    started = time.monotonic() if started is None else started
    deadline = math.inf if budget.minutes is None else started + budget.minutes * 60.0
    step = start_step
    total = None if math.isinf(budget.max_steps) else int(budget.max_steps)
    with tqdm(total=total, initial=step, desc=description, disable=not show_progress, unit="step") as bar:
        while step < budget.max_steps and time.monotonic() < deadline:
            losses = train_step(step)
            step += 1
            bar.update(1)
            if postfix is not None and step % postfix_every == 0:
                bar.set_postfix(postfix(losses))
            if step % checkpoint_every == 0:
                checkpoint(step)
    checkpoint(step)
    return LoopResult(steps=step, seconds=time.monotonic() - started)


__all__ = ["LoopResult", "TrainingBudget", "run_training_steps"]
