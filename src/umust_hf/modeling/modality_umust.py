"""Per-row modality arguments: :func:`modality_indices` (shared by the model and its generation mixin).

Its own small module so that ``generation_umust`` need not import ``modeling_umust`` (which imports it).
"""

from __future__ import annotations

import torch

from .vocabulary_umust import MODALITY_ORDER, Modality


def modality_indices(modality: torch.Tensor | str | Modality | list | tuple, batch_size: int,
                     device: torch.device, name: str) -> torch.LongTensor:
    """Normalise a per-row modality argument to a ``(B,)`` LongTensor of :data:`MODALITY_ORDER` indices.

    Accepts a ``(B,)`` or scalar tensor of indices, one modality name/:class:`Modality` for the
    whole batch, or a list of them (one per row).
    """
    if modality is None:
        raise ValueError(f"{name} is required: a (batch,) LongTensor of modality indices or a modality name")
    # Enum members are compared by value: a remote-code copy of the vocabulary has its own enum class.
    if isinstance(modality, str) or hasattr(modality, "value"):
        modality = [modality] * batch_size
    if isinstance(modality, (list, tuple)):
        modality = torch.tensor(
            [m if isinstance(m, int) else MODALITY_ORDER.index(Modality.parse(getattr(m, "value", m))) for m in modality],
            dtype=torch.long,
        )
    if not torch.is_tensor(modality):
        raise ValueError(f"{name} must be a tensor, a modality name or a list of them, got {type(modality).__name__}")
    modality = modality.to(device=device, dtype=torch.long)
    if modality.ndim == 0:
        modality = modality.expand(batch_size)
    if modality.shape != (batch_size,):
        raise ValueError(f"{name} must have shape ({batch_size},), got {tuple(modality.shape)}")
    if modality.numel() and (modality.min() < 0 or modality.max() >= len(MODALITY_ORDER)):
        raise ValueError(
            f"{name} holds {modality.tolist()}; indices must lie in [0, {len(MODALITY_ORDER)}) "
            f"(order: {', '.join(m.value for m in MODALITY_ORDER)})"
        )
    return modality
