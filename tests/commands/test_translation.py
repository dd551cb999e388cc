"""The six translation commands run end to end on a saved (untrained) tiny model and its processor."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

from umust_hf import MidiTokenizer
from umust_hf.cli import main
from umust_hf.processing.notes import Note
from umust_hf.translation import UMustTranslator

LMX = "measure key:fifths:0 time beats:4 beat-type:4 clef:G2 C4 voice:1 quarter stem:up E4 half stem:up"


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir):
    return tiny_model_dir


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, model_dir):
    folder = tmp_path_factory.mktemp("inputs")
    image = np.full((192, 160), 255, np.uint8)
    for line in range(5):
        image[80 + 8 * line] = 0
    Image.fromarray(image).save(folder / "system.png")
    soundfile.write(folder / "clip.wav", 0.1 * np.sin(np.linspace(0, 2000, 22050)).astype(np.float32), 22050)
    midi = MidiTokenizer().notes_to_midi([Note(0.0, 0.5, 60), Note(0.5, 1.0, 64)])
    (folder / "notes.mid").write_bytes(midi)
    (folder / "system.lmx").write_text(LMX)
    return folder


@pytest.mark.parametrize(
    "command, source, output",
    [
        ("omr", "system.png", "out.musicxml"),
        ("transcribe", "clip.wav", "out.mid"),
        ("synthesize", "notes.mid", "out.wav"),
        ("render", "system.lmx", "out.png"),
        ("score2audio", "system.png", "out.wav"),
        ("audio2score", "clip.wav", "out.png"),
    ],
)
def test_translation_commands_write_valid_files(command, source, output, model_dir, inputs, tmp_path, capsys):
    target = tmp_path / output
    assert main([command, str(inputs / source), str(target), "--model", str(model_dir), "--max-new-tokens", "24"]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    data = target.read_bytes()
    if output.endswith(".musicxml"):
        assert "<score-partwise" in data.decode() and (tmp_path / "out.lmx").is_file()
    elif output.endswith(".mid"):
        assert data.startswith(b"MThd")
    elif output.endswith(".wav"):
        audio, rate = soundfile.read(io.BytesIO(data))
        assert rate == 44100 and np.isfinite(audio).all()
    else:
        assert Image.open(io.BytesIO(data)).mode == "L"


def test_translator_python_api_and_errors(model_dir, inputs, tmp_path, capsys):
    translator = UMustTranslator.from_pretrained(model_dir)
    xml = translator.translate(Image.open(inputs / "system.png"), task="omr", max_new_tokens=8)[0]
    assert "<score-partwise" in xml
    assert main(["omr", str(inputs / "missing.png"), str(tmp_path / "x.musicxml"), "--model", str(model_dir)]) == 2
    assert "input" in capsys.readouterr().err
    assert main(["omr", str(inputs / "system.png"), str(tmp_path / "x.wav"), "--model", str(model_dir)]) == 2
    assert "should be a notation file" in capsys.readouterr().err
    assert main(["omr", str(inputs / "system.png"), str(tmp_path / "x.musicxml"), "--model", str(tmp_path)]) == 2
    assert "is not a saved U-MUST model" in capsys.readouterr().err


def test_a_transcribed_note_left_sounding_ends_with_its_recording(model_dir, inputs, monkeypatch):
    """The decoder holds a note the model never released to the end of the 20 s segment; a transcription
    ends it with the clip instead (here 1 s of audio), in the translator and in the evaluation runner."""
    from umust_hf.data.audio_io import read_midi_notes
    from umust_hf.evaluation.generation import ModelRunner
    from umust_hf.vocabulary import EOS_ID, PAD_ID, SOS_ID

    translator = UMustTranslator.from_pretrained(model_dir)
    layout, vocabulary = MidiTokenizer().layout, translator.processor.unified_vocabulary
    held = vocabulary.local_to_unified([layout.tie, layout.program0, layout.velocity0 + 1, layout.pitch0 + 60,
                                        layout.shift0 + 30, layout.pitch0 + 64], "midi").tolist()

    def generate(**inputs_):
        rows = inputs_["input_ids"].shape[0]
        out = torch.full((rows, len(held) + 2, 4), PAD_ID)
        out[:, :, 0] = torch.tensor([SOS_ID, *held, EOS_ID])
        return out

    monkeypatch.setattr(translator.model, "generate", generate)
    clip, rate = soundfile.read(inputs / "clip.wav", dtype="float32")
    midi = translator.translate({"audio": clip, "sampling_rate": rate}, task="amt")[0]
    assert [(n.pitch, n.start, n.end) for n in read_midi_notes(midi)] == [(60, 0.0, 1.0), (64, 0.3, 1.0)]

    runner = ModelRunner(UMustTranslator.from_pretrained(model_dir))
    monkeypatch.setattr(runner.model, "generate", generate)
    notes = runner.transcribe_batch([clip, clip[: rate // 2]], rate)
    assert notes[0].tolist() == [[0.0, 1.0, 60], [0.3, 1.0, 64]]
    assert notes[1].tolist() == [[0.0, 0.5, 60], [0.3, 0.5, 64]]


def test_audio_is_sampled_by_default_with_a_seed_and_everything_else_greedy(model_dir, inputs, tmp_path, monkeypatch):
    """The official engine's decoding: audio outputs sampled (temperature 1, fixed seed), the rest greedy;
    --greedy / --sample and --seed override it."""
    translator = UMustTranslator.from_pretrained(model_dir)
    midi = (inputs / "notes.mid").read_bytes()
    first = translator.translate(midi, task="m2a", max_new_tokens=24)[0]
    assert np.array_equal(translator.translate(midi, task="m2a", max_new_tokens=24)[0], first)  # seeded
    greedy = translator.translate(midi, task="m2a", max_new_tokens=24, do_sample=False)[0]
    assert not np.array_equal(greedy, first)
    other_seed = translator.translate(midi, task="m2a", max_new_tokens=24, sampling_seed=1)[0]
    assert not np.array_equal(other_seed, first)

    import umust_hf.translation as translation

    calls = []
    decoding_for = translation.decoding_for

    def spy(target, kwargs):  # what model.generate receives
        calls.append(decoding_for(target, kwargs))
        return calls[-1]

    monkeypatch.setattr(translation, "decoding_for", spy)
    for command, source, output, extra, sampled, seed in [
        ("synthesize", "notes.mid", "a.wav", [], True, 0),
        ("synthesize", "notes.mid", "b.wav", ["--greedy"], False, None),
        ("score2audio", "system.png", "c.wav", ["--seed", "5"], True, 5),
        ("omr", "system.png", "d.musicxml", [], False, None),
        ("render", "system.lmx", "e.png", ["--sample", "--top-k", "5"], True, 0),
    ]:
        args = [command, str(inputs / source), str(tmp_path / output), "--model", str(model_dir),
                "--max-new-tokens", "8", *extra]
        assert main(args) == 0
        assert calls[-1]["do_sample"] is sampled and calls[-1].get("sampling_seed") == seed, command
    assert calls[-1]["top_k"] == 5
    assert "temperature" not in calls[3] and "top_k" not in calls[3]  # greedy OMR: sampling options dropped
