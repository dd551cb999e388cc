import math

import pytest

from umust_hf.errors import UserError
from umust_hf.training.codec_loop import TrainingBudget, run_training_steps


def test_budget_resolution_and_errors():
    assert TrainingBudget.resolve(5, None, default_steps=None) == TrainingBudget(5, None)
    assert TrainingBudget.resolve(None, 2.0, default_steps=100) == TrainingBudget(math.inf, 2.0)  # time alone: no cap
    assert TrainingBudget.resolve(None, None, default_steps=100) == TrainingBudget(100, None)
    with pytest.raises(UserError, match="--max-steps or --minutes"):
        TrainingBudget.resolve(None, None, default_steps=None)
    with pytest.raises(UserError, match="at least 0"):
        TrainingBudget.resolve(-1, None, default_steps=None)
    with pytest.raises(UserError, match="positive"):
        TrainingBudget.resolve(3, 0.0, default_steps=None)


def test_steps_resume_from_start_step_and_checkpoint_on_cadence_and_at_the_end():
    seen, saved = [], []
    result = run_training_steps(
        lambda step: seen.append(step) or {"loss": float(step)}, start_step=3, budget=TrainingBudget(8),
        checkpoint=saved.append, checkpoint_every=2, description="t", show_progress=False,
    )
    assert seen == [3, 4, 5, 6, 7] and result.steps == 8
    assert saved == [4, 6, 8, 8]  # every second step, and once more at the end


def test_a_spent_time_budget_stops_after_the_running_step(monkeypatch):
    clock = iter([0.0, 0.0, 30.0, 61.0, 61.0])  # started, then one reading per loop test, then the result
    monkeypatch.setattr("umust_hf.training.codec_loop.time.monotonic", lambda: next(clock))
    seen = []
    result = run_training_steps(
        seen.append, start_step=0, budget=TrainingBudget(math.inf, minutes=1.0), checkpoint=lambda step: None,
        checkpoint_every=100, description="t", show_progress=False,
    )
    assert seen == [0, 1] and result.steps == 2 and result.seconds == 61.0
