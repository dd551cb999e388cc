"""Source reliance: held-out loss with each example's own source vs another's."""

import numpy as np
import pytest
import torch

from umust_hf.evaluation.source_reliance import heldout_loss, source_reliance
from umust_hf.modeling.configuration_umust import UMustConfig
from umust_hf.modeling.modeling_umust import UMustForConditionalGeneration
from umust_hf.data.collator import BundleCollator


def _rows(vocab, count, seed):
    """Image -> notation rows whose target repeats the source's one code: readable only from the source."""
    rng = np.random.default_rng(seed)
    rows = []
    for code in rng.integers(0, 8, count):
        source = vocab.to_bundle(np.full((6, 4), code), "image")
        target = vocab.to_bundle(np.full(3, 10 + code), "notation")
        rows.append({"input_ids": source.tolist(), "labels": target.tolist(), "source_modality": "image",
                     "target_modality": "notation", "task": "omr"})
    return rows


def _trained_reader(config, rows, steps=80):
    torch.manual_seed(0)
    model = UMustForConditionalGeneration(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    collate = BundleCollator(num_codebooks=config.num_codebooks)
    for step in range(steps):
        batch = {k: v for k, v in collate(rows[(step * 8) % len(rows):][:8]).items() if k != "task_ids"}
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model


def test_a_model_that_reads_its_source_loses_when_sources_are_swapped_and_one_that_cannot_does_not():
    config = UMustConfig.from_preset("tiny", max_image_positions=16, max_notation_positions=16)
    train, held_out = _rows(config.vocabulary, 64, seed=0), _rows(config.vocabulary, 12, seed=1)
    reader = _trained_reader(config, train)
    reads = source_reliance(reader, held_out)
    assert reads["own_source"] == pytest.approx(heldout_loss(reader, held_out))
    assert reads["gap"] == pytest.approx(reads["other_source"] - reads["own_source"])
    assert reads["gap"] > 0.5  # the code is only in the source
    blind = _trained_reader(config, train)
    for layer in blind.decoder.layers:  # cut the cross-attention: the decoder cannot see any source
        torch.nn.init.zeros_(layer.cross_attn.o_proj.weight)
    assert source_reliance(blind, held_out)["gap"] == pytest.approx(0.0, abs=1e-5)


def test_bad_rows_are_refused():
    config = UMustConfig.from_preset("tiny", max_image_positions=16, max_notation_positions=16)
    model = UMustForConditionalGeneration(config)
    rows = _rows(config.vocabulary, 3, seed=0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        source_reliance(model, rows[:1])
    with pytest.raises(ValueError, match="one task"):
        source_reliance(model, [rows[0], {**rows[1], "target_modality": "midi"}])


def test_groups_swap_across_pieces_and_within_a_piece():
    from umust_hf.evaluation.source_reliance import _next_index

    groups = ["a", "a", "b", "c", "c", "c"]
    assert [_next_index(i, groups, same_group=False) for i in range(6)] == [2, 2, 3, 0, 0, 0]
    assert [_next_index(i, groups, same_group=True) for i in range(6)] == [1, 0, None, 4, 5, 3]
    config = UMustConfig.from_preset("tiny", max_image_positions=16, max_notation_positions=16)
    train, held_out = _rows(config.vocabulary, 64, seed=0), _rows(config.vocabulary, 12, seed=1)
    reader = _trained_reader(config, train)
    # group the held-out rows by their source code: within a group every source is the same,
    # so only a swap across groups can hurt a model that reads the code
    codes = [str(row["input_ids"][0][0]) for row in held_out]
    result = source_reliance(reader, held_out, groups=codes)
    assert result["gap"] > 0.5
    paired = [i for i in range(len(codes)) if codes.count(codes[i]) >= 2]
    assert result["same_group_own"] == pytest.approx(heldout_loss(reader, [held_out[i] for i in paired]))
    assert result["same_group_gap"] == pytest.approx(0.0, abs=1e-5)  # the same source: nothing to lose
    assert result["across_groups"] == 1.0
    assert set(source_reliance(reader, held_out)) == {"own_source", "other_source", "gap"}
    one_piece = source_reliance(reader, held_out, groups=["a"] * len(held_out))
    assert one_piece["across_groups"] == 0.0 and one_piece["gap"] > 0.5  # the next row's source, as without groups
    with pytest.raises(ValueError, match="groups has 2 entries for 12 rows"):
        source_reliance(reader, held_out, groups=["a", "b"])


def test_reliance_table_shows_the_within_piece_gap_where_it_was_measured():
    from umust_hf.demo.report import reliance_table

    table = reliance_table({
        "omr": {"own_source": 1.8, "other_source": 2.0, "gap": 0.2, "same_group_own": 1.7, "same_group_other": 1.75,
                "same_group_gap": 0.05},
        "amt": {"own_source": 4.3, "other_source": 4.3, "gap": 0.0},
        "m2a": {"own_source": 3.0, "other_source": 3.1, "gap": 0.1, "across_groups": 0.0, "same_group_own": 3.0,
                "same_group_other": 3.1, "same_group_gap": 0.1},
    })
    lines = table.splitlines()
    assert lines[2] == "| omr | 1.800 | 2.000 | +0.200 | 1.700 / 1.750 | +0.050 |"
    assert lines[3] == "| amt | 4.300 | 4.300 | +0.000 | – | – |"
    assert lines[4] == "| m2a | 3.000 | 3.100 (one piece held out: same piece) | +0.100 | 3.000 / 3.100 | +0.100 |"
