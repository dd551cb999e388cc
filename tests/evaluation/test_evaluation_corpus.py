"""``umust evaluate`` on the embedded corpus's test split, with the model-free references."""

import json

import numpy as np
import pytest

from umust_hf.cli import main
from umust_hf.errors import UserError
from umust_hf.evaluation.baselines import baseline_rows, partners

from helpers import table_row


def test_random_pairing_never_pairs_an_excerpt_with_itself():
    for count in (2, 3, 10, 57):
        partner = partners(count, "random-pairing", seed=1)
        assert sorted(partner.tolist()) == list(range(count))  # a permutation
        assert (partner != np.arange(count)).all()
    assert partners(4, "ground-truth", seed=0).tolist() == [0, 1, 2, 3]
    with pytest.raises(UserError, match="at least 2"):
        partners(1, "random-pairing", seed=0)
    with pytest.raises(UserError, match="unknown baseline"):
        baseline_rows([{"lmx": "measure"}], "omr", kind="oracle")


@pytest.mark.slow  # builds the shared embedded test corpus when no other test has
def test_evaluate_embedded_test_split_prints_every_table(embedded_corpus_dir, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["evaluate", "--data", str(embedded_corpus_dir), "--split", "test", "--dataset", "embedded"]
    assert main([*args, "--baseline", "ground-truth", "--baseline", "random-pairing", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for number in (3, 4, 5, 6, 7):
        assert f"Table {number}:" in text
    # every excerpt against itself gives each metric's best value
    assert table_row(text, 3, "ground-truth") == ["100.00", "100.00", "100.00", "0.000"]
    assert table_row(text, 6, "ground-truth") == ["100.00", "100.00", "100.00", "0.000"]
    assert table_row(text, 5, "ground-truth") == ["0.00", "0.00"]
    assert table_row(text, 7, "ground-truth") == ["100.00", "100.00"]
    assert table_row(text, 4, "ground-truth [a2i]") == ["0.0000", "0.0000"]
    # another excerpt is worse on every measure, and random pairs get no FAD
    random_pairs = json.loads(out.read_text())["results"]
    metrics = {r["task"]: r["metrics"] for r in random_pairs if r["method"] == "random-pairing"}
    assert metrics["omr"]["ser"] > 10
    assert metrics["amt"]["onset_f1"] < 90
    assert metrics["i2a"]["f1_50"] < 90 and metrics["i2a"]["fad"] is None
    assert metrics["a2i"]["emd_pitch"] > 0
    assert table_row(text, 3, "random-pairing")[-1] == "–"


@pytest.mark.slow  # generation with a small untrained model for all six tasks
def test_evaluate_model_on_embedded_split_prints_every_table(embedded_corpus_dir, cpu_processor, tmp_path, capsys):
    import torch

    from umust_hf import UMustConfig, UMustForConditionalGeneration

    torch.manual_seed(0)
    processor = cpu_processor
    limits = {f"max_{m}_positions": 2048 for m in ("image", "audio", "notation", "midi")}
    model = UMustForConditionalGeneration(UMustConfig.from_preset("tiny", **limits)).eval()
    model_dir = tmp_path / "untrained"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    out = tmp_path / "model.json"
    args = ["evaluate", "--model", str(model_dir), "--data", str(embedded_corpus_dir), "--limit", "1"]
    assert main([*args, "--max-new-tokens", "24", "--multi-stage", "soundfont", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "untrained multi-stage (OMR -> MIDI -> soundfont) |" in text.split("Table 3:")[1].split("Table 4:")[0]
    for number in (3, 4, 5, 6, 7):
        assert f"Table {number}:" in text
    report = json.loads(out.read_text())["results"]
    multi_stage = [r for r in report if "multi-stage" in r["method"]]
    assert len(multi_stage) == 1 and multi_stage[0]["task"] == "i2a" and multi_stage[0]["num_samples"] == 1
    results = {r["task"]: r for r in report if r not in multi_stage}
    assert set(results) == {"omr", "amt", "m2a", "i2a", "l2i", "a2i"}
    assert all(r["method"] == "untrained" and r["num_samples"] == 1 for r in results.values())
    # an untrained model cannot read music: far from the ground-truth values
    assert results["omr"]["metrics"]["ser"] > 50
    assert results["amt"]["metrics"]["onset_f1"] < 50
    # 24 generated audio frames (0.28 s) still give FAD its two embedding frames
    assert results["i2a"]["metrics"]["fad"] is not None and results["i2a"]["metrics"]["fad"] > 0

    # the model as the reader of a predictions file: its AMT transcribes audio-only rows, its OMR reads images
    import soundfile
    from PIL import Image

    t = np.arange(44100) / 44100
    soundfile.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 44100)
    Image.fromarray(np.full((192, 64), 255, np.uint8)).save(tmp_path / "blank.png")
    rows = [
        {"task": "i2a", "gold_audio": "a.wav", "pred_audio": "a.wav"},
        {"task": "a2i", "gold": "measure clef:G2 C4 quarter", "pred_image": "blank.png"},
    ]
    predictions = tmp_path / "audio_only.jsonl"
    predictions.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    reader_args = ["--predictions", str(predictions), "--transcriber", str(model_dir), "--omr-reader", str(model_dir),
                   "--max-new-tokens", "8"]
    assert main(["evaluate", *reader_args, "--out", str(tmp_path / "reader.json")]) == 0
    read = {r["task"]: r for r in json.loads((tmp_path / "reader.json").read_text())["results"]}
    assert read["i2a"]["metrics"]["fad"] == pytest.approx(0.0, abs=1e-6)  # same audio on both sides
    assert read["i2a"]["details"]["transcriber"] == "umust:untrained"
    assert read["a2i"]["num_samples"] == 1
    assert main(["evaluate", *reader_args[:2], "--out", str(tmp_path / "r2.json")]) == 2  # no OMR reader: clear error
    assert "pred_image' plus an OMR model" in capsys.readouterr().err


@pytest.mark.slow  # uses the shared embedded test corpus
def test_saved_predictions_rescore_to_the_same_tables(embedded_corpus_dir, tmp_path, capsys):
    saved = tmp_path / "truth.jsonl"
    args = [
        "evaluate",
        "--data",
        str(embedded_corpus_dir),
        "--baseline",
        "ground-truth",
        "--baseline",
        "random-pairing",
    ]
    assert main([*args, "--save-predictions", str(saved), "--out", str(tmp_path / "a.json")]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--predictions", f"ground-truth={saved}", "--out", str(tmp_path / "b.json")]) == 0
    capsys.readouterr()
    first = [r for r in json.loads((tmp_path / "a.json").read_text())["results"] if r["method"] == "ground-truth"]
    second = json.loads((tmp_path / "b.json").read_text())["results"]
    assert [(r["task"], r["metrics"]) for r in first] == [(r["task"], pytest.approx(r["metrics"])) for r in second]
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert {row["task"] for row in rows} == {"omr", "amt", "m2a", "i2a", "l2i", "a2i"}
    assert all(len(note) == 3 for row in rows if row["task"] == "amt" for note in row["gold_notes"])
    audio = [row["pred_audio"] for row in rows if row["task"] == "i2a"]
    assert audio and all((tmp_path / path).is_file() and path.endswith(".wav") for path in audio)
