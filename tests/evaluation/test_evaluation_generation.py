"""``ModelRunner``'s batched translations give what one source at a time gives (greedy, padded batches).

The reference is the path the runner took before it batched: ``UMustTranslator.generate`` on a
one-item source. Per-row length limits (the ``tiny_runner``'s ``length_ratios``) make the rows
of a batch stop at different lengths, so padding and finished rows are both exercised.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from umust_hf.data.audio_io import read_midi_notes
from umust_hf.errors import UserError
from umust_hf.evaluation.generation import ModelRunner, chunks
from umust_hf.evaluation.notes import as_note_array
from umust_hf.processing.notes import Note
from umust_hf.vocabulary import EOS_ID, PAD_ID

from helpers import midi_of, staff_image

LMX = ["measure key:fifths:0 time beats:4 beat-type:4 clef:G2 C4 quarter",
       "measure clef:G2 E4 half",
       "measure key:fifths:1 time beats:3 beat-type:4 clef:F4 G2 quarter A2 quarter B2 quarter chord D3 quarter"]
RATES = [22050, 44100, 16000]


@pytest.fixture(scope="module")
def sources():
    return {
        "images": [staff_image(width, seed) for seed, width in enumerate((96, 160, 64))],
        "audio": [(0.2 * np.sin(np.arange(int(s * r)) * 0.05 * (i + 1))).astype(np.float32)
                  for i, (s, r) in enumerate(zip((0.3, 0.6, 0.45), RATES))],
        "midi": [midi_of(2.0, 60), midi_of(22.0, 55, every=4.0), midi_of(0.5, 72)],
        "text": LMX,
    }


@pytest.fixture(scope="module")
def runner(tiny_runner):
    return tiny_runner


def one_at_a_time(runner, source: dict, target: str):
    """The runner's translation before batching: one source per generate call."""
    return runner.translator.generate(source, target)  # the default decoding: audio sampled, per-row seeds


def reference_notes(runner, audio, rate) -> np.ndarray:
    midi = runner.processor.decode(one_at_a_time(runner, {"audio": [audio], "sampling_rate": rate}, "midi"), "midi",
                                   end_seconds=len(audio) / rate)[0]  # a held note ends with the clip
    try:
        return as_note_array(read_midi_notes(midi) if midi else [])
    except UserError:
        return as_note_array([])


@pytest.fixture(scope="module")
def reference(runner, sources):
    decode = runner.processor.decode
    return {
        "omr": [runner.translator.lmx_of(one_at_a_time(runner, {"images": [image]}, "notation"))[0]
                for image in sources["images"]],
        "amt": [reference_notes(runner, audio, rate) for audio, rate in zip(sources["audio"], RATES)],
        "m2a": [np.concatenate(decode(one_at_a_time(runner, {"midi": [midi]}, "audio"), "audio"))
                for midi in sources["midi"]],
        "i2a": [decode(one_at_a_time(runner, {"images": [image]}, "audio"), "audio")[0] for image in sources["images"]],
        "l2i": [decode(one_at_a_time(runner, {"text": [text]}, "image"), "image")[0] for text in sources["text"]],
        "a2i": [decode(one_at_a_time(runner, {"audio": [audio], "sampling_rate": rate}, "image"), "image")[0]
                for audio, rate in zip(sources["audio"], RATES)],
    }


def batched(runner, sources) -> dict[str, list]:
    return {
        "omr": runner.read_notation_batch(sources["images"]),
        "amt": runner.transcribe_batch(sources["audio"], RATES),
        "m2a": [audio for audio, _ in runner.synthesize_batch(midi=sources["midi"])],
        "i2a": [audio for audio, _ in runner.synthesize_batch(images=sources["images"])],
        "l2i": runner.render_batch(text=sources["text"]),
        "a2i": runner.render_batch(audio=sources["audio"], sampling_rate=RATES),
    }


def assert_same(task: str, got: list, expected: list) -> None:
    assert len(got) == len(expected), task
    for index, (a, b) in enumerate(zip(got, expected)):
        if isinstance(b, Image.Image):
            a, b = np.asarray(a), np.asarray(b)
        if isinstance(b, str):
            assert a == b, (task, index)
        else:
            assert a.shape == b.shape and np.array_equal(a, b), (task, index)


def test_the_reference_exercises_padding_segments_and_per_row_lengths(runner, sources, reference):
    lengths = [len(runner.processor.encode_images([image])[0]) for image in sources["images"]]
    assert len(set(lengths)) == len(lengths)  # every batch is padded
    assert len(runner.processor.encode_midi(sources["midi"][1])) == 2  # 22 s: two 20 s segments
    assert len({len(audio) for audio in reference["i2a"]}) > 1  # rows stop at their own length limits
    assert all(audio.size for audio in reference["m2a"] + reference["i2a"])
    assert all(np.asarray(image).min() < 255 for image in reference["l2i"] + reference["a2i"])  # whole columns


@pytest.mark.parametrize("batch_size", [8, 2])
def test_batched_translations_equal_one_at_a_time(runner, sources, reference, batch_size, monkeypatch):
    generate, calls = runner.model.generate, []

    def counted(**inputs):
        calls.append(inputs["input_ids"].shape[0])
        return generate(**inputs)

    monkeypatch.setattr(runner, "batch_size", batch_size)
    monkeypatch.setattr(runner.model, "generate", counted)
    outputs = batched(runner, sources)
    for task, expected in reference.items():
        assert_same(task, outputs[task], expected)
    assert max(calls) == min(batch_size, 4)  # m2a has 4 rows: the 22 s MIDI gives two
    if batch_size == 2:  # chunked: 3 sources -> 2 + 1 rows (m2a: 2 + 2)
        assert calls[:2] == [2, 1] and len(calls) == 6 * 2


def test_single_item_methods_wrap_the_batched_ones(runner, sources, reference):
    image, audio, rate, midi = sources["images"][1], sources["audio"][1], RATES[1], sources["midi"][1]
    assert runner.read_notation(image) == reference["omr"][1]
    assert np.array_equal(runner.transcribe(audio, rate), reference["amt"][1])
    for source in ({"midi": [midi]}, {"midi": midi}):
        generated, out_rate = runner.synthesize(**source)
        assert out_rate == 44100 and np.array_equal(generated, reference["m2a"][1])
    assert np.array_equal(runner.synthesize(images=[image])[0], reference["i2a"][1])
    assert np.array_equal(np.asarray(runner.render(text=[LMX[1]])), np.asarray(reference["l2i"][1]))
    rendered = runner.render(audio=[audio], sampling_rate=rate)
    assert np.array_equal(np.asarray(rendered), np.asarray(reference["a2i"][1]))
    notes = [Note(0.0, 0.5, 60), Note(0.5, 1.0, 64)]  # a note list is one MIDI source
    assert runner.synthesize(midi=notes)[0].size


def test_a_model_that_ends_at_once_gives_empty_audio_and_no_notes(runner, sources, monkeypatch):
    generate, calls = runner.model.generate, []

    def ends_short_sources_at_once(**inputs):  # rows of short sources: EOS right after SOS
        calls.append(inputs["input_ids"].shape[0])
        generated = generate(**inputs)
        short = inputs["attention_mask"].sum(dim=1) < 15
        generated[short, 1:] = PAD_ID
        generated[short, 1, 0] = EOS_ID
        return generated

    monkeypatch.setattr(runner.model, "generate", ends_short_sources_at_once)
    short, long = midi_of(0.5, 72), midi_of(4.0, 64)
    assert len(runner.processor.encode_midi(short)[0]) < 15 <= len(runner.processor.encode_midi(long)[0])
    (empty, rate), (full, _) = runner.synthesize_batch(midi=[short, long])
    assert empty.shape == (0,) and empty.dtype == np.float32 and rate == 44100 and full.size
    calls.clear()
    notes = runner.transcribe_batch([empty, full, np.zeros(100, np.float32)], rate, min_seconds=0.1)
    assert [n.shape for n in notes[::2]] == [(0, 3), (0, 3)]
    assert calls == [1]  # only the clip of at least 0.1 s went through the model
    assert runner.transcribe(empty, rate).shape == (0, 3)
    assert runner.read_notation_batch([]) == [] and runner.synthesize_batch(midi=[]) == []


def test_an_image_too_wide_for_the_model_is_refused_or_read_up_to_what_fits(runner, monkeypatch, caplog):
    wide = staff_image(16 * 100, 0)  # 100 token columns of 12
    limit = runner.model.config.max_positions("image")
    assert len(runner.processor.encode_images([wide])[0]) > limit
    with pytest.raises(UserError, match="exceeds max_image_positions"):
        runner.read_notation_batch([wide])
    read = []
    monkeypatch.setattr(runner, "_translate", lambda per_item, *args: read.extend(per_item) or [
        [np.zeros((1, 4), dtype=np.int64)] for _ in per_item])
    runner.read_notation_batch([wide, staff_image(96, 1)], fit=True)
    (cut,), (narrow,) = read
    rows = runner.processor.image_processor.system_height // runner.processor.image_processor.patch_size
    assert limit - rows < len(cut) <= limit and len(cut) % rows == 0
    assert np.array_equal(cut, runner.processor.encode_images([wide])[0][: len(cut)])
    assert len(narrow) == len(runner.processor.encode_images([staff_image(96, 1)])[0])  # untouched
    assert "image 0 encodes to" in caplog.text and "reading its first" in caplog.text


def test_bad_inputs_get_clear_errors(runner, sources):
    with pytest.raises(UserError, match="exactly one of midi, images"):
        runner.synthesize_batch(midi=sources["midi"], images=sources["images"])
    with pytest.raises(UserError, match="takes a list"):
        runner.read_notation_batch(sources["images"][0])
    with pytest.raises(UserError, match="sampling_rate"):
        runner.render_batch(audio=sources["audio"])
    with pytest.raises(UserError, match="2 sampling rates for 3"):
        runner.transcribe_batch(sources["audio"], RATES[:2])
    with pytest.raises(UserError, match="holds 2 sources"):
        runner.synthesize(midi=sources["midi"][:2])
    with pytest.raises(UserError, match="at least 1"):
        list(chunks([1, 2], 0))
    with pytest.raises(UserError, match="batch_size"):
        ModelRunner(runner.translator, batch_size=0)
