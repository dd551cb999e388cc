"""Task curricula: sampling weights of the tasks as a function of the training step.

The paper (§E.3, Table 11) introduces each task at a step ("hard" introduction); the official
code instead ramps a dataset's weight linearly from 0 at ``start_step`` to its full weight at
``full_step``. :class:`TaskSchedule` covers both: ``full_step=None`` (or equal to
``start_step``) is a hard introduction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..data.tasks import get_task


@dataclass(frozen=True)
class TaskSchedule:
    """When a task enters the mixture, and with what final weight."""

    task: str
    start_step: int = 0
    full_step: int | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        get_task(self.task)  # validates the name
        if self.start_step < 0:
            raise ValueError(f"{self.task}: start_step must be >= 0, got {self.start_step}")
        if self.full_step is not None and self.full_step < self.start_step:
            raise ValueError(f"{self.task}: full_step {self.full_step} comes before start_step {self.start_step}")
        if not self.weight > 0:
            raise ValueError(f"{self.task}: weight must be > 0, got {self.weight}")

    def weight_at(self, step: int) -> float:
        """Sampling weight (unnormalised) at global step ``step``."""
        if step < self.start_step:
            return 0.0
        if self.full_step is None or self.full_step == self.start_step or step >= self.full_step:
            return self.weight
        # the official code's linear ramp; a task entering at start_step gets a tiny non-zero weight
        fraction = (step - self.start_step + 1) / (self.full_step - self.start_step + 1)
        return self.weight * fraction


@dataclass(frozen=True)
class Curriculum:
    """A task mixture whose weights change with the global step."""

    schedules: tuple[TaskSchedule, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.schedules:
            raise ValueError("a curriculum needs at least one task")
        names = [s.task for s in self.schedules]
        if len(set(names)) != len(names):
            raise ValueError(f"a task appears twice in the curriculum: {names}")
        if min(s.start_step for s in self.schedules) != 0:
            raise ValueError("at least one task must start at step 0, or the first steps have nothing to train on")

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(s.task for s in self.schedules)

    def weights_at(self, step: int) -> dict[str, float]:
        """Unnormalised weight of every task at ``step`` (0 before its introduction)."""
        return {s.task: s.weight_at(step) for s in self.schedules}

    def probabilities_at(self, step: int) -> dict[str, float]:
        """Sampling probability of every task at ``step``; they sum to 1."""
        weights = self.weights_at(step)
        total = sum(weights.values())
        return {task: weight / total for task, weight in weights.items()}

    def active_tasks(self, step: int) -> tuple[str, ...]:
        return tuple(task for task, weight in self.weights_at(step).items() if weight > 0)

    def change_steps(self) -> tuple[int, ...]:
        """Steps at which a task enters (useful for logging and tests)."""
        return tuple(sorted({s.start_step for s in self.schedules}))

    def scaled(self, factor: float) -> Curriculum:
        """The same curriculum with every step multiplied by ``factor`` (short demo runs)."""
        return Curriculum(
            tuple(
                TaskSchedule(
                    s.task,
                    int(round(s.start_step * factor)),
                    None if s.full_step is None else int(round(s.full_step * factor)),
                    s.weight,
                )
                for s in self.schedules
            )
        )

    # ---------------------------------------------------------- persistence
    def to_list(self) -> list[dict[str, Any]]:
        return [asdict(s) for s in self.schedules]

    @classmethod
    def from_list(cls, items: Iterable[Mapping[str, Any]]) -> Curriculum:
        return cls(tuple(TaskSchedule(**dict(item)) for item in items))

    @classmethod
    def from_json(cls, path: str | Path) -> Curriculum:
        return cls.from_list(json.loads(Path(path).read_text())["curriculum"])
