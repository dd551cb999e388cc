"""Guided attention: the diagonal penalty, the model's cross-attention maps, and the trainer's use of them."""

import pytest
import torch
from transformers import Seq2SeqTrainingArguments

from umust_hf.modeling.attention_band_umust import diagonal_penalty, diagonal_prior
from umust_hf.modeling.configuration_umust import UMustConfig
from umust_hf.modeling.modeling_umust import UMustForConditionalGeneration
from umust_hf.training.curriculum import Curriculum, TaskSchedule
from umust_hf.training.guided_attention import GuidedAttention, guided_attention_loss
from umust_hf.training.run import LOOP_REPEATS
from umust_hf.training.trainer import UMustTrainer

from helpers import task_dataset



def test_penalty_is_zero_on_each_examples_diagonal_and_outside_its_lengths():
    penalty = diagonal_penalty(torch.tensor([8, 4]), torch.tensor([4, 2]), source_size=8, target_size=4)
    assert penalty.shape == (2, 4, 8)
    assert torch.allclose(penalty[0, torch.arange(4), 2 * torch.arange(4)], torch.zeros(4))
    assert float(penalty[0, 0, 7]) > 0.9  # first target frame, last source frame
    assert torch.all(penalty[1, 2:] == 0) and torch.all(penalty[1, :, 4:] == 0)  # padding never counts
    assert float(penalty[1, 1, 2]) == pytest.approx(0.0)  # the second example's own diagonal (t/2 = s/4)


def _one_hot_maps(rows, source_size):
    maps = torch.zeros(1, 1, len(rows), source_size)
    maps[0, 0, torch.arange(len(rows)), torch.tensor(rows)] = 1.0
    return maps


def test_loss_prefers_diagonal_attention_and_ignores_padded_frames_and_unguided_heads():
    frames = torch.tensor([[True, True, True, False]])
    diagonal = _one_hot_maps([0, 2, 4, 0], 6)
    reversed_ = _one_hot_maps([5, 3, 1, 0], 6)
    assert guided_attention_loss([diagonal], None, frames) == pytest.approx(0.0, abs=1e-6)
    assert float(guided_attention_loss([reversed_], None, frames)) > 0.5
    padded_row = _one_hot_maps([0, 2, 4, 5], 6)  # the 4th frame is padding: where it looks is free
    assert guided_attention_loss([padded_row], None, frames) == pytest.approx(0.0, abs=1e-6)
    two_heads = torch.cat([diagonal, reversed_], dim=1)
    assert guided_attention_loss([two_heads], None, frames, heads=1) == pytest.approx(0.0, abs=1e-6)
    assert float(guided_attention_loss([two_heads], None, frames)) > 0.25
    with pytest.raises(ValueError, match="target_frames"):
        guided_attention_loss([diagonal], None, frames[:, :2])
    with pytest.raises(ValueError, match="heads=3"):
        guided_attention_loss([two_heads], None, frames, heads=3)
    with pytest.raises(ValueError, match="output_attentions"):
        guided_attention_loss([], None, frames)


def test_prior_rows_are_distributions_over_each_examples_real_frames():
    prior = diagonal_prior(torch.tensor([8, 4]), torch.tensor([4, 2]), source_size=8, target_size=4, sigma=0.1)
    assert torch.allclose(prior[0].sum(-1), torch.ones(4)) and torch.allclose(prior[1, :2].sum(-1), torch.ones(2))
    assert torch.all(prior[1, 2:] == 0) and torch.all(prior[1, :, 4:] == 0)
    assert prior[0].argmax(-1).tolist() == [0, 2, 4, 6]  # t / 4 = s / 8


def test_prior_loss_is_zero_on_the_band_and_keeps_its_gradient_where_the_penalty_loses_it():
    frames = torch.tensor([[True, True, True, True]])
    prior = diagonal_prior(torch.tensor([8]), torch.tensor([4]), 8, 4, sigma=0.1)
    assert guided_attention_loss([prior[:, None]], None, frames, sigma=0.1, kind="prior") == pytest.approx(0.0, abs=1e-5)
    # every row attends to one "sink" frame: the penalty's gradient on the logits is ~0, the prior's is not
    logits = torch.full((1, 1, 4, 8), -12.0)
    logits[..., 5] = 12.0
    grads = {}
    for kind in ("penalty", "prior"):
        leaf = logits.clone().requires_grad_(True)
        guided_attention_loss([leaf.softmax(-1)], None, frames, sigma=0.1, kind=kind).backward()
        grads[kind] = float(leaf.grad.abs().sum())
    assert grads["penalty"] < 1e-6 < 0.5 < grads["prior"]
    sink = _one_hot_maps([5, 5, 5, 5], 8)
    assert float(guided_attention_loss([sink], None, frames, sigma=0.1, kind="prior")) > 5.0
    with pytest.raises(ValueError, match="kind"):
        guided_attention_loss([sink], None, frames, kind="kl")


def test_recipe_setting_is_checked():
    assert GuidedAttention.from_dict({"kind": "prior"}).kind == "prior"
    with pytest.raises(ValueError, match="kind"):
        GuidedAttention(kind="diagonal")
    assert GuidedAttention.from_dict({"weight": 2.0, "heads": 2}).to_dict()["heads"] == 2
    with pytest.raises(ValueError, match="unknown key"):
        GuidedAttention.from_dict({"wieght": 1.0})
    with pytest.raises(ValueError, match="sigma"):
        GuidedAttention(sigma=0.0)
    assert not GuidedAttention(until_step=5).active_at(5) and GuidedAttention(until_step=5).active_at(4)


def _batch(config, lengths=(7, 4)):
    torch.manual_seed(1)
    vocab = config.vocabulary
    source = torch.stack([torch.from_numpy(vocab.to_bundle(torch.randint(0, 50, (7, 4)).numpy(), "image"))
                          for _ in lengths])
    mask = torch.tensor([[1] * n + [0] * (7 - n) for n in lengths])
    labels = torch.stack([torch.from_numpy(vocab.to_bundle(torch.randint(4, 60, (5,)).numpy(), "notation"))
                          for _ in lengths])
    labels[1, 3:] = -100
    return source, mask, labels


def test_model_returns_cross_attention_maps_that_match_the_fast_path():
    config = UMustConfig.from_preset("tiny")
    model = UMustForConditionalGeneration(config).eval()
    source, mask, labels = _batch(config)
    kwargs = dict(input_ids=source, attention_mask=mask, labels=labels, source_modality="image",
                  target_modality="notation")
    with torch.no_grad():
        fast = model(**kwargs)
        explained = model(**kwargs, output_attentions=True)
    assert fast.cross_attentions is None
    assert len(explained.cross_attentions) == config.decoder_layers
    maps = explained.cross_attentions[0]
    assert maps.shape == (2, config.decoder_attention_heads, 5, 7)
    assert torch.allclose(maps.sum(-1), torch.ones(2, config.decoder_attention_heads, 5), atol=1e-5)
    assert torch.all(maps[1, :, :, 4:] < 1e-6)  # padded source frames get no attention
    assert torch.allclose(fast.loss, explained.loss, atol=1e-5)
    assert torch.allclose(fast.logits, explained.logits, atol=1e-4)


def test_trainer_adds_the_penalty_logs_it_and_stops_at_until_step(tmp_path):
    torch.manual_seed(0)
    config = UMustConfig.from_preset("tiny")
    model = UMustForConditionalGeneration(config)
    args = Seq2SeqTrainingArguments(
        output_dir=str(tmp_path), max_steps=6, per_device_train_batch_size=4, learning_rate=1e-3, logging_steps=1,
        save_strategy="no", report_to=[], use_cpu=True, seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )
    trainer = UMustTrainer(
        model=model, args=args, train_dataset=task_dataset(config.vocabulary),
        curriculum=Curriculum([TaskSchedule("omr", 0)]), guided_attention=GuidedAttention(weight=1.0, until_step=4),
    )
    trainer.train()
    logs = {log["step"]: log for log in trainer.state.log_history if "loss" in log}
    assert all(0.0 < logs[step]["loss_guided_attention"] < 1.0 for step in (1, 2, 3, 4))
    # the logged loss is the translation loss plus the penalty while it is on, the translation loss after
    assert logs[2]["loss"] == pytest.approx(logs[2]["loss_omr"] + logs[2]["loss_guided_attention"], abs=2e-3)
    assert "loss_guided_attention" not in logs[5] and logs[5]["loss"] == pytest.approx(logs[5]["loss_omr"], abs=2e-3)


def test_recipe_setting_reaches_the_trainer_and_scales_with_max_steps(tmp_path):
    from umust_hf.training.recipe import Recipe
    from umust_hf.training.run import train_from_recipe

    recipe = Recipe.from_dict({
        "name": "guided", "model_preset": "tiny", "curriculum": [{"task": "amt", "start_step": 0}],
        "training": {"max_steps": 8, "per_device_train_batch_size": 4, "learning_rate": 1e-3,
                     "guided_attention": {"weight": 0.5, "until_step": 4}},
    })
    dataset = task_dataset(UMustConfig.from_preset("tiny").vocabulary)
    trainer = train_from_recipe(recipe, dataset, tmp_path, max_steps=4, logging_steps=1, save_strategy="no",
                                disable_tqdm=True, seed=0)
    assert trainer.guided_attention == GuidedAttention(weight=0.5, until_step=2)  # half the steps, half the guidance
    guided_steps = [log["step"] for log in trainer.state.log_history if "loss_guided_attention" in log]
    assert guided_steps == [1, 2]
    assert trainer.model.generation_config.loop_repeats == LOOP_REPEATS  # trained models stop greedy loops
    trainer.model.save_pretrained(tmp_path / "saved")  # ... and still do after loading
    loaded = UMustForConditionalGeneration.from_pretrained(tmp_path / "saved").generation_config
    assert loaded.loop_repeats == LOOP_REPEATS
    assert loaded.length_ratios == trainer.model.generation_config.length_ratios and loaded.length_ratios
    assert loaded.loop_diversity == trainer.model.generation_config.loop_diversity


def test_recipe_model_block_sets_config_fields(tmp_path):
    from umust_hf.training.recipe import Recipe
    from umust_hf.training.run import train_from_recipe

    recipe = Recipe.from_dict({
        "name": "dropout", "model_preset": "tiny", "model": {"decoder_input_dropout": 0.25},
        "curriculum": [{"task": "amt", "start_step": 0}],
        "training": {"max_steps": 2, "per_device_train_batch_size": 4, "learning_rate": 1e-3,
                     "guided_attention": {"kind": "prior", "sigma": 0.05}},
    })
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    with pytest.raises(ValueError, match="unknown UMustConfig field.*decoder_input_dropot"):
        Recipe.from_dict({**recipe.to_dict(), "model": {"decoder_input_dropot": 0.3}})
    trainer = train_from_recipe(recipe, task_dataset(UMustConfig.from_preset("tiny").vocabulary), tmp_path,
                                logging_steps=1, save_strategy="no", disable_tqdm=True, seed=0)
    assert trainer.model.config.decoder_input_dropout == 0.25
    assert trainer.guided_attention.kind == "prior"
    assert all(log["loss_guided_attention"] > 0 for log in trainer.state.log_history if "loss" in log)
