"""Shared pytest fixtures.

``embedded_corpus_dir`` builds a small embedded corpus once per test run, also under
``pytest -n N`` (pytest-xdist): the first worker builds it under a file lock in the
run's shared temporary folder, the others wait and reuse it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

#: Pieces in the test corpus (a few dozen excerpts; about 20-40 s on one core).
TEST_CORPUS_PIECES = 4
TEST_CORPUS_SEED = 0


@pytest.fixture(scope="session")
def embedded_corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Path of a built embedded corpus (``datasets.load_from_disk`` opens it; raw files under ``raw/``)."""
    from filelock import FileLock

    from umust_hf.data.embedded import build_embedded_corpus

    if os.environ.get("PYTEST_XDIST_WORKER"):
        # every xdist worker gets basetemp/popen-gwN; their parent is shared by this run only
        root = tmp_path_factory.getbasetemp().parent
    else:
        root = tmp_path_factory.getbasetemp()
    directory = root / "embedded-corpus"
    with FileLock(str(root / "embedded-corpus.lock")):
        if not (directory / "summary.json").is_file():
            build_embedded_corpus(directory, max_pieces=TEST_CORPUS_PIECES, seed=TEST_CORPUS_SEED, num_proc=1, show_progress=False)
        summary = json.loads((directory / "summary.json").read_text())
    assert summary["excerpts"] > 0, f"test corpus build produced no excerpts: {summary}"
    return directory


@pytest.fixture(scope="session")
def cpu_processor():
    """A complete ``UMustProcessor`` with untrained, seeded CPU codecs (the cheapest real one)."""
    import torch

    from umust_hf import (
        LMXTokenizer,
        MidiTokenizer,
        UMustAudioCodec,
        UMustAudioCodecConfig,
        UMustFeatureExtractor,
        UMustImageCodec,
        UMustImageCodecConfig,
        UMustImageProcessor,
        UMustProcessor,
    )

    torch.manual_seed(0)
    return UMustProcessor(
        UMustImageProcessor(), UMustFeatureExtractor(), LMXTokenizer(), MidiTokenizer(),
        image_codec=UMustImageCodec(UMustImageCodecConfig.cpu()).eval(),
        audio_codec=UMustAudioCodec(UMustAudioCodecConfig.cpu()).eval(),
    )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, cpu_processor) -> Path:
    """A saved, randomly initialised ``tiny`` model with ``cpu_processor`` beside it (seeded)."""
    import torch

    from umust_hf import UMustConfig, UMustForConditionalGeneration

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("umust-tiny")
    config = UMustConfig.from_preset("tiny", **cpu_processor.unified_vocabulary.to_dict())
    UMustForConditionalGeneration(config).save_pretrained(directory)
    cpu_processor.save_pretrained(directory)
    return directory


#: Length ratios (target frames per source frame) that stop a tiny model's outputs after 10-40
#: frames, each row at its own length (image targets: 1-3 whole columns).
TINY_LENGTH_RATIOS = {"image->notation": 0.05, "image->audio": 0.05, "audio->midi": 0.2, "audio->image": 0.5,
                      "midi->audio": 0.3, "notation->image": 1.0}


@pytest.fixture(scope="session")
def tiny_runner(tiny_model_dir):
    """A :class:`~umust_hf.evaluation.generation.ModelRunner` of the tiny model with short outputs."""
    from umust_hf.evaluation.generation import ModelRunner
    from umust_hf.translation import UMustTranslator

    runner = ModelRunner(UMustTranslator.from_pretrained(tiny_model_dir))
    runner.model.generation_config.length_ratios = dict(TINY_LENGTH_RATIOS)
    return runner
