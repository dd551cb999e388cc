"""The CPU task paths (scripts/cpu_path.py) end to end with tiny settings, plus their small parts."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from umust_hf.demo.cpu_paths import CpuPathSettings, _spread, metrics_table
from umust_hf.errors import UserError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cpu_path.py"


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
               "heldout_excerpts": {"rows": 80, "pieces": 20, "selected_test_excerpts": 89,
                                    "left_out_by_filters": 9}}
    table = metrics_table(metrics)
    assert "| onset F1 % | 12.50 | 3.00 | 80.00 (basic-pitch) |" in table
    assert "| reading gap, another excerpt of the same piece | +0.120 |" in table
    assert "80 held-out excerpts of 20 pieces (9 of the 89 selected left out" in table
    omr = {**metrics, "task": "omr", "peer": {"name": None},
           "model": {**metrics["model"], "ser": 35.0, "baseline_ser": 110.0,
                     "ser_by_kind": {"pitch": 20.0, "duration": 30.0, "structure": 50.0},
                     "baseline_ser_by_kind": {"pitch": 90.0, "duration": 80.0, "structure": 120.0}}}
    table = metrics_table(omr)
    assert "| SER % | 35.00 | 110.00 | – |" in table and "| SER % of pitch tokens | 20.00 | 90.00 | – |" in table
    assert "another piece's image" in table and "onset" not in table


def test_settings_refuse_an_unknown_task():
    with pytest.raises(UserError, match="unknown task path 'ocr'"):
        CpuPathSettings(task="ocr")
    with pytest.raises(UserError, match="train_minutes=0.0, batch_size=0"):
        CpuPathSettings(train_minutes=0.0, batch_size=0)


def test_the_script_refuses_settings_that_differ_from_the_run_it_resumes(tmp_path, capsys):
    run = tmp_path / "umust-cpu-amt"
    run.mkdir()
    (run / "settings.json").write_text(json.dumps({**CpuPathSettings.quick().to_dict(), "train_minutes": 99.0}))
    assert _script().main(["amt", "--out-dir", str(tmp_path), "--quick", "--quiet"]) == 2
    assert "train_minutes differ" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("task", ["amt", "omr"])
def test_cpu_path_end_to_end_and_resumes(task, tmp_path, embedded_corpus_dir, capsys):
    from umust_hf.translation import UMustTranslator

    shutil.copytree(embedded_corpus_dir, tmp_path / "umust-data")
    assert _script().main([task, "--out-dir", str(tmp_path), "--quick", "--quiet"]) == 0
    printed = capsys.readouterr().out
    headline = {"amt": ("onset_f1", "| onset F1 % |"), "omr": ("ser", "| SER % |")}[task]
    assert f"cpu_{task}: total wall time" in printed and headline[1] in printed
    run = tmp_path / f"umust-cpu-{task}"
    metrics = json.loads((run / "metrics.json").read_text())
    model = metrics["model"]
    assert model["examples"] == metrics["heldout_excerpts"]["rows"] >= 2
    for key in (headline[0], f"baseline_{headline[0]}", "heldout_loss", "reliance_gap", "reliance_same_group_gap"):
        assert isinstance(model[key], float), key
    if task == "omr":
        assert set(model["ser_by_kind"]) == {"pitch", "duration", "structure"}
    assert metrics["training"]["steps"] == CpuPathSettings.quick().max_steps
    curve = json.loads((run / "curve.json").read_text())
    assert curve and curve[-1]["step"] == metrics["training"]["steps"] and headline[0] in curve[-1]
    assert ("onset F1" if task == "amt" else "SER") in (run / "model" / "README.md").read_text()
    translator = UMustTranslator.from_pretrained(run / "model")
    assert translator.trained_tasks == [task]
    used, unused = ("audio_codec", "image_codec") if task == "amt" else ("image_codec", "audio_codec")
    assert getattr(translator.processor, unused) is None and getattr(translator.processor, used) is not None
    timings = json.loads((run / "timings.json").read_text())
    assert timings["stages"]["corpus"]["status"] == "reused"  # the copied corpus was big enough
    # a second run finds every stage done
    assert _script().main([task, "--out-dir", str(tmp_path), "--quick", "--quiet"]) == 0
    stages = json.loads((run / "timings.json").read_text())["stages"]
    assert {stage["status"] for stage in stages.values()} == {"reused"}
