"""A sampler that draws training examples by the curriculum's task probabilities.

Draw ``i`` of epoch ``e`` belongs to optimiser step ``(e * num_samples + i) // samples_per_step``, so the mixture follows the
global step exactly (no prefetch lag) and a resumed run redraws the same examples.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from .curriculum import Curriculum


class CurriculumSampler(Sampler[int]):
    """Yield dataset indices; each draw picks a task at that draw's step, then one of its examples.

    Args:
        example_tasks: the task name of every dataset example, in dataset order.
        curriculum: task weights as a function of the step.
        samples_per_step: examples consumed by one optimiser step over all devices
            (per-device batch x devices x gradient accumulation).
        num_samples: length of one pass (e.g. ``max_steps * samples_per_step``).
        seed: draws depend only on ``(seed, epoch, draw index)``.
    """

    def __init__(
        self,
        example_tasks: Sequence[str],
        curriculum: Curriculum,
        *,
        samples_per_step: int,
        num_samples: int,
        seed: int = 0,
    ) -> None:
        if samples_per_step < 1 or num_samples < 1:
            raise ValueError("samples_per_step and num_samples must be >= 1")
        tasks = np.asarray(example_tasks, dtype=object)
        self.pools = {task: np.flatnonzero(tasks == task) for task in curriculum.tasks}
        empty = [task for task, pool in self.pools.items() if len(pool) == 0]
        if empty:
            present = sorted(set(tasks.tolist()))
            raise ValueError(f"the curriculum needs task(s) {empty} but the dataset has none; it has {present}")
        self.curriculum = curriculum
        self.samples_per_step = samples_per_step
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        names = list(self.curriculum.tasks)
        cached_step, probabilities = -1, None
        for draw in range(self.num_samples):
            step = (self.epoch * self.num_samples + draw) // self.samples_per_step
            if step != cached_step:
                weights = self.curriculum.probabilities_at(step)
                probabilities = np.array([weights[name] for name in names])
                cached_step = step
            task = names[rng.choice(len(names), p=probabilities)]
            pool = self.pools[task]
            yield int(pool[rng.integers(len(pool))])
