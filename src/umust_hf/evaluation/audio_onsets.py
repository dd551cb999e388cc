"""Onset F1 of audio without a transcriber: where notes start, not which notes.

Used to score codec reconstructions against their excerpt's MIDI onsets (the package has no
pitched transcriber that works without training). Pitched note F1 is :mod:`.note_f1`; the
paper's tempo-free score of generated audio is :mod:`.dtw`.
"""

from __future__ import annotations

import numpy as np

#: MIDI onsets closer than this (chords, rolled chords) count as one onset event.
ONSET_MERGE_SECONDS = 0.03


def merge_onsets(times: np.ndarray, within: float = ONSET_MERGE_SECONDS) -> np.ndarray:
    """Sorted onset times with each run of onsets less than ``within`` apart kept once (its first)."""
    times = np.sort(np.asarray(times, dtype=np.float64))
    if len(times) == 0:
        return times
    keep = [times[0]]
    for t in times[1:]:
        if t - keep[-1] >= within:
            keep.append(t)
    return np.asarray(keep)


def detect_onsets(audio: np.ndarray, sr: int) -> np.ndarray:
    """Onset times (seconds) of mono ``audio (samples,)``: librosa's spectral-flux onset detector.

    It needs no optional package, so reconstructions can always be scored on onsets (where notes
    start, not which notes); :mod:`.audio_pitch` and, with basic-pitch installed,
    :mod:`.transcribers` check the pitches.
    """
    import librosa  # heavy: librosa

    audio = np.asarray(audio, dtype=np.float32)
    if not np.any(audio):
        return np.zeros(0)
    return merge_onsets(librosa.onset.onset_detect(y=audio, sr=sr, units="time"))


def onset_f1(reference_onsets: list[np.ndarray], audios: list[np.ndarray], sr: int, window: float = 0.05) -> float | None:
    """Onset F1 pooled over clips: detected onsets of each audio against its reference onsets.

    Reference onsets after the audio's end are dropped; one-to-one matching within ``window``
    seconds (mir_eval's, the paper's 50 ms). ``None`` when no clip has a reference onset.
    """
    import mir_eval  # heavy: mir_eval

    matched = n_ref = n_est = 0
    for reference, audio in zip(reference_onsets, audios, strict=True):
        reference = np.asarray(reference, dtype=np.float64)
        reference = reference[reference < len(audio) / sr]
        estimated = detect_onsets(audio, sr)
        matched += len(mir_eval.util.match_events(reference, estimated, window)) if len(reference) and len(estimated) else 0
        n_ref, n_est = n_ref + len(reference), n_est + len(estimated)
    if n_ref == 0:
        return None
    return 2.0 * matched / (n_ref + n_est)
