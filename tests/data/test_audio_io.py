"""decode_audio / read_midi_notes: the readers other modules use for our audio and MIDI columns."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from umust_hf.data.audio_io import decode_audio, read_midi_notes
from umust_hf.errors import UserError


def stereo_flac() -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(0)
    samples = (rng.uniform(-0.5, 0.5, size=(4410, 2))).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, 44100, format="FLAC", subtype="PCM_24")
    return buffer.getvalue(), samples


def test_decode_audio_accepts_bytes_cells_and_paths(tmp_path):
    data, samples = stereo_flac()
    mono, rate = decode_audio({"bytes": data, "path": None})
    assert rate == 44100 and mono.dtype == np.float32 and mono.shape == (4410,)
    np.testing.assert_allclose(mono, samples.mean(axis=1), atol=1e-5)
    both, _ = decode_audio(data, mono=False)
    assert both.shape == (4410, 2)
    path = tmp_path / "a.flac"
    path.write_bytes(data)
    np.testing.assert_array_equal(decode_audio(str(path))[0], mono)
    np.testing.assert_array_equal(decode_audio({"bytes": None, "path": str(path)})[0], mono)


def test_decode_audio_rejects_garbage_with_a_user_error():
    with pytest.raises(UserError, match="cannot decode audio"):
        decode_audio(b"not audio at all")
    with pytest.raises(UserError, match="neither bytes nor a path"):
        decode_audio({"bytes": None, "path": None})
    with pytest.raises(UserError, match="int"):
        decode_audio(3)


def test_read_midi_notes_sorts_notes_and_marks_drums():
    import pretty_midi

    midi = pretty_midi.PrettyMIDI()
    violin = pretty_midi.Instrument(program=40)
    violin.notes += [pretty_midi.Note(velocity=80, pitch=67, start=0.5, end=1.0), pretty_midi.Note(velocity=70, pitch=60, start=0.0, end=0.25)]
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.5, end=0.6))
    midi.instruments += [violin, drums]
    buffer = io.BytesIO()
    midi.write(buffer)
    notes = read_midi_notes(buffer.getvalue())
    assert [(n.pitch, n.program) for n in notes] == [(60, 40), (36, -1), (67, 40)]
    assert notes[0].start == pytest.approx(0.0) and notes[2].end == pytest.approx(1.0, abs=1e-3)
    assert notes[2].velocity == 80
    with pytest.raises(UserError, match="cannot read MIDI"):
        read_midi_notes(b"MThd garbage")
