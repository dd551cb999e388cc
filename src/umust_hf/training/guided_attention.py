"""Guided attention: a training loss that pulls cross-attention towards the diagonal.

Every U-MUST task is monotonic: score images are read column by column, audio and MIDI frame by
frame, so target frame ``t`` of ``T`` mostly looks at source frames near ``t / T * S``. A tiny
model on a CPU budget spends most of its steps finding that alignment on its own, an unconditional
language model meanwhile. The penalty of Tachibana et al.
(2018, "Efficiently trainable text-to-speech ... with guided attention") gives it the alignment
from the start:

    W[t, s] = 1 - exp(-(s / S - t / T)^2 / (2 sigma^2)),    loss = mean over rows of sum_s A[t, s] W[t, s]

with ``S``/``T`` the real (unpadded) lengths of each example. The model itself is unchanged: the
penalty only shapes training, so inference needs no length estimate.

That penalty has a blind spot: its gradient on a row's attention logits is ``A (W - <A, W>)``,
which vanishes wherever the attention is near zero. A tiny model's cross-attention soon
collapses onto one or two "sink" frames for every row; the penalty then stays flat and cannot
move it. ``kind="prior"`` instead
minimises the KL divergence from the normalised Gaussian band ``G[t] ∝ exp(-(s/S - t/T)^2 /
(2 sigma^2))`` to each row, whose gradient ``A - G`` never vanishes, so it can move a collapsed
attention (copy-task figures in ``docs/experiments.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..modeling.attention_band_umust import DEFAULT_SIGMA, diagonal_penalty, diagonal_prior

#: ``"penalty"``: Tachibana et al.'s off-diagonal mass; ``"prior"``: KL from the Gaussian band.
KINDS = ("penalty", "prior")


def guided_attention_loss(cross_attentions: Sequence[torch.Tensor], source_mask: torch.Tensor | None,
                          target_frames: torch.Tensor, sigma: float = DEFAULT_SIGMA,
                          heads: int | None = None, kind: str = "penalty") -> torch.Tensor:
    """Mean off-diagonal attention mass (``kind="penalty"``) or KL divergence from the diagonal band
    (``kind="prior"``) over every real target frame, guided head and layer.

    ``cross_attentions``: one ``(B, H, T, S)`` map per decoder layer (``output_attentions=True``).
    ``source_mask`` ``(B, S)`` (``None``: all real); ``target_frames`` ``(B, T)`` True where a
    target frame is real (its label is not -100). ``heads``: guide only the first ``heads``
    heads of each layer (``None``: all), leaving the rest free to look anywhere (e.g. at the
    clef and key at the start of a system).
    """
    if kind not in KINDS:
        raise ValueError(f"guided attention kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not cross_attentions:
        raise ValueError("guided attention needs the cross-attention maps: call the model with output_attentions=True")
    batch, num_heads, target_size, source_size = cross_attentions[0].shape
    if heads is not None and not 1 <= heads <= num_heads:
        raise ValueError(f"guided attention heads={heads}, but the decoder layers have {num_heads} heads")
    if target_frames.shape != (batch, target_size):
        raise ValueError(f"target_frames must be ({batch}, {target_size}), got {tuple(target_frames.shape)}")
    if source_mask is None:
        source_lengths = torch.full((batch,), source_size, device=target_frames.device)
    else:
        source_lengths = source_mask.sum(dim=1)
    # labelled frames are a prefix (targets are right-padded), so their count is the length
    lengths = (source_lengths, target_frames.sum(dim=1), source_size, target_size, sigma)
    if kind == "penalty":
        penalty = diagonal_penalty(*lengths)
    else:
        prior = diagonal_prior(*lengths)
        entropy = torch.special.xlogy(prior, prior).sum(dim=-1)  # (B, T): sum G log G
    frames = target_frames.to(torch.float32)
    losses = []
    for weights in cross_attentions:
        guided = (weights if heads is None else weights[:, :heads]).float()
        if kind == "penalty":
            per_frame = (guided * penalty[:, None]).sum(dim=-1)  # (B, H, T)
        else:  # KL(G || A) = sum G log G - sum G log A
            log_attention = torch.log(guided.clamp(min=torch.finfo(torch.float32).tiny))  # no clamp gradient cut-off
            per_frame = entropy[:, None] - (prior[:, None] * log_attention).sum(dim=-1)
        losses.append((per_frame * frames[:, None]).sum() / (frames.sum() * guided.shape[1]).clamp(min=1))
    return torch.stack(losses).mean()


@dataclass(frozen=True)
class GuidedAttention:
    """Recipe setting ``training.guided_attention``: ``{"weight": 1.0, "sigma": 0.2, "heads": null, "kind": "penalty"}``.

    The trainer adds ``weight x`` :func:`guided_attention_loss` to the translation loss (and logs
    it as ``loss_guided_attention``); ``until_step`` (optional) turns it off once the alignment
    is learnt.
    """

    weight: float = 1.0
    sigma: float = DEFAULT_SIGMA
    heads: int | None = None
    until_step: int | None = None
    kind: str = "penalty"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"guided_attention.kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.weight < 0:
            raise ValueError(f"guided_attention.weight must be >= 0, got {self.weight}")
        if self.sigma <= 0:
            raise ValueError(f"guided_attention.sigma must be > 0, got {self.sigma}")
        if self.heads is not None and self.heads < 1:
            raise ValueError(f"guided_attention.heads must be >= 1 or null, got {self.heads}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuidedAttention:
        unknown = set(data) - {"weight", "sigma", "heads", "until_step", "kind"}
        if unknown:
            raise ValueError(f"guided_attention: unknown key(s) {', '.join(sorted(unknown))}; "
                             "expected weight, sigma, heads, until_step, kind")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def active_at(self, step: int) -> bool:
        return self.weight > 0 and (self.until_step is None or step < self.until_step)


__all__ = ["DEFAULT_SIGMA", "KINDS", "GuidedAttention", "diagonal_penalty", "diagonal_prior", "guided_attention_loss"]
