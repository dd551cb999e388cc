"""DTW-aligned onset F1 for generated audio (paper §5.2 and Appendix B.1, Figure 7).

Generated audio need not keep the reference's tempo, so onset F1 is measured after
warping the time axis of the generated piano roll onto the reference's: both sides are
turned into piano rolls at ``fps`` frames per second, dynamic time warping finds the
cheapest monotonic frame alignment, and every generated note's onset and offset are
mapped through that path before mir_eval's onset F1 at 50/100/200 ms.

Both rolls start at their first onset, so leading silence costs nothing. The frame cost is
the cosine distance between frame features: the sounding pitches, the onsets (so repeated
notes stay distinguishable) and one "silence" feature (so silence matches silence). The
default step pattern limits the local tempo ratio to 1/2..2, so unrelated music cannot be
warped into spurious matches (free steps let random pairs of excerpts score a high "onset F1";
figures in ``docs/experiments.md``). The DTW is written here in numpy with anti-diagonal sweeps,
so it needs no JIT compile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .note_f1 import NoteF1Result, note_f1
from .notes import NoteInput, as_note_array
from .transcribers import Transcriber

#: Frames per second of the piano rolls (one MIDI time step of 10 ms).
DEFAULT_FPS = 100
DEFAULT_TOLERANCES = (0.05, 0.1, 0.2)

#: Largest DTW grid (reference frames x generated frames): about 1.3 GB of working memory,
#: e.g. two 100 s clips at 100 fps. Longer pieces: lower ``fps`` or evaluate per excerpt.
MAX_DTW_CELLS = 100_000_000

def notes_to_pianoroll(notes: NoteInput, *, fps: float = DEFAULT_FPS, num_frames: int | None = None) -> np.ndarray:
    """Binary piano roll ``(T, 128)``: frame t is on for pitch p while a note sounds.

    ``T`` defaults to one frame past the last offset.
    """
    array = as_note_array(notes)
    if num_frames is None:
        num_frames = int(np.ceil(array[:, 1].max() * fps)) + 1 if len(array) else 1
    roll = np.zeros((num_frames, 128), dtype=np.float32)
    for onset, offset, pitch in array:
        start = min(int(round(onset * fps)), num_frames - 1)
        stop = max(start + 1, min(int(round(offset * fps)), num_frames))
        roll[start:stop, int(pitch)] = 1.0
    return roll


def onset_roll(notes: NoteInput, *, fps: int = DEFAULT_FPS, num_frames: int, decay_frames: int = 5) -> np.ndarray:
    """Onset features ``(T, 128)``: 1 at each onset frame, fading linearly over ``decay_frames``."""
    array = as_note_array(notes)
    roll = np.zeros((num_frames, 128), dtype=np.float32)
    ramp = np.linspace(1.0, 0.0, decay_frames + 1, dtype=np.float32)[:-1]
    for onset, _, pitch in array:
        start = min(int(round(onset * fps)), num_frames - 1)
        stop = min(start + decay_frames, num_frames)
        segment = roll[start:stop, int(pitch)]
        np.maximum(segment, ramp[: stop - start], out=segment)
    return roll


def frame_features(notes: NoteInput, *, fps: int = DEFAULT_FPS, num_frames: int | None = None) -> np.ndarray:
    """DTW features ``(T, 257)``: sounding pitches, onsets, and a silence flag."""
    array = as_note_array(notes)
    roll = notes_to_pianoroll(array, fps=fps, num_frames=num_frames)
    onsets = onset_roll(array, fps=fps, num_frames=roll.shape[0])
    silence = (roll.sum(axis=1, keepdims=True) == 0).astype(np.float32)
    return np.concatenate([roll, onsets, silence], axis=1)


def cosine_cost(reference: np.ndarray, generated: np.ndarray) -> np.ndarray:
    """Cosine distance ``(N, M)`` between frames of ``reference (N, D)`` and ``generated (M, D)``."""
    ref = reference / np.maximum(np.linalg.norm(reference, axis=1, keepdims=True), 1e-9)
    gen = generated / np.maximum(np.linalg.norm(generated, axis=1, keepdims=True), 1e-9)
    return np.clip(1.0 - ref @ gen.T, 0.0, 2.0).astype(np.float32)


#: Step patterns: "slope2" allows steps (1,1), (2,1), (1,2), so the local tempo ratio stays
#: within 1/2..2 and a generated note cannot be dragged arbitrarily far to meet a reference
#: note; "classic" allows (1,1), (1,0), (0,1) (any warping).
STEP_PATTERNS = ("slope2", "classic")


def dtw_path(cost: np.ndarray, *, step_pattern: str = "slope2") -> np.ndarray:
    """Cheapest monotonic alignment through ``cost (N, M)`` from (0, 0) to (N-1, M-1).

    Every cell the path visits adds its cost once (for a (2, 1) step the cell passed over
    counts too, so a straight diagonal is not penalised against zig-zags).

    Returns:
        ``(L, 2)`` int array of (reference frame, generated frame) pairs in time order.

    Raises:
        ValueError: for an empty matrix, an oversized grid, or (``slope2``) lengths more than
            a factor 2 apart, which no slope-limited path can join.
    """
    if step_pattern not in STEP_PATTERNS:
        raise ValueError(f"unknown step pattern {step_pattern!r}; expected one of {STEP_PATTERNS}")
    if cost.ndim != 2 or 0 in cost.shape:
        raise ValueError(f"DTW needs a non-empty (N, M) cost matrix, got shape {cost.shape}")
    n, m = cost.shape
    if n * m > MAX_DTW_CELLS:
        raise ValueError(
            f"DTW grid of {n} x {m} frames exceeds {MAX_DTW_CELLS:,} cells; lower fps or evaluate shorter excerpts"
        )
    pad = 2  # acc[i + 2, j + 2] is the cheapest cost of a path ending at cell (i, j)
    acc = np.full((n + pad, m + pad), np.inf, dtype=np.float64)
    padded = np.zeros((n + pad, m + pad), dtype=np.float64)
    padded[pad:, pad:] = cost
    acc[pad, pad] = padded[pad, pad]
    step = np.zeros((n + pad, m + pad), dtype=np.int8)
    slope2 = step_pattern == "slope2"
    for d in range(1, n + m - 1):  # anti-diagonal i + j == d; predecessors lie on earlier ones
        i = np.arange(max(0, d - (m - 1)), min(n - 1, d) + 1) + pad
        j = d + 2 * pad - i
        if slope2:
            candidates = np.stack(
                [acc[i - 1, j - 1], acc[i - 2, j - 1] + padded[i - 1, j], acc[i - 1, j - 2] + padded[i, j - 1]]
            )
        else:
            candidates = np.stack([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]])
        best = np.argmin(candidates, axis=0)
        acc[i, j] = padded[i, j] + candidates[best, np.arange(len(i))]
        step[i, j] = best
    if not np.isfinite(acc[-1, -1]):
        raise ValueError(f"no slope-limited DTW path joins {n} and {m} frames (lengths differ by more than 2x)")
    path = [(n - 1, m - 1)]
    i, j = n - 1 + pad, m - 1 + pad
    while (i, j) != (pad, pad):
        move = step[i, j]
        if move == 0:
            i, j = i - 1, j - 1
        elif slope2 and move == 1:
            path.append((i - 1 - pad, j - pad))
            i, j = i - 2, j - 1
        elif slope2:
            path.append((i - pad, j - 1 - pad))
            i, j = i - 1, j - 2
        elif move == 1:
            i -= 1
        else:
            j -= 1
        path.append((i - pad, j - pad))
    return np.asarray(path[::-1], dtype=np.int64)


def warp_times(times: np.ndarray, path: np.ndarray, *, fps: int = DEFAULT_FPS) -> np.ndarray:
    """Map generated-side times (seconds) to reference time through a DTW ``path (L, 2)``.

    Each generated frame maps to the mean reference frame paired with it; times between
    frame centres are linearly interpolated.
    """
    gen_frames, inverse = np.unique(path[:, 1], return_inverse=True)
    ref_position = np.bincount(inverse, weights=path[:, 0]) / np.bincount(inverse)
    return np.interp(np.asarray(times, dtype=float) * fps, gen_frames, ref_position) / fps


def warp_notes(notes: NoteInput, path: np.ndarray, *, fps: int = DEFAULT_FPS) -> np.ndarray:
    """Generated notes ``(N, 3)`` with onsets and offsets warped onto the reference time axis."""
    array = as_note_array(notes, name="generated notes").copy()
    if len(array):
        array[:, 0] = warp_times(array[:, 0], path, fps=fps)
        array[:, 1] = np.maximum(warp_times(array[:, 1], path, fps=fps), array[:, 0])
    return array


@dataclass
class DtwF1Result:
    """Onset F1 per tolerance (seconds), after DTW alignment and without it."""

    aligned: dict[float, NoteF1Result]
    unaligned: dict[float, NoteF1Result]
    warped_notes: np.ndarray = field(repr=False)
    path: np.ndarray = field(repr=False)
    step_pattern: str = "slope2"

    def f1(self, tolerance: float = 0.05) -> float:
        return self.aligned[float(tolerance)].f1


def _notes_from(value: NoteInput, transcriber: Transcriber | None, sample_rate: int | None, name: str) -> np.ndarray:
    """Notes as given, or transcribed when ``value`` is a mono waveform ``(samples,)``."""
    is_waveform = isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.names is None
    if is_waveform:
        if transcriber is None or sample_rate is None:
            raise ValueError(f"{name} is audio: pass transcriber= and sample_rate= to turn it into notes")
        return as_note_array(transcriber(value, sample_rate), name=f"notes transcribed from {name}")
    return as_note_array(value, name=name)


def _shifted(notes: np.ndarray, seconds: float) -> np.ndarray:
    """Notes ``(N, 3)`` moved in time by ``seconds``."""
    moved = notes.copy()
    moved[:, :2] += seconds
    return moved


def dtw_onset_f1(
    reference: NoteInput | np.ndarray,
    generated: NoteInput | np.ndarray,
    *,
    transcriber: Transcriber | None = None,
    sample_rate: int | None = None,
    fps: int = DEFAULT_FPS,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES,
    step_pattern: str = "slope2",
) -> DtwF1Result:
    """Onset F1 of generated music against a reference after DTW time alignment.

    Args:
        reference: reference notes ``(N, 3)`` (e.g. from the ground-truth MIDI), or its
            audio ``(samples,)`` to transcribe.
        generated: generated notes ``(M, 3)``, or generated audio ``(samples,)``.
        transcriber: audio -> notes (:mod:`.transcribers`: basic-pitch, or a U-MUST model's
            AMT; Onsets and Frames in the paper); needed only for audio inputs.
        sample_rate: sample rate of audio inputs.
        fps: piano-roll frame rate for the alignment.
        tolerances: onset tolerances in seconds (paper: 50, 100, 200 ms).
        step_pattern: ``"slope2"`` (local tempo ratio 1/2..2; default) or ``"classic"``
            (unconstrained). When the two lengths differ by more than 2x no slope-limited
            path exists and the classic pattern is used; ``result.step_pattern`` says which.
    """
    ref = _notes_from(reference, transcriber, sample_rate, "reference")
    gen = _notes_from(generated, transcriber, sample_rate, "generated")
    unaligned = {float(t): note_f1(ref, gen, onset_tolerance=t) for t in tolerances}
    if len(ref) == 0 or len(gen) == 0:
        return DtwF1Result(unaligned, unaligned, gen, np.zeros((0, 2), dtype=np.int64), step_pattern)
    # Leading silence is not music to align: both rolls start at their first onset (and end
    # at their last offset), so the anchored ends of the path sit on notes.
    ref_start, gen_start = ref[:, 0].min(), gen[:, 0].min()
    ref_shifted, gen_shifted = _shifted(ref, -ref_start), _shifted(gen, -gen_start)
    cost = cosine_cost(frame_features(ref_shifted, fps=fps), frame_features(gen_shifted, fps=fps))
    try:
        path = dtw_path(cost, step_pattern=step_pattern)
    except ValueError:
        if step_pattern == "classic" or cost.size > MAX_DTW_CELLS:
            raise
        step_pattern = "classic"
        path = dtw_path(cost, step_pattern=step_pattern)
    warped = _shifted(warp_notes(gen_shifted, path, fps=fps), ref_start)
    aligned = {float(t): note_f1(ref, warped, onset_tolerance=t) for t in tolerances}
    return DtwF1Result(aligned, unaligned, warped, path, step_pattern)
