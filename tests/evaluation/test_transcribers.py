"""The external transcriber (basic-pitch through onnxruntime) and the transcriber interface of the audio metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from umust_hf.cli import main
from umust_hf.evaluation import transcribers
from umust_hf.evaluation.dtw import dtw_onset_f1
from umust_hf.evaluation.note_f1 import note_f1
from umust_hf.evaluation.scoring import calibrate_transcriber

from helpers import REPO

needs_basic_pitch = pytest.mark.skipif(not transcribers.basic_pitch_available(),
                                       reason="basic-pitch is not installed (scripts/setup.sh installs it)")

C_MAJOR = (60, 62, 64, 65, 67, 69, 71, 72)
OTHER_TUNE = (47, 53, 46, 52, 45, 51, 44, 50)  # tritone leaps an octave lower: no shared pitch


def _notes(pitches, *, every: float = 0.5, length: float | None = None, start: float = 0.2) -> np.ndarray:
    """Notes one after another, every ``every`` s, legato unless ``length`` is given."""
    length = every if length is None else length
    return np.array([[start + i * every, start + i * every + length, p] for i, p in enumerate(pitches)], dtype=float)


def _synthesised(notes: np.ndarray) -> tuple[np.ndarray, int]:
    from umust_hf.constants import SAMPLE_RATE
    from umust_hf.data._layout import notes_to_midi_bytes
    from umust_hf.data.embedded.synthesis import synthesize

    midi = notes_to_midi_bytes([{"onset": on, "offset": off, "pitch": int(p), "program": 0} for on, off, p in notes])
    return synthesize(midi, float(notes[:, 1].max()) + 0.3), SAMPLE_RATE


@pytest.fixture(scope="module")
def basic_pitch():
    return transcribers.BasicPitchTranscriber()


@needs_basic_pitch
def test_basic_pitch_transcribes_a_synthesised_scale(basic_pitch):
    scale = _notes(C_MAJOR)
    transcribed = basic_pitch(*_synthesised(scale))
    result = note_f1(scale, transcribed, onset_tolerance=0.05)
    assert result.f1 >= 0.9
    matched = round(result.precision * result.num_estimated)
    assert result.num_estimated - matched <= 1  # at most one spurious note
    assert basic_pitch.name == "basic-pitch"


@needs_basic_pitch
def test_dtw_onset_f1_through_basic_pitch_follows_the_music_not_its_tempo(basic_pitch):
    # both sides are audio, transcribed by basic-pitch: the same scale re-synthesised 1.2x faster, and another tune
    original, rate = _synthesised(_notes(C_MAJOR))
    faster, _ = _synthesised(_notes(C_MAJOR, every=0.5 / 1.2))
    same = dtw_onset_f1(original, faster, transcriber=basic_pitch, sample_rate=rate)
    assert same.f1(0.05) >= 0.9
    assert same.unaligned[0.05].f1 < 0.5  # without the alignment the faster notes miss
    other, _ = _synthesised(_notes(OTHER_TUNE))
    assert dtw_onset_f1(original, other, transcriber=basic_pitch, sample_rate=rate).f1(0.05) <= 0.15  # near the floor


@needs_basic_pitch
def test_calibration_gives_a_high_ceiling_and_a_low_floor(basic_pitch):
    tunes = [_notes(C_MAJOR), _notes(OTHER_TUNE)]
    calibration = calibrate_transcriber(tunes, [_synthesised(t) for t in tunes], basic_pitch)
    assert calibration["ceiling"]["f1_50"] >= 80  # the low tune gains octave ghosts (docs/evaluation.md)
    assert calibration["floor"]["f1_50"] <= 15
    one = calibrate_transcriber(tunes[:1], [_synthesised(tunes[0])], basic_pitch)
    assert one["floor"] is None and one["ceiling"]["f1_50"] >= 90


@needs_basic_pitch
def test_tensorflow_is_never_imported_even_where_installed(tmp_path):
    # a "tensorflow" that fails loudly on import stands first on the path
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text("raise RuntimeError('tensorflow was imported')\n")
    code = ("import sys, numpy as np\n"
            "from umust_hf.evaluation.transcribers import BasicPitchTranscriber\n"
            "t = np.arange(44100) / 44100\n"
            "notes = BasicPitchTranscriber()((0.3 * np.sin(2 * np.pi * 440 * t)).astype('float32'), 44100)\n"
            "assert 'tensorflow' not in sys.modules and 'basic_pitch.inference' not in sys.modules\n"
            "assert 'basic_pitch' not in sys.modules  # the stand-in parent package is gone again\n"
            "print(sorted({int(p) for _, _, p in notes}))\n")  # fmt: skip
    src = REPO / "src"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(src)])}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "69" in done.stdout  # A4 heard


def _hide_basic_pitch(monkeypatch):
    real = transcribers.importlib.util.find_spec
    monkeypatch.setattr(transcribers.importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] == "basic_pitch" else real(name, *a))


def test_without_basic_pitch_audio_rows_say_what_to_install(tmp_path, monkeypatch, capsys):
    import soundfile

    _hide_basic_pitch(monkeypatch)
    assert not transcribers.basic_pitch_available() and transcribers.default_transcriber() is None
    with pytest.raises(transcribers.TranscriberUnavailable, match=r"umust-hf\[eval\]"):
        transcribers.load_transcriber("basic-pitch")
    t = np.arange(22050) / 22050
    soundfile.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 22050)
    rows = [{"task": "m2a", "gold_notes": [[0, 0.5, 69]], "gold_audio": "a.wav", "pred_audio": "a.wav"}]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--predictions", str(predictions), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "umust-hf[eval]" in printed and "Traceback" not in printed
    (result,) = json.loads(out.read_text())["results"]
    assert result["details"]["transcriber"] is None and result["metrics"]["f1_50"] is None
    assert result["metrics"]["fad"] is not None  # FAD needs no transcriber
    assert main(["evaluate", "--predictions", str(predictions), "--transcriber", "basic-pitch",
                 "--out", str(out)]) == 2  # asked for by name: a clear error
    assert "not installed" in capsys.readouterr().err


def test_transcriber_argument_must_name_a_transcriber(tmp_path, capsys):
    assert main(["evaluate", "--predictions", str(tmp_path / "x.jsonl"), "--transcriber", str(tmp_path / "nope")]) == 2
    assert "expected 'basic-pitch' or a saved U-MUST model directory" in capsys.readouterr().err


def test_model_transcriber_in_batches_transcribes_as_one_clip_at_a_time(tiny_runner, monkeypatch):
    monkeypatch.setattr(tiny_runner, "batch_size", 2)
    rate = tiny_runner.processor.feature_extractor.sampling_rate
    clips = [(np.sin(2 * np.pi * 220 * (1 + i) * np.arange(int(rate * 0.4 * (i + 1))) / rate).astype(np.float32), rate)
             for i in range(3)] + [(np.zeros(rate // 20, np.float32), rate)]  # the last too short to run on
    model = transcribers.ModelTranscriber(tiny_runner, "umust:tiny")
    batched = transcribers.transcribe_all(model, clips)
    assert [np.array_equal(b, model(*clip)) for b, clip in zip(batched, clips)] == [True] * 4
    assert batched[-1].shape == (0, 3)


@needs_basic_pitch
@pytest.mark.slow  # uses the shared embedded test corpus
def test_amt_peer_row_beside_the_baseline(embedded_corpus_dir, tmp_path, capsys):
    out = tmp_path / "peer.json"
    args = ["evaluate", "--data", str(embedded_corpus_dir), "--task", "amt", "--peer", "basic-pitch",
            "--baseline", "random-pairing", "--limit", "4", "--out", str(out)]
    assert main(args) == 0
    assert "basic-pitch (peer)" in capsys.readouterr().out
    results = {r["method"]: r for r in json.loads(out.read_text())["results"]}
    peer, chance = results["basic-pitch (peer)"], results["random-pairing"]
    assert peer["num_samples"] == chance["num_samples"] == 4
    assert peer["metrics"]["onset_f1"] > chance["metrics"]["onset_f1"] + 20


@pytest.mark.skipif(not os.environ.get("CI"), reason="checks the environment .ci/run builds")
def test_ci_environment_has_basic_pitch_and_no_tensorflow():
    import importlib.util

    assert transcribers.basic_pitch_available()
    assert importlib.util.find_spec("tensorflow") is None
