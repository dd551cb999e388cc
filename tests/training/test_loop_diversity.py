"""Loop-diversity floors measured on a training set, as saved in the generation config by train_from_recipe."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from umust_hf.data.baking import BAKED_FEATURES
from umust_hf.modeling.generation_umust import DIVERSITY_WINDOW, ngram_diversity
from umust_hf.training.loop_diversity import DIVERSITY_MARGIN, measure_loop_diversity


def example(target: str, heads: list[int]) -> dict:
    labels = np.zeros((len(heads), 4), np.int32)
    labels[:, 0] = heads
    return {"id": "x", "segment": 0, "task": "omr", "source_modality": "image", "target_modality": target,
            "input_ids": np.zeros((4, 4), np.int32).tolist(), "labels": labels.tolist()}


def test_floor_is_the_margin_times_the_least_diverse_window_of_each_single_stream_modality():
    rng = np.random.default_rng(0)
    varied = (10 + np.arange(120)).tolist()
    # a real-looking stretch of repetition (an 8-token figure played 4 times) inside varied text
    repetitive = varied[:40] + [50, 51, 52, 53, 54, 55, 56, 57] * 4 + varied[40:80]
    midi = rng.integers(10, 400, size=90).tolist()
    rows = [example("notation", varied), example("notation", repetitive), example("midi", midi),
            example("midi", [7] * 20),  # shorter than the window: not measured
            example("image", [3] * 100)]  # image targets are never measured
    floors = measure_loop_diversity(datasets.Dataset.from_list(rows, features=BAKED_FEATURES))
    assert set(floors) == {"notation", "midi"}
    windows = torch.tensor(repetitive).unfold(0, DIVERSITY_WINDOW, 1)
    expected = DIVERSITY_MARGIN * float(ngram_diversity(windows).min())
    assert floors["notation"] == pytest.approx(expected, abs=1e-4)
    assert floors["notation"] < 0.9 * 1.0  # the repetitive piece, not the varied one, set the floor
    midi_windows = torch.tensor(midi).unfold(0, DIVERSITY_WINDOW, 1)
    assert floors["midi"] == pytest.approx(DIVERSITY_MARGIN * float(ngram_diversity(midi_windows).min()), abs=1e-4)


def test_no_entry_when_every_target_is_shorter_than_the_window_and_missing_columns_are_named():
    rows = [example("notation", list(range(10, 30)))]
    assert measure_loop_diversity(datasets.Dataset.from_list(rows, features=BAKED_FEATURES)) == {}
    with pytest.raises(ValueError, match="labels"):
        measure_loop_diversity(datasets.Dataset.from_list([{"target_modality": "notation"}]))
