"""The longest target-per-source length ratio of each modality pair in a training set.

Saved in the model's generation config (``length_ratios``) so that generation stops a looping
output near the longest plausible length for its source (see
:mod:`umust_hf.modeling.generation_umust`) instead of at the end of the position table.
"""

from __future__ import annotations

from typing import Any

from ..modeling.generation_umust import length_ratio_key
from ..modeling.vocabulary_umust import MODALITY_ORDER, Modality


def modality_name(value: str | int) -> str:
    """A modality name from a name or an index into ``MODALITY_ORDER`` (both occur in datasets)."""
    return MODALITY_ORDER[value].value if isinstance(value, int) else Modality.parse(value).value


def measure_length_ratios(dataset: Any) -> dict[str, float]:
    """``{"image->notation": r, ...}``: max over rows of ``len(labels) / len(input_ids)`` (in bundles).

    ``dataset`` is an HF Dataset of task examples (``input_ids``, ``labels``, ``source_modality``,
    ``target_modality``). Lengths come from the Arrow list offsets, so no bundle is materialised.
    """
    import pyarrow.compute as pc  # heavy: pyarrow

    missing = {"input_ids", "labels", "source_modality", "target_modality"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"task examples need the columns {sorted(missing)} (bake the corpus with `umust bake`)")
    table = dataset.with_format("arrow")[:]
    sources = table.column("source_modality").to_pylist()
    targets = table.column("target_modality").to_pylist()
    source_lengths = pc.list_value_length(table.column("input_ids")).to_pylist()
    target_lengths = pc.list_value_length(table.column("labels")).to_pylist()
    ratios: dict[str, float] = {}
    for source, target, source_length, target_length in zip(sources, targets, source_lengths, target_lengths):
        if not source_length:
            continue
        key = length_ratio_key(modality_name(source), modality_name(target))
        ratios[key] = max(ratios.get(key, 0.0), target_length / source_length)
    return {key: round(value, 4) for key, value in sorted(ratios.items())}
