"""The ``evaluate`` modules load offline from their local folders and give the library's numbers."""

import socket

import evaluate
import numpy as np
import pytest

from umust_hf.evaluation.dtw import dtw_onset_f1
from umust_hf.evaluation.fad import LogMelEmbedding, frechet_audio_distance
from umust_hf.evaluation.metrics import METRIC_NAMES, metric_path
from umust_hf.evaluation.note_f1 import note_f1

REF = [[0.0, 0.5, 60.0], [0.5, 1.0, 62.0], [1.0, 1.5, 64.0]]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No network: Hub offline flags, a fresh cache, and sockets that refuse to connect."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return tmp_path


def _load(name, tmp_path):
    return evaluate.load(metric_path(name), cache_dir=str(tmp_path / "cache"))


def test_every_metric_folder_loads(offline):
    for name in METRIC_NAMES:
        module = _load(name, offline)
        assert isinstance(module, evaluate.Metric)
    with pytest.raises(ValueError, match="unknown metric"):
        metric_path("bleu")


def test_ser_module(offline):
    gold = ["a b c d", "x y tuplet:start 3in2"]
    pred = ["a x c", "x y"]
    result = _load("ser", offline).compute(predictions=pred, references=gold)
    # 2 + 2 edits over 8 gold tokens; without tuplets 2 edits over 6
    assert result == {
        "ser": pytest.approx(50.0),
        "ser_notuplets": pytest.approx(100 * 2 / 6),
        "edits": 4,
        "gold_tokens": 8,
    }


def test_note_f1_module(offline):
    est = [[0.0, 0.5, 60.0], [0.6, 1.0, 62.0], [1.0, 1.5, 64.0]]
    module = _load("note_f1", offline)
    assert module.compute(predictions=[est, REF], references=[REF, REF])["f1"] == pytest.approx((2 / 3 + 1) / 2)
    wide = module.compute(predictions=[est], references=[REF], onset_tolerance=0.15)
    assert wide["f1"] == pytest.approx(note_f1(REF, est, onset_tolerance=0.15).f1) == pytest.approx(1.0)


def test_dtw_module(offline):
    slow = [[on * 1.5, off * 1.5, p] for on, off, p in REF]
    result = _load("dtw_onset_f1", offline).compute(predictions=[slow], references=[REF])
    direct = dtw_onset_f1(REF, slow)
    assert result["f1_50"] == pytest.approx(direct.aligned[0.05].f1) == pytest.approx(1.0)
    assert result["unaligned_f1_50"] == pytest.approx(direct.unaligned[0.05].f1)
    assert result["unaligned_f1_50"] < 1.0


def test_fad_module_with_embeddings_and_waveforms(offline):
    rng = np.random.default_rng(0)
    a = [rng.normal(size=(40, 4)), rng.normal(size=(30, 4))]
    b = [rng.normal(size=(50, 4)) + 0.5, rng.normal(size=(20, 4)) - 0.2]  # evaluate wants equal counts
    module = _load("fad", offline)
    result = module.compute(predictions=[x.tolist() for x in b], references=[x.tolist() for x in a])
    assert result["fad"] == pytest.approx(frechet_audio_distance(a, b), rel=1e-5)  # float32 storage
    t = np.arange(16000) / 16000
    waves = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (440, 550)]
    result = module.compute(predictions=waves, references=waves[::-1], sample_rate=16000)
    embed = LogMelEmbedding()
    expected = frechet_audio_distance([embed(w, 16000) for w in waves[::-1]], [embed(w, 16000) for w in waves])
    assert result["fad"] == pytest.approx(expected, rel=1e-5)


def test_token_emd_module(offline):
    result = _load("token_emd", offline).compute(
        predictions=["D4 half", "measure"], references=["C4 quarter", "C4 quarter"]
    )
    assert result == {"emd_pitch": 1.0, "emd_duration": 0.0, "undefined_pitch": 1, "undefined_duration": 1}
