"""The ``cpu_amt`` path (scripts/cpu_amt.py) end to end with tiny settings, plus its small parts."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from umust_hf.demo.cpu_amt import CpuAmtSettings, _spread, metrics_table

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cpu_amt.py"


def _script():
    spec = importlib.util.spec_from_file_location("cpu_amt_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_curve_excerpts_are_spread_over_the_held_out_rows():
    assert _spread(3, 24) == [0, 1, 2]
    picked = _spread(100, 5)
    assert picked[0] == 0 and picked[-1] == 99 and len(picked) == 5 and picked == sorted(set(picked))


def test_metrics_table_names_every_figure_and_what_was_left_out():
    metrics = {"model": {"onset_f1": 12.5, "baseline_onset_f1": 3.0, "onset_offset_f1": 4.0,
                         "baseline_onset_offset_f1": 1.0, "heldout_loss": 2.5, "reliance_gap": 0.3,
                         "reliance_same_group_gap": 0.12},
               "peer": {"name": "basic-pitch", "onset_f1": 80.0, "onset_offset_f1": 40.0},
               "heldout_excerpts": {"amt_rows": 80, "pieces": 20, "selected_test_excerpts": 89,
                                    "left_out_by_filters": 9}}
    table = metrics_table(metrics)
    assert "| onset F1 % | 12.50 | 3.00 | 80.00 (basic-pitch) |" in table
    assert "| reading gap, another excerpt of the same piece | +0.120 |" in table
    assert "80 held-out excerpts of 20 pieces (9 of the 89 selected left out" in table


def test_the_script_refuses_settings_that_differ_from_the_run_it_resumes(tmp_path, capsys):
    run = tmp_path / "umust-cpu-amt"
    run.mkdir()
    (run / "settings.json").write_text(json.dumps({**CpuAmtSettings.quick().to_dict(), "train_minutes": 99.0}))
    assert _script().main(["--out-dir", str(tmp_path), "--quick", "--quiet"]) == 2
    assert "train_minutes differ" in capsys.readouterr().err


@pytest.mark.slow
def test_cpu_amt_path_end_to_end_and_resumes(tmp_path, embedded_corpus_dir, capsys):
    from umust_hf.translation import UMustTranslator

    shutil.copytree(embedded_corpus_dir, tmp_path / "umust-data")
    assert _script().main(["--out-dir", str(tmp_path), "--quick", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "cpu_amt: total wall time" in printed and "| onset F1 % |" in printed
    run = tmp_path / "umust-cpu-amt"
    metrics = json.loads((run / "metrics.json").read_text())
    model = metrics["model"]
    assert model["examples"] == metrics["heldout_excerpts"]["amt_rows"] >= 2
    for key in ("onset_f1", "baseline_onset_f1", "heldout_loss", "reliance_gap", "reliance_same_group_gap"):
        assert isinstance(model[key], float), key
    assert metrics["training"]["steps"] == CpuAmtSettings.quick().max_steps
    curve = json.loads((run / "curve.json").read_text())
    assert curve and curve[-1]["step"] == metrics["training"]["steps"] and "onset_f1" in curve[-1]
    assert "onset F1" in (run / "model" / "README.md").read_text()
    translator = UMustTranslator.from_pretrained(run / "model")
    assert translator.trained_tasks == ["amt"]
    assert translator.processor.image_codec is None and translator.processor.audio_codec is not None
    timings = json.loads((run / "timings.json").read_text())
    assert timings["stages"]["corpus"]["status"] == "reused"  # the copied corpus was big enough
    # a second run finds every stage done
    assert _script().main(["--out-dir", str(tmp_path), "--quick", "--quiet"]) == 0
    stages = json.loads((run / "timings.json").read_text())["stages"]
    assert {stage["status"] for stage in stages.values()} == {"reused"}
