"""MidiTokenizer: vocabulary layout, Auto loading, segments with ties, MIDI round trips, lenient decoding."""

from __future__ import annotations

import io
import json
import logging
import random

import mir_eval
import numpy as np
import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from umust_hf.errors import UserError
from umust_hf.processing.notes import Note, read_midi, write_midi
from umust_hf.processing.tokenization_lmx import LMXTokenizer
from umust_hf.processing.tokenization_midi import MidiDecodeError, MidiTokenizer
from umust_hf.vocabulary import DEFAULT_MIDI_SIZE, SPECIAL_TOKENS, UnifiedVocabulary
from helpers import quiet_repairs


@pytest.fixture(scope="module")
def tok() -> MidiTokenizer:
    return MidiTokenizer()


def words(tok: MidiTokenizer, ids: list[int]) -> str:
    return " ".join(tok.convert_ids_to_tokens(ids))


def note_f1(reference: list[Note], estimate: list[Note], tolerance: float = 0.01) -> dict:
    """mir_eval note F1 per instrument: with offsets for pitched notes, onsets only for drums."""
    scores = {}
    for instrument in {n.instrument for n in reference} | {n.instrument for n in estimate}:
        ref = [n for n in reference if n.instrument == instrument]
        est = [n for n in estimate if n.instrument == instrument]

        def intervals(notes):
            return np.array([[n.onset, max(n.offset, n.onset + 1e-3)] for n in notes]).reshape(-1, 2)

        def hz(notes):
            return mir_eval.util.midi_to_hz(np.array([n.pitch for n in notes], dtype=float))

        offsets = {} if instrument[0] else {"offset_ratio": 1e-9, "offset_min_tolerance": tolerance + 1e-6}
        if instrument[0]:
            offsets["offset_ratio"] = None
        _, _, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
            intervals(ref), hz(ref), intervals(est), hz(est), onset_tolerance=tolerance + 1e-6, **offsets
        )
        scores[instrument] = f1
    return scores


def band_midi(seconds: float = 65.0, seed: int = 0) -> bytes:
    """Piano (with notes held across the 20 s boundaries), violin, bass and drums, written by pretty_midi."""
    rng = random.Random(seed)
    midi = pretty_midi.PrettyMIDI(initial_tempo=100)
    for program, low, high in ((0, 40, 84), (40, 55, 96), (33, 28, 52)):
        instrument = pretty_midi.Instrument(program=program)
        t = 0.0
        while t < seconds:
            length = rng.uniform(0.05, 1.5)
            instrument.notes.append(pretty_midi.Note(rng.randint(20, 120), rng.randint(low, high), t, t + length))
            t += rng.uniform(0.05, 0.8)
        if program == 0:  # long notes held over each segment boundary
            for boundary in (20.0, 40.0, 60.0):
                instrument.notes.append(pretty_midi.Note(90, 30, boundary - 3.217, boundary + 2.5))
        midi.instruments.append(instrument)
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    for k in range(int(seconds * 4)):
        drums.notes.append(pretty_midi.Note(100, rng.choice([36, 38, 42]), k * 0.25 + 0.003, k * 0.25 + 0.05))
    midi.instruments.append(drums)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- layout
def test_vocabulary_fits_the_unified_layout(tok):
    assert tok.num_tokens == DEFAULT_MIDI_SIZE == 2001 + 128 + 2 + 1 + 128 + 128
    assert tok.convert_ids_to_tokens([0, 1, 2, 3]) == list(SPECIAL_TOKENS)
    # ids counted by hand from the layout: 4 + 2001 shifts, 128 pitches, 2 velocities, tie, 128 programs
    assert tok.convert_ids_to_tokens([4, 2004, 2005, 2132, 2133, 2134, 2135, 2136, 2263, 2264, 2391]) == [
        "shift:0", "shift:2000", "pitch:0", "pitch:127", "velocity:0", "velocity:1", "tie",
        "program:0", "program:127", "drum:0", "drum:127",
    ]
    assert tok.segment_seconds == 20.0
    vocab = UnifiedVocabulary()
    ids = [4, tok.vocab_size - 1, 2]
    unified = vocab.to_bundle(ids, "midi")[:, 0]
    assert unified[0] == vocab.id_range("midi").start and unified[1] == vocab.id_range("midi").stop - 1
    assert vocab.from_bundle(vocab.to_bundle(ids, "midi"), "midi").tolist() == ids


def test_auto_tokenizer_never_confuses_the_two_tokenizers(tmp_path):
    import umust_hf  # noqa: F401  (registers the tokenizers)
    from transformers import AutoTokenizer

    MidiTokenizer(max_shift_steps=501, default_velocity=80).save_pretrained(tmp_path / "midi")
    LMXTokenizer().save_pretrained(tmp_path / "lmx")
    midi = AutoTokenizer.from_pretrained(tmp_path / "midi")
    assert type(midi) is MidiTokenizer
    assert (midi.max_shift_steps, midi.default_velocity, midi.segment_seconds) == (501, 80, 5.0)
    assert type(AutoTokenizer.from_pretrained(tmp_path / "lmx")) is LMXTokenizer
    # a vocab.json that disagrees with the settings is refused
    vocab = json.loads((tmp_path / "midi" / "vocab.json").read_text())
    vocab["tie"], vocab["pitch:0"] = vocab["pitch:0"], vocab["tie"]
    (tmp_path / "midi" / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(ValueError, match="does not match"):
        AutoTokenizer.from_pretrained(tmp_path / "midi")


# ----------------------------------------------------------------------------- events
def test_segments_start_with_the_tie_section(tok):
    notes = [Note(0.5, 25.0, 60, 90, 0), Note(21.0, 21.5, 64, 50, 41), Note(1.0, 1.05, 36, 100, 0, True)]
    first, second = tok.encode_notes(notes)
    assert words(tok, first) == "tie shift:50 program:0 velocity:1 pitch:60 shift:100 drum:36 <eos>"
    assert words(tok, second) == (
        "program:0 pitch:60 tie shift:100 program:41 velocity:1 pitch:64 shift:150 velocity:0 pitch:64 "
        "shift:500 program:0 pitch:60 <eos>"
    )
    decoded = tok.decode_segments([first, second], strict=True)
    assert [(n.onset, n.offset, n.pitch, n.program, n.is_drum) for n in decoded] == [
        (0.5, 25.0, 60, 0, False), (1.0, 1.1, 36, 0, True), (21.0, 21.5, 64, 41, False),
    ]
    assert all(n.velocity == 100 for n in decoded)  # on/off velocity: a fixed velocity comes back


def test_offset_at_a_segment_boundary_uses_the_last_shift(tok):
    (segment,) = tok.encode_notes([Note(0.0, 20.0, 70)])
    assert words(tok, segment) == "tie program:0 velocity:1 pitch:70 shift:2000 velocity:0 pitch:70 <eos>"


def test_too_long_segments_are_refused(tok):
    with pytest.raises(ValueError, match="at most 20.0 s"):
        tok.encode_notes([Note(0, 1, 60)], segment_seconds=30)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 70), st.floats(0, 8), st.integers(0, 127), st.integers(1, 127),
            st.sampled_from([0, 0, 1, 33, 40, 127]), st.booleans(),
        ),
        max_size=80,
    ),
    st.sampled_from([20.0, 7.5, 1.0]),
)
def test_random_note_lists_round_trip(raw, segment_seconds):
    tok = MidiTokenizer()
    notes = [Note(on, on + length, pitch, vel, prog, drum) for on, length, pitch, vel, prog, drum in raw]
    segments = tok.encode_notes(notes, segment_seconds=segment_seconds)
    decoded = tok.decode_segments(segments, segment_seconds=segment_seconds, strict=True)
    assert decoded == tok.quantize(notes)
    assert tok.quantize(decoded) == decoded  # quantized notes are a fixed point
    # every input note survives within 10 ms unless another note of its pitch and instrument hides it
    kept = {(n.instrument, n.pitch, round(n.onset * 100)) for n in decoded}
    for n in notes:
        assert (n.instrument, n.pitch, round(n.onset * 100)) in kept


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.integers(-3, 2400), max_size=60), min_size=1, max_size=4))
def test_random_ids_never_raise_in_lenient_decoding(segments):
    tok = MidiTokenizer()
    with quiet_repairs():
        notes = tok.decode_segments(segments)
    assert all(0 <= n.onset < n.offset for n in notes)
    assert write_midi(notes)[:4] == b"MThd"


def test_ill_formed_events_raise_in_strict_mode_and_are_skipped_in_lenient(tok, caplog):
    ids = tok.convert_tokens_to_ids("tie shift:10 pitch:60 velocity:1 pitch:61 shift:5 velocity:0 pitch:62".split())
    with pytest.raises(MidiDecodeError, match="pitch without velocity"):
        tok.decode_segments([ids], strict=True)
    with caplog.at_level(logging.WARNING):
        notes = tok.decode_segments([ids])
    for kind in ("1 backward shift", "1 offset without onset", "1 pitch without velocity", "1 note without offset"):
        assert kind in caplog.text
    # the onset survives and, never ended, closes at the end of the segment
    assert [(n.onset, n.offset, n.pitch) for n in notes] == [(0.1, 20.0, 61)]
    # or, given where the recording ends, at its end (never before one step after the onset)
    held = tok.convert_tokens_to_ids("tie shift:10 program:0 velocity:1 pitch:61".split())
    assert [(n.onset, n.offset) for n in tok.decode_segments([held], end_seconds=3.0, strict=True)] == [(0.1, 3.0)]
    with quiet_repairs():
        assert [(n.onset, n.offset) for n in tok.decode_segments([ids], end_seconds=3.0)] == [(0.1, 3.0)]
        assert [(n.onset, n.offset) for n in tok.decode_segments([ids], end_seconds=0.05)] == [(0.1, 0.11)]
        assert [(n.onset, n.offset) for n in tok.decode_segments([ids], end_seconds=99.0)] == [(0.1, 20.0)]
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="end_seconds"):
            tok.decode_segments([ids], end_seconds=bad)
    with pytest.raises(MidiDecodeError, match="outside the vocabulary"):
        tok.decode_segments([[4, 5000]], strict=True)


# ----------------------------------------------------------------------------- files
def test_multi_instrument_midi_with_drums_round_trips_through_segments(tok, tmp_path):
    data = band_midi()
    reference = read_midi(data)
    assert {n.instrument for n in reference} == {(False, 0), (False, 40), (False, 33), (True, 0)}
    segments = tok.encode_midi(data)
    assert len(segments) == 4
    held = tok.convert_tokens_to_ids(["pitch:30", "tie"])
    for segment in segments[1:]:  # the long piano note is declared in the tie section
        tie = segment.index(held[1])
        assert held[0] in segment[:tie]
    out = tmp_path / "band.mid"
    written = tok.decode_to_midi(segments, out, strict=True)
    assert out.read_bytes() == written
    scores = note_f1(reference, read_midi(written))
    assert scores == {instrument: 1.0 for instrument in scores}, scores
    # an independent reader agrees on programs and the drum channel
    parsed = pretty_midi.PrettyMIDI(str(out))
    assert sorted((i.is_drum, i.program) for i in parsed.instruments) == [(False, 0), (False, 33), (False, 40), (True, 0)]


def test_program_changes_precede_notes_at_time_zero(tok):
    import mido

    data = write_midi([Note(0.0, 1.0, 60, 80, 40), Note(0.0, 1.0, 62, 80, 0)])
    for track in mido.MidiFile(file=io.BytesIO(data)).tracks:
        kinds = [m.type for m in track if not m.is_meta]
        if "note_on" in kinds:
            assert kinds.index("program_change") < kinds.index("note_on")


def test_embedded_corpus_midi_round_trips_within_10_ms(embedded_corpus_dir, tok):
    import datasets

    corpus = datasets.load_from_disk(str(embedded_corpus_dir))
    checked = 0
    for split in corpus.values():
        for row in split.select_columns(["id", "midi"]):
            reference = read_midi(row["midi"])
            estimate = read_midi(tok.decode_to_midi(tok.encode_midi(row["midi"]), strict=True))
            assert len(estimate) == len(reference), row["id"]
            scores = note_f1(reference, estimate)
            assert min(scores.values()) == 1.0, (row["id"], scores)
            checked += 1
    assert checked >= 12


def test_unreadable_midi_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read MIDI"):
        read_midi(b"not a midi file")
    with pytest.raises(UserError, match="missing.mid"):
        read_midi(tmp_path / "missing.mid")


def test_call_with_notes_returns_padded_segments(tok):
    batch = tok(notes=[Note(0.5, 25.0, 60), Note(1, 2, 62)], padding=True, return_tensors="pt")
    assert batch["input_ids"].shape[0] == 2 and batch["attention_mask"].shape == batch["input_ids"].shape
    assert batch["attention_mask"].sum(1).tolist() == [
        len(s) for s in tok.encode_notes([Note(0.5, 25.0, 60), Note(1, 2, 62)])
    ]
    assert tok.decode_segments(batch["input_ids"]) == tok.quantize([Note(0.5, 25.0, 60), Note(1, 2, 62)])
    # one segment given as a flat array or a list of numpy ints is one segment, not a batch
    first = batch["input_ids"][0].numpy()
    assert tok.decode_segments(first) == tok.decode_segments([first.tolist()]) == tok.decode_segments(list(first))


def test_read_midi_follows_tempo_and_program_changes_like_pretty_midi():
    import mido

    midi = mido.MidiFile(ticks_per_beat=480)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500_000, time=0),
                                mido.MetaMessage("set_tempo", tempo=250_000, time=960)])
    player = mido.MidiTrack()
    events = [  # (absolute tick, message)
        (0, mido.Message("program_change", program=5, channel=0)),
        (0, mido.Message("note_on", note=60, velocity=70, channel=0)),
        (480, mido.Message("note_off", note=60, channel=0)),
        (1440, mido.Message("note_on", note=62, velocity=70, channel=0)),
        (1600, mido.Message("program_change", program=20, channel=0)),
        (1700, mido.Message("note_on", note=64, velocity=70, channel=0)),
        (1920, mido.Message("note_off", note=62, channel=0)),
        (2000, mido.Message("note_off", note=64, channel=0)),
        (2000, mido.Message("note_on", note=38, velocity=90, channel=9)),
        (2100, mido.Message("note_off", note=38, channel=9)),
    ]
    tick = 0
    for at, message in events:
        player.append(message.copy(time=at - tick))
        tick = at
    midi.tracks += [conductor, player]
    buffer = io.BytesIO()
    midi.save(file=buffer)

    notes = read_midi(buffer.getvalue())
    ours = sorted((round(n.onset, 4), round(n.offset, 4), n.pitch, n.is_drum) for n in notes)
    parsed = pretty_midi.PrettyMIDI(io.BytesIO(buffer.getvalue()))
    theirs = sorted((round(n.start, 4), round(n.end, 4), n.pitch, i.is_drum) for i in parsed.instruments for n in i.notes)
    assert ours == theirs  # times through the tempo change agree with an independent reader
    # a note keeps the program active at its onset (pretty_midi would use the one at its release)
    assert {(n.pitch, n.program) for n in notes} == {(60, 5), (62, 5), (64, 20), (38, 0)}


def test_sustain_pedal_extends_offsets_only_when_asked():
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(80, 60, 0.0, 0.5))
    piano.control_changes += [pretty_midi.ControlChange(64, 127, 0.1), pretty_midi.ControlChange(64, 0, 2.0)]
    midi.instruments.append(piano)
    buffer = io.BytesIO()
    midi.write(buffer)
    assert [n.offset for n in read_midi(buffer.getvalue())] == [pytest.approx(0.5, abs=2e-3)]
    assert [n.offset for n in read_midi(buffer.getvalue(), sustain_pedal=True)] == [pytest.approx(2.0, abs=2e-3)]
