"""The least n-gram diversity of any window of a training set's notation and MIDI targets.

Saved in the model's generation config (``loop_diversity``, a little below the measured floor) so
that generation stops a row whose recent tokens are more repetitive than any stretch of real
training text: a greedy loop (see :class:`umust_hf.modeling.generation_umust.RepetitiveWindowStop`).
Image and audio targets are left out: blank columns and silence repeat legitimately.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..modeling.generation_umust import DIVERSITY_WINDOW, ngram_diversity
from ..modeling.vocabulary_umust import Modality
from .length_ratios import modality_name

#: The saved floor is this fraction of the least diversity measured (real text never goes below it).
DIVERSITY_MARGIN = 0.9


def measure_loop_diversity(dataset: Any, margin: float = DIVERSITY_MARGIN) -> dict[str, float]:
    """``{"notation": floor, "midi": floor}``: ``margin`` x the least diversity of any
    ``DIVERSITY_WINDOW``-token window of the codebook-0 targets of that modality in ``dataset``
    (task examples with ``labels`` and ``target_modality``). A modality whose targets are all
    shorter than the window gets no entry (nothing was measured, so nothing is stopped)."""
    import pyarrow.compute as pc  # heavy: pyarrow

    missing = {"labels", "target_modality"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"task examples need the columns {sorted(missing)} (bake the corpus with `umust bake`)")
    table = dataset.with_format("arrow")[:]
    targets = [modality_name(t) for t in table.column("target_modality").to_pylist()]
    labels = table.column("labels").combine_chunks()
    lengths = pc.list_value_length(labels).to_numpy(zero_copy_only=False)
    heads = pc.list_element(pc.list_flatten(labels), 0).to_numpy(zero_copy_only=False)  # codebook 0
    sequences = np.split(heads, np.cumsum(lengths)[:-1])
    floors: dict[str, float] = {}
    for modality in (Modality.NOTATION.value, Modality.MIDI.value):
        least = [float(ngram_diversity(torch.from_numpy(seq.astype(np.int64)).unfold(0, DIVERSITY_WINDOW, 1)).min())
                 for seq, target in zip(sequences, targets) if target == modality and len(seq) >= DIVERSITY_WINDOW]
        if least:
            floors[modality] = round(margin * min(least), 4)
    return floors
