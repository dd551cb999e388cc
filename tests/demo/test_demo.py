"""``umust demo --quick`` end to end on the small test corpus, plus its small parts."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from umust_hf.demo.constant_baselines import lmx_distance, most_frequent
from umust_hf.demo.report import audio_codec_note, markdown_table, metric_rows, write_metrics
from umust_hf.evaluation.tables import MethodResult


def test_most_frequent_prefers_frequency_then_medoid():
    items = ["a b c", "a b c", "x y z w v"]
    assert most_frequent(items, lmx_distance) == "a b c"
    # all unique: the medoid (smallest total edit distance) wins, not the first one
    unique = ["q q q q q q", "a b c d", "a b c e", "a b d e"]
    assert most_frequent(unique, lmx_distance) == "a b c e"


def test_metric_rows_direction_decides_the_verdict():
    results = [
        MethodResult(task="omr", method="trained", dataset="d", num_samples=3,
                     metrics={"ser": 40.0, "ser_notuplets": 50.0, "ser_all_heldout": 60.0},
                     details={"ser_all_heldout_examples": 16}),
        MethodResult(task="omr", method="constant", dataset="d", metrics={"ser": 80.0, "ser_notuplets": 45.0}, num_samples=3),
        MethodResult(task="amt", method="trained", dataset="d", metrics={"onset_f1": 10.0, "onset_offset_f1": None}, num_samples=3),
        MethodResult(task="amt", method="constant", dataset="d", metrics={"onset_f1": 20.0, "onset_offset_f1": 1.0}, num_samples=3),
    ]
    rows = {(r["task"], r["metric"]): r for r in metric_rows(results)}
    assert rows["omr", "ser"]["beats_baseline"] is True  # lower SER wins
    assert rows["omr", "ser_notuplets"]["beats_baseline"] is False
    assert rows["amt", "onset_f1"]["beats_baseline"] is False  # higher F1 wins
    assert rows["amt", "onset_offset_f1"]["beats_baseline"] is None
    every = rows["omr", "ser_all_heldout"]  # the baseline lacks it: no verdict; its own excerpt count
    assert every["trained"] == 60.0 and every["beats_baseline"] is None and every["excerpts"] == 16
    assert rows["omr", "ser"]["excerpts"] == 3
    table = markdown_table(list(rows.values()))
    assert "| omr | SER % ↓ | 40 | 80 | constant | yes |" in table


def test_the_metrics_say_whether_the_audio_codec_keeps_the_notes(tmp_path):
    lost = {"pitch_agreement_trained": 0.1034, "pitch_agreement_chance": 0.1698, "onset_f1_trained": 0.83,
            "onset_f1_original": 1.0}
    note = audio_codec_note(lost)
    assert "pitch agreement with the originals 0.103, where another clip scores 0.17: no clearly more" in note
    assert "it loses the notes" in note and "onset F1 of its reconstructions 0.83 (original audio 1)" in note
    assert "it loses the notes" in audio_codec_note({**lost, "pitch_agreement_trained": 0.19})  # within the noise
    assert "keeps some of the notes" in audio_codec_note({**lost, "pitch_agreement_trained": 0.9})
    assert audio_codec_note({"onset_f1_trained": 0.8}) == ""  # a codec trained before the measure existed
    results = [MethodResult(task="omr", method=method, dataset="d", metrics={"ser": ser}, num_samples=2)
               for method, ser in (("trained", 40.0), ("constant", 80.0))]
    write_metrics(results, tmp_path, audio_codec=lost)
    assert note in (tmp_path / "metrics.md").read_text()
    assert json.loads((tmp_path / "metrics.json").read_text())["audio_codec_note"] == note


def test_demo_refuses_bad_options():
    import argparse

    from umust_hf.demo.command import add_arguments, settings_from_args
    from umust_hf.errors import UserError

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    with pytest.raises(UserError, match="--budget-minutes"):
        settings_from_args(parser.parse_args(["--budget-minutes", "0"]))
    with pytest.raises(UserError, match="--corpus-pieces"):
        settings_from_args(parser.parse_args(["--corpus-pieces", "1"]))
    doubled = settings_from_args(parser.parse_args(["--budget-minutes", "30"]))
    default = settings_from_args(parser.parse_args([]))
    assert doubled.i2a_minutes == pytest.approx(2 * default.i2a_minutes)
    assert doubled.a2i_minutes == pytest.approx(2 * default.a2i_minutes)


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, embedded_corpus_dir, capsys):
    import soundfile
    from lxml import etree
    from PIL import Image
    from transformers import AutoModel, AutoProcessor

    import umust_hf  # noqa: F401 - registers the Auto classes
    from umust_hf.cli import main
    from umust_hf.data.audio_io import read_midi_notes

    out = tmp_path / "demo"
    out.mkdir()
    shutil.copytree(embedded_corpus_dir, out / "umust-data")
    assert main(["demo", "--quick", "--quiet", "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "beats baseline" in printed and "stage times" in printed

    demo = out / "umust-demo"
    for task, suffix in (("omr", ".musicxml"), ("omr", ".lmx"), ("m2a", ".wav"), ("i2a", ".wav"),
                         ("amt", ".mid"), ("l2i", ".png"), ("a2i", ".png")):
        files = sorted((demo / task).glob(f"*{suffix}"))
        assert len(files) >= 2, f"{task}: no {suffix} outputs"
        for path in files:
            if suffix == ".musicxml":
                assert etree.parse(str(path)).getroot().tag == "score-partwise"
            elif suffix == ".wav":
                info = soundfile.info(str(path))
                assert info.samplerate == 44100 and info.channels == 1
            elif suffix == ".mid":
                read_midi_notes(path.read_bytes())  # parses (it may hold no notes)
            elif suffix == ".png":
                with Image.open(path) as image:
                    image.verify()
    for name in ("preview.png", "summary.png", "alignment.png"):
        with Image.open(demo / name) as image:
            assert image.size[0] > 300 and image.size[1] > 300
    metrics = json.loads((demo / "metrics.json").read_text())["rows"]
    assert "audio codec on held-out audio:" in (demo / "metrics.md").read_text()  # what its tokens keep
    assert {row["task"] for row in metrics} == {"omr", "amt", "m2a", "i2a", "l2i", "a2i"}
    assert all(row["excerpts"] >= 2 for row in metrics)

    for direction in ("i2a", "a2i"):
        folder = out / f"umust-{direction}"
        model = AutoModel.from_pretrained(folder)
        processor = AutoProcessor.from_pretrained(folder)
        assert type(model).__name__ == "UMustForConditionalGeneration"
        assert processor.image_codec is not None and processor.audio_codec is not None
        card = (folder / "README.md").read_text()
        assert card.startswith("---") and "model-index" in card
        measured = [row for row in metrics if row["trained"] is not None
                    and row["task"] in (("omr", "m2a", "i2a") if direction == "i2a" else ("amt", "l2i", "a2i"))]
        assert measured
        for row in measured:
            assert f"value: {row['trained']:.4g}" in card, (direction, row)

    every = next(row for row in metrics if row["metric"] == "ser_all_heldout")  # OMR on every held-out excerpt
    assert every["excerpts"] >= 2 and every["trained"] is not None and every["baseline"] > 0
    every_amt = next(row for row in metrics if row["metric"] == "onset_f1_all_heldout")  # AMT on every one
    assert every_amt["excerpts"] == every["excerpts"] and every_amt["trained"] is not None
    from umust_hf.demo.heldout import heldout_scores

    again_scored = heldout_scores(out)
    assert 0 < again_scored["omr"]["heldout_loss"] < 20 and 0 < again_scored["amt"]["heldout_loss"] < 20
    assert again_scored["amt"]["onset_f1"] == pytest.approx(every_amt["trained"])

    before = {p: p.stat().st_mtime_ns for p in (out / "umust-i2a" / "model.safetensors", demo / "metrics.json")}
    assert main(["demo", "--quick", "--quiet", "--out-dir", str(out)]) == 0
    again = capsys.readouterr().out
    assert "[train I2A] outputs exist: skipped" in again and "[six tasks + metrics + figure] outputs exist: skipped" in again
    assert {p: p.stat().st_mtime_ns for p in before} == before
    timings = json.loads((demo / "timings.json").read_text())["stages"]
    assert all(stage["status"] == "reused" for stage in timings.values())


def test_summary_figure_draws_every_kind_of_panel(tmp_path):
    from PIL import Image

    from umust_hf.demo.figure import write_summary_figure

    rate = 44100
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    score = Image.new("L", (320, 192), 255)
    notes = np.array([[0.0, 0.5, 60], [0.5, 1.0, 64]])
    examples = {
        "omr": {"input": score, "output": "measure note pitch:C4 len:quarter"},
        "amt": {"input": (tone, rate), "output": notes},
        "m2a": {"input": notes, "output": (np.zeros(0, np.float32), rate)},  # nothing generated
        "i2a": {"input": score, "output": (tone, rate)},
        "l2i": {"input": "", "output": score},
        "a2i": {"input": (tone, rate), "output": score},
    }
    path = write_summary_figure(examples, tmp_path / "figure" / "summary.png")
    with Image.open(path) as image:
        width, height = image.size
        pixels = np.asarray(image.convert("L"))
    assert width > 600 and height > 1000  # six rows of two panels
    assert pixels.std() > 10  # something was drawn
    assert not list(path.parent.glob(".tmp-*"))


def test_training_caps_shrink_to_what_the_budget_still_allows():
    from umust_hf.demo.pipeline import training_minutes
    from umust_hf.demo.settings import DemoSettings

    settings = DemoSettings(i2a_minutes=5.0, a2i_minutes=2.0, eval_reserve_minutes=1.0)
    assert training_minutes("i2a", settings, minutes_left=20.0) == 5.0  # plenty left: the model's own cap
    assert training_minutes("i2a", settings, minutes_left=6.0) == 3.0  # A2I (2) and the tasks (1) must still fit
    assert training_minutes("a2i", settings, minutes_left=2.5) == 1.5
    assert training_minutes("a2i", settings, minutes_left=0.2) == 0.5  # over budget already: a short run, not none


def test_model_cards_are_rewritten_when_the_metrics_are_newer(tmp_path):
    import os

    from umust_hf.demo.paths import MODEL_DIRS, DemoPaths
    from umust_hf.demo.pipeline import _cards_current

    paths = DemoPaths(tmp_path)
    paths.demo.mkdir(parents=True)
    metrics = paths.demo / "metrics.json"
    metrics.write_text("{}")
    for direction in MODEL_DIRS:
        paths.model(direction).mkdir(parents=True)
        (paths.model(direction) / "README.md").write_text("card")
    assert _cards_current(paths)
    later = metrics.stat().st_mtime_ns + 10**9
    os.utime(metrics, ns=(later, later))  # a re-run evaluation wrote new metrics
    assert not _cards_current(paths)
    (paths.model(next(iter(MODEL_DIRS))) / "README.md").unlink()
    assert not _cards_current(paths)


def _heldout_examples(count: int) -> list[dict]:
    """Excerpt-like rows (image, audio, MIDI, LMX) of different sizes, as the demo's held-out split has them."""
    import soundfile

    from helpers import midi_of, staff_image

    examples = []
    for index in range(count):
        seconds, buffer = 0.3 + 0.2 * index, io.BytesIO()
        samples = (0.2 * np.sin(np.arange(int(seconds * 22050)) * 0.05 * (index + 1))).astype(np.float32)
        soundfile.write(buffer, samples, 22050, format="WAV")
        examples.append({"id": f"x{index}", "image": staff_image(64 + 32 * index, index), "audio": buffer.getvalue(),
                         "midi": midi_of(1.0 + index, 60 + index), "lmx": f"measure clef:G2 C{4 + index} quarter"})
    return examples


def test_run_tasks_batches_each_task_and_reads_back_its_outputs(tmp_path, tiny_runner, monkeypatch):
    import datasets
    from PIL import Image

    from umust_hf.demo.task_runs import TASK_ORDER, baseline_rows, run_tasks, score_all

    examples = _heldout_examples(3)
    monkeypatch.setattr(tiny_runner, "batch_size", 2)  # more than one batch per task
    outputs = run_tasks(tiny_runner, tiny_runner, examples, tmp_path, show_progress=False)
    suffixes = {"omr": {".musicxml", ".lmx"}, "amt": {".mid"}, "m2a": {".wav"}, "i2a": {".wav"},
                "l2i": {".png"}, "a2i": {".png"}}
    for task in TASK_ORDER:
        assert {p.suffix for p in outputs[task].files} == suffixes[task] and len(outputs[task].rows) == 3
        assert [row.fields["id"] for row in outputs[task].rows] == ["x0", "x1", "x2"]
        assert set(outputs[task].example) == {"input", "output"}
    for task in ("m2a", "i2a"):  # the generated audio is left for the scoring's transcriber
        for index, row in enumerate(outputs[task].rows):
            audio, rate = row.fields["pred_audio"]
            assert "pred_notes" not in row.fields and row.fields["gold_audio"][1] == 22050
            assert (tmp_path / task / f"{index:02d}.wav").is_file() or audio.size == 0
    for task in ("l2i", "a2i"):  # the generated images, read one at a time, give the same LMX
        for index, row in enumerate(outputs[task].rows):
            with Image.open(tmp_path / task / f"{index:02d}.png") as image:
                assert row.fields["pred"] == tiny_runner.read_notation(image.convert("L"))

    train = datasets.Dataset.from_dict({key: [e[key] for e in examples] for key in ("lmx", "midi", "audio")})
    base = baseline_rows(examples, train)
    for first, second in zip(base["m2a"], base["i2a"]):  # one random training clip for both tasks
        assert first.fields["pred_audio"] is second.fields["pred_audio"] and "pred_notes" not in first.fields

    def transcriber(audio, rate):  # stands in for basic-pitch: one note per clip longer than 0.1 s
        return np.array([[0.0, len(audio) / rate, 60.0]]) if len(audio) > rate // 10 else np.zeros((0, 3))

    peers = {"stand-in": base["amt"]}
    results = score_all({task: outputs[task].rows for task in TASK_ORDER}, base, transcriber=transcriber,
                        peer_rows=peers)
    assert len(results) == 2 * len(TASK_ORDER) + 1
    assert [r.method for r in results if r.task == "amt"][-1] == "stand-in (peer)"
    audio_results = [r for r in results if r.task in ("m2a", "i2a")]
    assert all(r.details["transcriber"] == "transcriber" and r.details["ceiling"] is not None for r in audio_results)
    assert all(r.metrics["f1_50"] is not None for r in audio_results)
    without = score_all({task: outputs[task].rows for task in TASK_ORDER}, base)  # no transcriber: no F1, a note
    assert all(r.metrics["f1_50"] is None and "umust-hf[eval]" in r.details["transcriber_note"]
               for r in without if r.task in ("m2a", "i2a"))


def test_heldout_omr_in_batches_scores_what_one_row_at_a_time_scores(tiny_runner):
    import datasets

    from helpers import staff_image
    from umust_hf.demo.heldout import score_heldout_omr

    processor = tiny_runner.processor
    lmx = ["measure clef:G2 C4 quarter", "measure clef:G2 E4 half D4 quarter", "measure clef:F4 G2 whole"]
    rows = [{"task": "omr", "input_ids": processor.encode_images([staff_image(64 + 48 * i, i)])[0].tolist(),
             "labels": processor.encode_notation(text=[text])[0].tolist(),
             "source_modality": "image", "target_modality": "notation"} for i, text in enumerate(lmx)]
    rows.insert(1, {**rows[0], "task": "i2a"})  # not an OMR row: left out
    test = datasets.Dataset.from_list(rows)
    one_at_a_time = score_heldout_omr(test, tiny_runner.translator, lmx[0], batch_size=1)
    batched = score_heldout_omr(test, tiny_runner.translator, lmx[0], batch_size=2)
    assert batched["examples"] == one_at_a_time["examples"] == 3
    assert batched["ser"] == one_at_a_time["ser"] and batched["baseline_ser"] == one_at_a_time["baseline_ser"]
    assert batched["heldout_loss"] == pytest.approx(one_at_a_time["heldout_loss"], rel=1e-5)


def test_heldout_amt_in_batches_scores_what_one_row_at_a_time_scores(tiny_runner):
    import datasets

    from helpers import midi_of
    from umust_hf.data.audio_io import read_midi_notes
    from umust_hf.demo.heldout import score_heldout_amt

    processor = tiny_runner.processor
    midi = midi_of(2.0, 60)
    rate = processor.feature_extractor.sampling_rate
    clips = [np.sin(2 * np.pi * 220 * (1 + i) * np.arange(rate * (1 + i)) / rate).astype(np.float32) for i in range(3)]
    rows = [{"task": "amt", "input_ids": processor.encode_audio([clip], sampling_rate=[rate])[0].tolist(),
             "labels": processor.encode_midi(midi)[0].tolist(), "source_modality": "audio",
             "target_modality": "midi"} for clip in clips]
    rows.insert(1, {**rows[0], "task": "m2a"})  # not an AMT row: left out
    test = datasets.Dataset.from_list(rows)
    gold_notes = read_midi_notes(midi)
    one_at_a_time = score_heldout_amt(test, tiny_runner.translator, gold_notes, batch_size=1)
    batched = score_heldout_amt(test, tiny_runner.translator, gold_notes, batch_size=2)
    assert batched["examples"] == one_at_a_time["examples"] == 3
    assert batched["onset_f1"] == one_at_a_time["onset_f1"]
    # the gold side is the labels decoded by the MIDI tokenizer: a baseline equal to the notes matches them all
    assert batched["baseline_onset_f1"] == pytest.approx(100.0) and batched["baseline_onset_offset_f1"] == pytest.approx(100.0)
    assert batched["heldout_loss"] == pytest.approx(one_at_a_time["heldout_loss"], rel=1e-5)
    empty = score_heldout_amt(test, tiny_runner.translator, [], batch_size=2)
    assert empty["baseline_onset_f1"] == 0.0


def test_heldout_scoring_refuses_a_split_without_the_task(tiny_runner):
    import datasets

    from umust_hf.demo.heldout import score_heldout_amt

    test = datasets.Dataset.from_list([{"task": "omr", "input_ids": [[5, 5, 5, 5]], "labels": [[5, 5, 5, 5]],
                                        "source_modality": "image", "target_modality": "notation"}])
    with pytest.raises(ValueError, match="no AMT example"):
        score_heldout_amt(test, tiny_runner.translator, [])
