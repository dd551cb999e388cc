"""Length ratios measured on a training set, as saved in the generation config by train_from_recipe."""

from __future__ import annotations

import datasets
import numpy as np

from umust_hf.data.baking import BAKED_FEATURES
from umust_hf.training.length_ratios import measure_length_ratios


def example(task: str, source: str, target: str, source_length: int, target_length: int) -> dict:
    return {"id": task, "segment": 0, "task": task, "source_modality": source, "target_modality": target,
            "input_ids": np.zeros((source_length, 4), np.int32).tolist(),
            "labels": np.zeros((target_length, 4), np.int32).tolist()}


def test_longest_target_per_source_ratio_of_each_modality_pair():
    rows = [example("omr", "image", "notation", 40, 10), example("omr", "image", "notation", 20, 9),
            example("amt", "audio", "midi", 10, 30), example("omr", "image", "notation", 0, 5)]  # empty source: skipped
    ratios = measure_length_ratios(datasets.Dataset.from_list(rows, features=BAKED_FEATURES))
    assert ratios == {"audio->midi": 3.0, "image->notation": 0.45}


def test_examples_without_bundle_columns_are_refused_by_name():
    import pytest

    with pytest.raises(ValueError, match="labels"):
        measure_length_ratios(datasets.Dataset.from_list([{"input_ids": [[0, 0, 0, 0]], "source_modality": "image",
                                                           "target_modality": "notation"}]))
