"""The demo's step plan: probe step costs, shrink the curriculum to fit a wall-time cap."""

from __future__ import annotations

import pytest
import torch

from umust_hf.demo.step_plan import TRAINER_OVERHEAD, planned_seconds, step_seconds, steps_within
from umust_hf.modeling.configuration_umust import UMustConfig
from umust_hf.modeling.modeling_umust import UMustForConditionalGeneration
from umust_hf.training.curriculum import Curriculum

from helpers import task_dataset


CURRICULUM = Curriculum.from_list([{"task": "omr", "start_step": 0}, {"task": "m2a", "start_step": 80}])


def test_a_step_costs_as_much_as_the_dearest_active_task():
    costs = {"omr": 0.1, "m2a": 0.5}
    expected = TRAINER_OVERHEAD * (80 * 0.1 + 20 * 0.5)
    assert planned_seconds(CURRICULUM, 100, costs) == pytest.approx(expected)


def test_steps_shrink_to_the_cap_and_never_grow():
    costs = {"omr": 0.1, "m2a": 0.5}
    full = planned_seconds(CURRICULUM, 100, costs)
    assert steps_within(CURRICULUM, 100, costs, minutes=full / 60 + 1) == 100  # fits: unchanged
    half = steps_within(CURRICULUM, 100, costs, minutes=full / 120)
    assert half == 50
    # the shrunk curriculum (as train_from_recipe scales it) costs what the cap allows
    assert planned_seconds(CURRICULUM.scaled(half / 100), half, costs) == pytest.approx(full / 2, rel=0.05)
    assert steps_within(CURRICULUM, 100, costs, minutes=1e-6) == 1


def test_probe_times_each_task_and_leaves_the_weights_and_gradients_alone():
    torch.manual_seed(0)
    config = UMustConfig.from_preset("tiny")
    model = UMustForConditionalGeneration(config).eval()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    costs = step_seconds(model, task_dataset(config.vocabulary), ("omr", "m2a", "missing"), batch_size=2)
    assert set(costs) == {"omr", "m2a"}  # a task without examples is not timed
    assert all(cost > 0 for cost in costs.values())
    assert not model.training  # the mode is restored
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(p, before[name]) for name, p in model.named_parameters())
