"""Batch ``(L, 4)`` token bundles for the encoder–decoder.

The stock ``DataCollatorForSeq2Seq`` cannot pad 2-D labels; this collator pads along time,
adds the SOS bundle in front of the decoder input and the EOS bundle after the labels, and
marks every PAD slot of the labels with -100 (so single-stream targets train slot 0 only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .tasks import TASKS
from ..vocabulary import EOS_ID, PAD_ID, SOS_ID, UnifiedVocabulary

IGNORE_INDEX = -100
TASK_ORDER: tuple[str, ...] = tuple(TASKS)


def _as_bundle(value: Any, name: str, num_codebooks: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.int64)
    if array.ndim != 2 or array.shape[1] != num_codebooks:
        raise ValueError(f"{name} must be an (L, {num_codebooks}) bundle of unified ids, got shape {array.shape}")
    return array


def _without_final_eos(bundle: np.ndarray) -> np.ndarray:
    return bundle[:-1] if len(bundle) and bundle[-1, 0] == EOS_ID else bundle


def _modality_index(value: Any) -> int:
    if isinstance(value, (int, np.integer)):
        return int(value)
    return UnifiedVocabulary.modality_index(value)


@dataclass
class BundleCollator:
    """Collate examples ``{"input_ids": (S, K), "labels": (T, K), "source_modality", "target_modality"[, "task"]}``.

    ``labels`` is the target bundle, with or without a final EOS bundle. Returns tensors::

        input_ids            (B, S_max, K)    PAD-padded
        attention_mask       (B, S_max)
        decoder_input_ids    (B, T_max+1, K)  [SOS, PAD, ...] + target, PAD-padded
        decoder_attention_mask (B, T_max+1)
        labels               (B, T_max+1, K)  target + [EOS, -100, ...], PAD slots and padding = -100
        source_modality, target_modality  (B,) indices into ``MODALITY_ORDER``
        task_ids             (B,) indices into ``TASK_ORDER`` (-1 when unknown)
    """

    num_codebooks: int = 4
    pad_to_multiple_of: int | None = None

    def _padded_length(self, length: int) -> int:
        multiple = self.pad_to_multiple_of
        return length if not multiple else -(-length // multiple) * multiple

    def __call__(self, features: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not features:
            raise ValueError("cannot collate an empty batch")
        k = self.num_codebooks
        sources = [_as_bundle(f["input_ids"], "input_ids", k) for f in features]
        # a target may already end with EOS (the tokenizers add it): train on it once, not twice
        targets = [_without_final_eos(_as_bundle(f["labels"], "labels", k)) for f in features]
        batch = len(features)
        source_len = self._padded_length(max(len(s) for s in sources))
        target_len = self._padded_length(max(len(t) for t in targets) + 1)

        input_ids = np.full((batch, source_len, k), PAD_ID, np.int64)
        attention_mask = np.zeros((batch, source_len), np.int64)
        decoder_input_ids = np.full((batch, target_len, k), PAD_ID, np.int64)
        decoder_attention_mask = np.zeros((batch, target_len), np.int64)
        labels = np.full((batch, target_len, k), IGNORE_INDEX, np.int64)
        sos = np.array([[SOS_ID] + [PAD_ID] * (k - 1)])
        eos = np.array([[EOS_ID] + [PAD_ID] * (k - 1)])
        for row, (source, target) in enumerate(zip(sources, targets)):
            input_ids[row, : len(source)] = source
            attention_mask[row, : len(source)] = 1
            decoder_in = np.concatenate([sos, target])
            decoder_input_ids[row, : len(decoder_in)] = decoder_in
            decoder_attention_mask[row, : len(decoder_in)] = 1
            label = np.concatenate([target, eos])
            labels[row, : len(label)] = np.where(label == PAD_ID, IGNORE_INDEX, label)

        def task_id(feature: Mapping[str, Any]) -> int:
            task = feature.get("task")
            return TASK_ORDER.index(task) if task in TASK_ORDER else -1

        return {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
            "decoder_input_ids": torch.from_numpy(decoder_input_ids),
            "decoder_attention_mask": torch.from_numpy(decoder_attention_mask),
            "labels": torch.from_numpy(labels),
            "source_modality": torch.tensor([_modality_index(f["source_modality"]) for f in features]),
            "target_modality": torch.tensor([_modality_index(f["target_modality"]) for f in features]),
            "task_ids": torch.tensor([task_id(f) for f in features]),
        }
