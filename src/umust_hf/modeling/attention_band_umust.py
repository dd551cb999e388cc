"""The diagonal attention band shared by guided-attention training and the alignment evaluation.

Every U-MUST task is monotonic, so target frame ``t`` of ``T`` mostly looks at source frames near
``t / T * S``. The band ``exp(-(s / S - t / T)^2 / (2 sigma^2))`` (Tachibana et al., 2018) gives
the penalty ``W = 1 - band`` and the prior ``G`` (the band normalised per row) that
:mod:`umust_hf.training.guided_attention` trains with and :mod:`umust_hf.evaluation.alignment`
scores with. This module imports only torch (a modeling sibling for remote code).
"""

from __future__ import annotations

import torch

#: Width of the diagonal band, as a fraction of the sequence lengths (the paper's g = 0.2).
DEFAULT_SIGMA = 0.2


def _diagonal_band(source_lengths: torch.Tensor, target_lengths: torch.Tensor, source_size: int,
                   target_size: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``exp(-(s/S - t/T)^2 / (2 sigma^2))`` and the mask of each example's real (t, s), both ``(B, T, S)``."""
    if sigma <= 0:
        raise ValueError(f"guided attention sigma must be > 0, got {sigma}")
    source_lengths = source_lengths.clamp(min=1).to(torch.float32)
    target_lengths = target_lengths.clamp(min=1).to(torch.float32)
    s = torch.arange(source_size, device=source_lengths.device, dtype=torch.float32)
    t = torch.arange(target_size, device=source_lengths.device, dtype=torch.float32)
    gap = s[None, None, :] / source_lengths[:, None, None] - t[None, :, None] / target_lengths[:, None, None]
    inside = (s[None, None, :] < source_lengths[:, None, None]) & (t[None, :, None] < target_lengths[:, None, None])
    return torch.exp(-(gap**2) / (2.0 * sigma**2)), inside


def diagonal_penalty(source_lengths: torch.Tensor, target_lengths: torch.Tensor, source_size: int,
                     target_size: int, sigma: float = DEFAULT_SIGMA) -> torch.Tensor:
    """``W`` of shape ``(B, target_size, source_size)``: 0 on each example's diagonal, -> 1 away from it.

    Entries outside an example's real lengths are 0 (they never count).
    """
    band, inside = _diagonal_band(source_lengths, target_lengths, source_size, target_size, sigma)
    return (1.0 - band) * inside


def diagonal_prior(source_lengths: torch.Tensor, target_lengths: torch.Tensor, source_size: int,
                   target_size: int, sigma: float = DEFAULT_SIGMA) -> torch.Tensor:
    """``G`` of shape ``(B, target_size, source_size)``: each real row a distribution over the real
    source frames, a Gaussian band around the diagonal (rows outside the real lengths are 0)."""
    band, inside = _diagonal_band(source_lengths, target_lengths, source_size, target_size, sigma)
    band = band * inside
    return band / band.sum(dim=-1, keepdim=True).clamp(min=1e-12)


__all__ = ["DEFAULT_SIGMA", "diagonal_penalty", "diagonal_prior"]
