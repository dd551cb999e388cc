"""Train a U-MUST model from a recipe on a dataset of task examples, resumably.

The dataset holds one task example per row (``input_ids`` and ``labels`` as ``(L, K)``
unified bundles, ``source_modality``, ``target_modality``, ``task``), as produced by token
baking. Checkpoints go to ``out_dir/checkpoints``; a run whose process was killed restarts
from the newest checkpoint there (``resume=True``), and the final model is written to
``out_dir`` with ``save_pretrained``.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch
from transformers import Seq2SeqTrainingArguments
from transformers.trainer_utils import get_last_checkpoint

from ..io_utils import atomic_write_json
from ..modeling.configuration_umust import UMustConfig
from ..modeling.modeling_umust import UMustForConditionalGeneration
from .guided_attention import GuidedAttention
from .length_ratios import measure_length_ratios
from .loop_diversity import measure_loop_diversity
from .recipe import Recipe
from .trainer import UMustTrainer

logger = logging.getLogger(__name__)

#: Trained models stop a notation/MIDI output that repeats one short phrase this many times (see
#: :class:`~umust_hf.modeling.generation_umust.RepeatedPhraseStop`).
LOOP_REPEATS = 8


def training_arguments(recipe: Recipe, out_dir: str | Path, **overrides: Any) -> Seq2SeqTrainingArguments:
    """Map a recipe's ``training`` block onto ``Seq2SeqTrainingArguments``.

    ``num_devices`` is informative (accelerate decides the world size); ``precision`` is
    ``bf16``, ``fp16`` or ``fp32`` and falls back to fp32 on a CPU.
    """
    settings = {**recipe.training, **{k: v for k, v in overrides.items() if v is not None}}
    settings.pop("guided_attention", None)  # a trainer setting, not a TrainingArguments one
    precision = settings.pop("precision", "fp32")
    min_lr = settings.pop("min_learning_rate", None)
    settings.pop("num_devices", None)
    on_gpu = torch.cuda.is_available()
    kwargs: dict[str, Any] = {
        "output_dir": str(Path(out_dir) / "checkpoints"),
        "save_strategy": "steps",
        "save_steps": max(1, settings.get("max_steps", 1000) // 10),
        "save_total_limit": 2,
        "logging_steps": max(1, settings.get("max_steps", 1000) // 100),
        "report_to": [],
        "bf16": precision == "bf16" and on_gpu,
        "fp16": precision == "fp16" and on_gpu,
        "use_cpu": not on_gpu,
        "dataloader_num_workers": 0,
    }
    if min_lr is not None and settings.get("lr_scheduler_type") == "cosine_with_min_lr":
        kwargs["lr_scheduler_kwargs"] = {"min_lr": min_lr}
    kwargs.update(settings)
    return Seq2SeqTrainingArguments(**kwargs)


def train_from_recipe(
    recipe: Recipe,
    train_dataset: Any,
    out_dir: str | Path,
    *,
    eval_dataset: Any = None,
    resume: bool = True,
    model: Any = None,
    callbacks: list[Any] | None = None,
    **overrides: Any,
) -> UMustTrainer:
    """Build (or take) the model, train it with the recipe's curriculum and save it to ``out_dir``.

    The model's generation config gets the training set's length ratios (generation stops a
    looping row near the longest plausible length for its source). ``overrides`` replace recipe training settings (e.g. ``max_steps=50``); when ``max_steps``
    is shortened, the curriculum's steps are scaled by the same factor so every task still
    enters in the same proportion of the run.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curriculum = recipe.curriculum
    planned = recipe.training.get("max_steps")
    wanted = overrides.get("max_steps")
    if planned and wanted and wanted != planned:
        curriculum = curriculum.scaled(wanted / planned)
    args = training_arguments(recipe, out_dir, **overrides)
    if model is None:
        model = UMustForConditionalGeneration(UMustConfig.from_preset(recipe.model_preset, **recipe.model))
    model.generation_config.length_ratios = measure_length_ratios(train_dataset)
    model.generation_config.loop_repeats = LOOP_REPEATS
    model.generation_config.loop_diversity = measure_loop_diversity(train_dataset)
    guided = overrides.get("guided_attention", recipe.training.get("guided_attention"))
    if isinstance(guided, dict):
        guided = GuidedAttention.from_dict(guided)
    if guided is not None and guided.until_step and planned and wanted and wanted != planned:
        guided = dataclasses.replace(guided, until_step=max(1, round(guided.until_step * wanted / planned)))
    trainer = UMustTrainer(
        model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
        curriculum=curriculum, callbacks=callbacks, guided_attention=guided,
    )
    checkpoint = get_last_checkpoint(args.output_dir) if resume and Path(args.output_dir).is_dir() else None
    if checkpoint:
        logger.info("resuming from %s", checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(out_dir))
    atomic_write_json(out_dir / "recipe.json", recipe.to_dict())
    return trainer

