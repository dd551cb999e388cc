"""Cross-attention maps of a model and their diagonal mass; the demo's alignment figure."""

import numpy as np
import pytest
import torch
from PIL import Image

from umust_hf.demo.figure import write_alignment_figure
from umust_hf.evaluation.alignment import cross_attention_map, diagonal_mass
from umust_hf.modeling.configuration_umust import UMustConfig
from umust_hf.modeling.modeling_umust import UMustForConditionalGeneration


def test_diagonal_mass_ranks_readers():
    diagonal = np.zeros((10, 20), np.float32)
    diagonal[np.arange(10), 2 * np.arange(10)] = 1.0
    uniform = np.full((10, 20), 1 / 20, np.float32)
    backwards = diagonal[::-1].copy()
    assert diagonal_mass(diagonal) == pytest.approx(1.0, abs=1e-6)
    assert 0.3 < diagonal_mass(uniform) < 0.7
    assert diagonal_mass(backwards) < diagonal_mass(uniform)
    with pytest.raises(ValueError, match="attention map"):
        diagonal_mass(np.zeros((0, 4)))


def test_cross_attention_map_of_one_example_keeps_the_training_mode():
    torch.manual_seed(0)
    config = UMustConfig.from_preset("tiny")
    model = UMustForConditionalGeneration(config).train()
    vocab = config.vocabulary
    source = vocab.to_bundle(np.random.default_rng(0).integers(0, 50, (9, 4)), "audio")
    labels = vocab.to_bundle(np.arange(4, 10), "midi")
    attention = cross_attention_map(model, source, labels, "audio", "midi")
    assert attention.shape == (6, 9)
    assert np.allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    assert model.training
    with pytest.raises(ValueError, match="bundles"):
        cross_attention_map(model, source[:, 0], labels, "audio", "midi")


def test_alignment_figure_draws_one_panel_per_task(tmp_path):
    maps = {"omr": np.eye(5, 8), "amt": np.full((4, 6), 1 / 6)}
    out = write_alignment_figure(maps, tmp_path / "alignment.png")
    assert out.is_file() and Image.open(out).size[0] > 400
    assert not list(tmp_path.glob(".tmp-*"))
    with pytest.raises(ValueError, match="no attention map"):
        write_alignment_figure({}, tmp_path / "none.png")
