"""Where a trained model looks: its cross-attention between target frames and source frames.

Every U-MUST task reads its source in order (image columns left to right, audio and MIDI in
time), so a model that has learnt the task attends near the diagonal. :func:`cross_attention_map`
gives the teacher-forced map of one example (averaged over heads and layers) and
:func:`diagonal_mass` one number for it: the share of attention inside the diagonal band
(1 - the guided-attention penalty), 1 for a perfect reader, about 0.5 for uniform attention.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..modeling.attention_band_umust import DEFAULT_SIGMA, diagonal_penalty


@torch.no_grad()
def cross_attention_map(model: Any, input_ids: Any, labels: Any, source_modality: str,
                        target_modality: str) -> np.ndarray:
    """``(T, S)`` cross-attention of one example: target frame (labels + EOS order) x source frame.

    ``input_ids`` ``(S, K)`` and ``labels`` ``(T, K)`` are one baked example's unified bundles.
    """
    source = torch.as_tensor(np.asarray(input_ids), dtype=torch.long, device=model.device)[None]
    target = torch.as_tensor(np.asarray(labels), dtype=torch.long, device=model.device)[None]
    if source.ndim != 3 or target.ndim != 3:
        raise ValueError(f"expected (length, codebooks) bundles, got {tuple(source.shape[1:])} and {tuple(target.shape[1:])}")
    was_training = model.training
    model.eval()
    try:
        output = model(input_ids=source, attention_mask=torch.ones(source.shape[:2], dtype=torch.long, device=model.device),
                       labels=target, source_modality=source_modality, target_modality=target_modality,
                       output_attentions=True, return_logits=False)
    finally:
        model.train(was_training)
    maps = torch.stack([layer[0].float().mean(dim=0) for layer in output.cross_attentions])  # (layers, T, S)
    return maps.mean(dim=0).cpu().numpy()


def diagonal_mass(attention: np.ndarray, sigma: float = DEFAULT_SIGMA) -> float:
    """Share of a ``(T, S)`` map's attention inside the diagonal band of width ``sigma``."""
    attention = np.asarray(attention, dtype=np.float32)
    if attention.ndim != 2 or 0 in attention.shape:
        raise ValueError(f"expected a non-empty (target, source) attention map, got shape {attention.shape}")
    target_size, source_size = attention.shape
    penalty = diagonal_penalty(torch.tensor([source_size]), torch.tensor([target_size]), source_size, target_size,
                               sigma)[0].numpy()
    return float(1.0 - (attention * penalty).sum(axis=1).mean())


__all__ = ["cross_attention_map", "diagonal_mass"]
