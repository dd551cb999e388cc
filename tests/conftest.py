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
