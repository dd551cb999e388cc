"""``UMustTrainer``: a ``Seq2SeqTrainer`` for token bundles with a task curriculum.

What it adds to the stock trainer:

* the :class:`~umust_hf.data.collator.BundleCollator` for ``(L, K)`` bundles (the stock
  seq2seq collator cannot pad 2-D labels) and no column pruning (``task`` feeds the sampler);
* a :class:`~umust_hf.training.sampling.CurriculumSampler` when a curriculum is given, so
  the task mixture follows the global step (hard introductions or linear ramps);
* per-task and per-codebook losses in the logs (``loss_<task>``, ``loss_codebook_<k>``)
  and the curriculum's current task probabilities (``weight_<task>``);
* a ``prediction_step`` that generates ``(B, T, K)`` bundles (the stock one assumes 1-D ids);
* optionally, guided attention (:mod:`~umust_hf.training.guided_attention`): a penalty on
  off-diagonal cross-attention that lets a small model find the source-target alignment early.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import nn
from transformers import Seq2SeqTrainer

from ..data.collator import IGNORE_INDEX, TASK_ORDER, BundleCollator
from .curriculum import Curriculum
from .guided_attention import GuidedAttention, guided_attention_loss
from .sampling import CurriculumSampler


class UMustTrainer(Seq2SeqTrainer):
    """Train :class:`~umust_hf.UMustForConditionalGeneration` on a mixture of translation tasks.

    Args:
        curriculum: task weights over the global step; requires a ``task`` column in the
            training dataset. Without it examples are drawn uniformly as usual.
        sampler_seed: seed of the curriculum draws (defaults to ``args.seed``).
        guided_attention: add a diagonal-attention penalty to the training loss.
        Other arguments are those of :class:`transformers.Seq2SeqTrainer`.
    """

    def __init__(self, *args: Any, curriculum: Curriculum | None = None, sampler_seed: int | None = None,
                 guided_attention: GuidedAttention | None = None, **kwargs: Any) -> None:
        model = kwargs.get("model", args[0] if args else None)
        if kwargs.get("data_collator") is None:
            num_codebooks = getattr(getattr(model, "config", None), "num_codebooks", 4)
            kwargs["data_collator"] = BundleCollator(num_codebooks=num_codebooks)
        super().__init__(*args, **kwargs)
        self.curriculum = curriculum
        self.sampler_seed = self.args.seed if sampler_seed is None else sampler_seed
        self.guided_attention = guided_attention
        self._guided_sum, self._guided_count = 0.0, 0
        self._task_loss_sum: dict[str, float] = defaultdict(float)
        self._task_loss_count: dict[str, int] = defaultdict(int)
        self._codebook_loss_sum: torch.Tensor | None = None
        self._codebook_loss_count: torch.Tensor | None = None

    # ----------------------------------------------------------------- data
    def _remove_unused_columns(self, dataset: Any, description: str | None = None) -> Any:
        """Keep every column: the collator drops what the model does not take."""
        return dataset

    def _get_collator_with_removed_columns(self, data_collator: Any, description: str | None = None) -> Any:
        return data_collator

    def _samples_per_step(self) -> int:
        return (
            self.args.per_device_train_batch_size
            * self.args.gradient_accumulation_steps
            * max(1, self.args.world_size)
        )

    def _get_train_sampler(self, train_dataset: Any = None) -> torch.utils.data.Sampler | None:
        if self.curriculum is None:
            return super()._get_train_sampler(train_dataset)
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if "task" not in getattr(dataset, "column_names", []):
            raise ValueError("a curriculum needs a 'task' column in the training dataset")
        samples_per_step = self._samples_per_step()
        steps = self.args.max_steps if self.args.max_steps > 0 else -(-len(dataset) // samples_per_step)
        return CurriculumSampler(
            dataset["task"], self.curriculum, samples_per_step=samples_per_step,
            num_samples=steps * samples_per_step, seed=self.sampler_seed,
        )

    # ----------------------------------------------------------------- loss
    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        task_ids = inputs.pop("task_ids", None)
        guided = (model.training and self.guided_attention is not None
                  and self.guided_attention.active_at(self.state.global_step))
        outputs = model(**inputs, output_attentions=True) if guided else model(**inputs)
        loss = outputs.loss
        if guided:
            penalty = guided_attention_loss(
                outputs.cross_attentions, inputs.get("attention_mask"), inputs["labels"][..., 0] != IGNORE_INDEX,
                sigma=self.guided_attention.sigma, heads=self.guided_attention.heads, kind=self.guided_attention.kind,
            )
            loss = loss + self.guided_attention.weight * penalty
            self._guided_sum += float(penalty.detach())
            self._guided_count += 1
        if model.training:
            self._accumulate_log_losses(outputs, inputs["labels"], task_ids)
        return (loss, outputs) if return_outputs else loss

    @torch.no_grad()
    def _accumulate_log_losses(self, outputs: Any, labels: torch.Tensor, task_ids: torch.Tensor | None) -> None:
        row_losses = getattr(outputs, "row_losses", None)
        if task_ids is not None and row_losses is not None:
            # the model's own per-row means, weighted by each row's valid slots (no second cross-entropy)
            counts = (labels != IGNORE_INDEX).sum(dim=(1, 2))
            for task_id, mean, count in zip(task_ids.tolist(), row_losses.tolist(), counts.tolist()):
                if task_id >= 0 and count:
                    self._task_loss_sum[TASK_ORDER[task_id]] += mean * count
                    self._task_loss_count[TASK_ORDER[task_id]] += count
        codebook_losses = getattr(outputs, "codebook_losses", None)
        if codebook_losses is not None:
            values = codebook_losses.detach().float().cpu()
            seen = ~torch.isnan(values)  # a codebook without valid slots in this batch (single-stream targets)
            if self._codebook_loss_sum is None:
                self._codebook_loss_sum, self._codebook_loss_count = torch.zeros_like(values), torch.zeros_like(values)
            self._codebook_loss_sum += torch.where(seen, values, 0.0)
            self._codebook_loss_count += seen

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log: add what accumulated since the last one
            for task, total in self._task_loss_sum.items():
                logs[f"loss_{task}"] = round(total / max(1, self._task_loss_count[task]), 4)
            if self._codebook_loss_sum is not None:
                for k, (total, count) in enumerate(zip(self._codebook_loss_sum.tolist(), self._codebook_loss_count.tolist())):
                    if count:
                        logs[f"loss_codebook_{k}"] = round(total / count, 4)
            if self._guided_count:
                logs["loss_guided_attention"] = round(self._guided_sum / self._guided_count, 4)
                self._guided_sum, self._guided_count = 0.0, 0
            if self.curriculum is not None:
                for task, weight in self.curriculum.probabilities_at(self.state.global_step).items():
                    logs[f"weight_{task}"] = round(weight, 4)
            self._task_loss_sum.clear()
            self._task_loss_count.clear()
            self._codebook_loss_sum = self._codebook_loss_count = None
        super().log(logs, start_time)

    # ----------------------------------------------------------- prediction
    def prediction_step(self, model: nn.Module, inputs: dict[str, Any], prediction_loss_only: bool,
                        ignore_keys: list[str] | None = None, **gen_kwargs: Any) -> tuple:
        """Loss (teacher forced) and, with ``predict_with_generate``, generated ``(B, T, K)`` bundles."""
        inputs = self._prepare_inputs(inputs)
        inputs.pop("task_ids", None)
        labels = inputs.get("labels")
        loss = None
        if labels is not None:
            with torch.no_grad(), self.compute_loss_context_manager():
                loss = model(**inputs, return_logits=False).loss.detach()  # generation below gives the outputs
        if prediction_loss_only or not self.args.predict_with_generate:
            return loss, None, labels
        if not gen_kwargs and hasattr(self, "_gen_kwargs"):
            gen_kwargs = {k: v for k, v in self._gen_kwargs.items() if v is not None}
        generated = self.model.generate(
            inputs["input_ids"], attention_mask=inputs.get("attention_mask"),
            source_modality=inputs["source_modality"], target_modality=inputs["target_modality"], **gen_kwargs,
        )
        # drop the SOS bundle so predictions line up with the labels (target + EOS)
        return loss, generated[:, 1:], labels
