"""Performance MIDI -> 44.1 kHz mono audio with the General MIDI SoundFont pretty_midi ships.

``midirenderer`` renders 48 kHz stereo WAV bytes; we downmix and resample (polyphase,
48000 * 147 / 160 = 44100), cut the release tail to at most :data:`MAX_TAIL_SECONDS`
past the last note-off, and never return audio shorter than the MIDI.
"""

from __future__ import annotations

import functools
import io
from math import gcd
from pathlib import Path

import numpy as np

from ...constants import SAMPLE_RATE

#: Longest release tail kept after the last note-off, in seconds.
MAX_TAIL_SECONDS = 1.0
#: Peak level after normalisation (about -1 dBFS).
PEAK = 0.89


def soundfont_path() -> Path:
    """``TimGM6mb.sf2``, the General MIDI SoundFont inside the pretty_midi package."""
    import pretty_midi  # heavy: pretty_midi

    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"SoundFont not found at {path} (is pretty_midi installed completely?)")
    return path


@functools.lru_cache(maxsize=1)
def _soundfont_bytes() -> bytes:
    return soundfont_path().read_bytes()


def synthesize(midi_bytes: bytes, end_seconds: float) -> np.ndarray:
    """Float32 mono audio at 44.1 kHz, shape ``(num_samples,)``.

    ``end_seconds`` is the last note-off; the result is at least that long and at most
    ``end_seconds + MAX_TAIL_SECONDS``.
    """
    import midirenderer  # heavy: midirenderer
    import soundfile  # heavy: soundfile
    from scipy.signal import resample_poly  # heavy: scipy

    wav = midirenderer.render_wave_from(_soundfont_bytes(), midi_bytes)
    data, rate = soundfile.read(io.BytesIO(bytes(wav)), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if rate != SAMPLE_RATE:
        divisor = gcd(rate, SAMPLE_RATE)
        mono = resample_poly(mono, SAMPLE_RATE // divisor, rate // divisor).astype(np.float32)
    minimum = int(np.ceil(end_seconds * SAMPLE_RATE))
    maximum = int(np.floor((end_seconds + MAX_TAIL_SECONDS) * SAMPLE_RATE))
    mono = mono[:maximum]
    if mono.shape[0] < minimum:
        mono = np.pad(mono, (0, minimum - mono.shape[0]))
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak > 0:
        mono = mono * (PEAK / peak)
    fade = min(int(0.05 * SAMPLE_RATE), mono.shape[0])
    if mono.shape[0] > minimum + fade:
        mono[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return mono.astype(np.float32)


def encode_flac(audio: np.ndarray, sampling_rate: int = SAMPLE_RATE) -> bytes:
    """16-bit FLAC bytes of a mono float signal (lossless for what the SoundFont produced)."""
    import soundfile  # heavy: soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, audio, sampling_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()
