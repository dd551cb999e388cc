"""UMustTrainer: every task trains on the tiny preset, the curriculum switches on time, resume is exact."""

import numpy as np
import pytest
import torch
from transformers import Seq2SeqTrainingArguments, TrainerCallback

from umust_hf.data.tasks import TASKS
from umust_hf.modeling.configuration_umust import UMustConfig
from umust_hf.modeling.modeling_umust import UMustForConditionalGeneration
from umust_hf.training.curriculum import Curriculum, TaskSchedule
from umust_hf.training.trainer import UMustTrainer

from helpers import task_dataset


def _trainer(tmp_path, curriculum, max_steps, **overrides):
    torch.manual_seed(0)
    config = UMustConfig.from_preset("tiny")
    model = UMustForConditionalGeneration(config)
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), max_steps=max_steps, per_device_train_batch_size=4, learning_rate=1e-3,
        logging_steps=1, save_strategy="steps", save_steps=3, report_to=[], use_cpu=True, seed=0,
        dataloader_num_workers=0, disable_tqdm=True, **overrides,
    )
    dataset = task_dataset(config.vocabulary)
    return UMustTrainer(model=model, args=args, train_dataset=dataset, curriculum=curriculum)


class _KillAfter(TrainerCallback):
    """Stop training right after a step, as a kill after the checkpoint would."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_training_stop = True


def _losses(trainer):
    return {log["step"]: log for log in trainer.state.log_history if "loss" in log}


def test_every_task_trains_and_the_curriculum_switches_on_time(tmp_path):
    curriculum = Curriculum((
        TaskSchedule("omr"), TaskSchedule("amt"), TaskSchedule("m2a", 2), TaskSchedule("l2i", 2),
        TaskSchedule("i2a", 4), TaskSchedule("a2i", 4),
    ))
    trainer = _trainer(tmp_path, curriculum, max_steps=8)
    trainer.train()
    logs = _losses(trainer)
    assert sorted(logs) == list(range(1, 9))
    for step, log in logs.items():
        seen = {key[len("loss_"):] for key in log if key.startswith("loss_") and key[5:] in TASKS}
        assert seen <= set(curriculum.active_tasks(step - 1)), (step, seen)
        if len(seen) == 1:  # one task in the step: its loss is the step's loss
            assert log[f"loss_{seen.pop()}"] == pytest.approx(log["loss"], abs=1e-3)
        assert np.isfinite(log["loss"])
        assert log["weight_omr"] == pytest.approx(curriculum.probabilities_at(step)["omr"], abs=1e-4)
    assert {k[5:] for log in logs.values() for k in log if k[5:] in TASKS} == set(TASKS)
    assert all(f"loss_codebook_{k}" in logs[8] for k in range(4))
    assert "loss_codebook_1" not in logs[1]  # step 1 trains single-stream targets only


def test_resume_after_a_kill_continues_exactly(tmp_path):
    curriculum = Curriculum((TaskSchedule("omr"), TaskSchedule("m2a", 2), TaskSchedule("i2a", 4)))
    full = _trainer(tmp_path / "full", curriculum, max_steps=6)
    full.train()
    interrupted = _trainer(tmp_path / "cut", curriculum, max_steps=6)
    interrupted.add_callback(_KillAfter(3))  # "killed" right after the step-3 checkpoint
    interrupted.train()
    resumed = _trainer(tmp_path / "cut", curriculum, max_steps=6)
    resumed.train(resume_from_checkpoint=str(tmp_path / "cut" / "checkpoint-3"))
    expected, got = _losses(full), _losses(resumed)
    for step in (1, 2):  # only OMR is active: the per-task loss is the step's loss
        assert expected[step]["loss_omr"] == pytest.approx(expected[step]["loss"], abs=1e-3)
    for step in (4, 5, 6):
        assert got[step]["loss"] == pytest.approx(expected[step]["loss"], rel=1e-5)
    for (name, a), (_, b) in zip(full.model.named_parameters(), resumed.model.named_parameters()):
        torch.testing.assert_close(a, b, msg=name)


def test_prediction_step_generates_bundles(tmp_path):
    trainer = _trainer(tmp_path, None, max_steps=1, predict_with_generate=True)
    trainer.args.per_device_eval_batch_size = 3
    subset = trainer.train_dataset.filter(lambda row: row["task"] in ("omr", "i2a")).select(range(6))
    output = trainer.predict(subset, max_new_tokens=5)
    assert output.predictions.shape[0] == 6 and output.predictions.shape[2] == 4
    assert output.predictions.shape[1] <= 5
    assert np.isfinite(output.metrics["test_loss"])
