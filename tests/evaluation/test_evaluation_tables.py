"""Tables 3-7 and ``umust evaluate --predictions``: the printed tables carry the right numbers."""

import json
import math
import re

import numpy as np
import pytest
import soundfile

from umust_hf.cli import main
from umust_hf.evaluation.tables import LAYOUTS, MethodResult, render_tables, write_json_atomic

from helpers import table_row

NOTES = [[0.0, 0.5, 60], [0.5, 1.0, 62], [1.0, 1.5, 64]]


def _write_predictions(folder):
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    soundfile.write(folder / "gold.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    soundfile.write(folder / "pred.wav", 0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.normal(size=t.size), 16000)
    stretched = [[on * 1.2, off * 1.2, p] for on, off, p in NOTES]
    rows = [
        # SER: 2 deletions on 7 tokens + 1 substitution on 3 tokens = 3/10; without tuplets 1/8
        {
            "task": "omr",
            "gold": "measure C4 quarter tuplet:start 3in2 D4 eighth",
            "pred": "measure C4 quarter D4 eighth",
        },
        {"task": "omr", "gold": "measure E4 half", "pred": "measure E4 whole"},
        # AMT: one wrong pitch of three -> onset F1 2/3 (offsets all fine)
        {"task": "amt", "gold_notes": NOTES, "pred_notes": [[0.01, 0.5, 60], [0.5, 1.0, 63], [1.0, 1.5, 64]]},
        # audio generation: a 1.2x slower copy -> DTW-F1 100 at every tolerance
        {
            "task": "i2a",
            "gold_notes": NOTES,
            "pred_notes": stretched,
            "gold_audio": "gold.wav",
            "pred_audio": "pred.wav",
        },
        {"task": "m2a", "gold_notes": NOTES, "pred_notes": NOTES, "gold_audio": "gold.wav", "pred_audio": "gold.wav"},
        # EMD: pitch one step; durations one type longer -> 0 after the shift
        {"task": "a2i", "gold": "C4 quarter D4 quarter", "pred": "D4 half E4 half"},
        {"task": "l2i", "gold": "C4 quarter E4 quarter", "pred": "C4 quarter"},
    ]
    path = folder / "preds.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_evaluate_prints_every_table_and_writes_json(tmp_path, capsys):
    predictions = _write_predictions(tmp_path)
    out = tmp_path / "report.json"
    assert main(["evaluate", "--predictions", f"ours={predictions}", "--dataset", "embedded", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for number in (3, 4, 5, 6, 7):
        assert f"Table {number}:" in text
    assert table_row(text, 5, "ours") == ["30.00", "12.50"]
    assert table_row(text, 7, "ours") == ["66.67", "66.67"]
    i2a = table_row(text, 3, "ours")
    assert i2a[:3] == ["100.00", "100.00", "100.00"] and float(i2a[3]) > 0
    m2a = table_row(text, 6, "ours")
    assert m2a == ["100.00", "100.00", "100.00", "0.000"]  # identical audio: FAD 0
    assert table_row(text, 4, "ours [a2i]") == ["1.0000", "0.0000"]
    assert table_row(text, 4, "ours [l2i]") == ["1.0000", "0.0000"]  # {C4,E4} vs {C4}: half a unit moved 2 steps
    assert "embedded" in text and "Onset Tolerance (ms)" in text
    report = json.loads(out.read_text())
    by_task = {r["task"]: r for r in report["results"]}
    assert by_task["omr"]["metrics"]["ser"] == pytest.approx(30.0)
    assert by_task["omr"]["details"] == {
        "edits": 3,
        "gold_tokens": 10,
        "edits_notuplets": 1,
        "gold_tokens_notuplets": 8,
    }
    assert by_task["amt"]["metrics"]["onset_f1"] == pytest.approx(200 / 3)
    assert by_task["i2a"]["details"]["unaligned_f1_50"] < 100
    assert by_task["a2i"]["details"]["duration_shift_counts"] == {"-1": 1, "0": 0, "1": 0}
    assert not list(tmp_path.glob(".report.json.*"))  # no temporary file left behind


def test_two_prediction_files_become_two_rows_and_task_filter(tmp_path, capsys):
    predictions = _write_predictions(tmp_path)
    out = tmp_path / "r.json"
    args = ["evaluate", "--task", "omr", "--predictions", f"a={predictions}", "--predictions", f"b={predictions}"]
    assert main([*args, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Table 5:" in text and "Table 3:" not in text
    assert table_row(text, 5, "a") == table_row(text, 5, "b") == ["30.00", "12.50"]


def test_limit_keeps_the_first_rows(tmp_path, capsys):
    predictions = _write_predictions(tmp_path)
    assert (
        main(
            [
                "evaluate",
                "--task",
                "omr",
                "--limit",
                "1",
                "--predictions",
                str(predictions),
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    assert table_row(capsys.readouterr().out, 5, "preds") == [f"{100 * 2 / 7:.2f}", "0.00"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"task": "omr", "gold": "a"\n', r"preds\.jsonl:1: not valid JSON"),
        ('{"gold": "a", "pred": "a"}\n', r'preds\.jsonl:1: row has no "task"'),
        ('{"task": "ocr", "gold": "a", "pred": "a"}\n', r"unknown task 'ocr'"),
        ('{"task": "amt", "gold_notes": [[1, 0.5, 60]], "pred_notes": []}\n',
         r"preds\.jsonl:1: bad 'gold_notes'.*ends before"),
        ('{"task": "i2a", "pred_notes": [[0, 0.5, 60]]}\n',
         r"i2a onset F1 needs gold_notes"),
        ('{"task": "i2a", "gold_notes": [], "pred_notes": [], "gold_audio": "missing.wav", "pred_audio": "x.wav"}\n',
         r"gold_audio file not found"),
        ('{"task": "a2i", "gold": "C4 quarter", "pred_image": "x.png"}\n', r"OMR model"),
    ],
)  # fmt: skip
def test_bad_predictions_give_clear_errors(tmp_path, capsys, content, message):
    path = tmp_path / "preds.jsonl"
    path.write_text(content)
    assert main(["evaluate", "--predictions", str(path), "--out", str(tmp_path / "r.json")]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "r.json").exists()


def test_missing_inputs_and_model(tmp_path, capsys):
    assert main(["evaluate", "--out", str(tmp_path / "r.json")]) == 2
    assert "give --predictions FILE" in capsys.readouterr().err
    assert main(["evaluate", "--predictions", str(tmp_path / "nope.jsonl")]) == 2
    assert "predictions file not found" in capsys.readouterr().err
    predictions = _write_predictions(tmp_path)
    assert main(["evaluate", "--predictions", str(predictions), "--multi-stage", "soundfont"]) == 2
    assert "--multi-stage needs --model" in capsys.readouterr().err
    args = [
        "evaluate",
        "--model",
        str(tmp_path),
        "--data",
        str(tmp_path),
        "--task",
        "omr",
        "--out",
        str(tmp_path / "r.json"),
    ]
    assert main(args) == 2  # tmp_path holds no saved model
    assert "is not a saved U-MUST model" in capsys.readouterr().err


def test_render_tables_marks_missing_values_and_orders_tables():
    results = [
        MethodResult("amt", "m", "MAESTRO", {"onset_f1": 89.4, "onset_offset_f1": None}),
        MethodResult("omr", "m", "OLiMPiC", {"ser": 13.67, "ser_notuplets": float("nan")}),
        MethodResult("i2a", "m", "BPSD", {"f1_50": 48.36, "f1_100": 64.63, "f1_200": 74.92, "fad": 0.081}),
    ]
    text = render_tables(results)
    assert text.index("Table 3:") < text.index("Table 5:") < text.index("Table 7:")
    assert table_row(text, 7, "m") == ["89.40", "–"]
    assert table_row(text, 5, "m") == ["13.67", "–"]
    assert table_row(text, 3, "m") == ["48.36", "64.63", "74.92", "0.081"]
    assert {layout.number for layout in LAYOUTS} == {3, 4, 5, 6, 7}


def test_write_json_atomic_replaces_and_nulls_nan(tmp_path):
    path = tmp_path / "sub" / "x.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": float("nan"), "b": [np.float32(0.5), math.inf]})
    assert json.loads(path.read_text()) == {"a": None, "b": [0.5, None]}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def test_fad_codec_option_switches_the_embedding(tmp_path, capsys):
    import torch

    from umust_hf.modeling.configuration_audio_codec import UMustAudioCodecConfig
    from umust_hf.modeling.modeling_audio_codec import UMustAudioCodec

    torch.manual_seed(0)
    UMustAudioCodec(UMustAudioCodecConfig.cpu()).save_pretrained(tmp_path / "codec")
    predictions = _write_predictions(tmp_path)
    out = tmp_path / "r.json"
    args = ["evaluate", "--task", "m2a", "--predictions", str(predictions), "--fad-codec", str(tmp_path / "codec")]
    assert main([*args, "--out", str(out)]) == 0
    assert table_row(capsys.readouterr().out, 6, "preds")[-1] == "0.000"  # identical audio
    result = json.loads(out.read_text())["results"][0]
    assert result["details"]["fad_embedding"] == "codec-latent-UMustAudioCodec"
    assert main([*args[:-1], str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "--fad-codec: directory not found" in capsys.readouterr().err
