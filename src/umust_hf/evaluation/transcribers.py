"""Audio -> notes transcribers for the audio metrics (DTW onset F1, the AMT peer, codec probes).

The paper scores generated audio by transcribing it with a pretrained system independent of the
model under test (Onsets and Frames). Here the default is basic-pitch (Spotify, ICASSP 2022),
whose trained weights ship inside its PyPI wheel as ``nmp.onnx`` and run on CPU through
onnxruntime; a saved U-MUST model's AMT task is the other implementation. Every transcriber has a
``name``, written beside each figure it made.

basic-pitch's package ``__init__`` imports tensorflow (and CoreML, TFLite) when it can and prefers
them, so :class:`BasicPitchTranscriber` never runs it: it loads ``nmp.onnx`` with onnxruntime and
imports only ``basic_pitch.note_creation`` (the post-processing from model activations to notes)
under a bare parent package.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import UserError
from .notes import as_note_array

BASIC_PITCH = "basic-pitch"

#: What to install for the default transcriber (basic-pitch's metadata pulls tensorflow, hence --no-deps).
INSTALL_HINT = "pip install 'umust-hf[eval]' && pip install --no-deps basic-pitch==0.4.0"

# basic-pitch's model contract (basic_pitch/constants.py): 22.05 kHz mono, windows of 2 s minus one
# hop, hop 256 samples (86 activation frames per second)
_RATE = 22050
_HOP = 256
_WINDOW = 2 * _RATE - _HOP
_OVERLAP_FRAMES = 30  # activation frames shared by neighbouring windows; half is cut from each side
_FRAMES_PER_SECOND = _RATE // _HOP
_ONNX_INPUT = "serving_default_input_2:0"
_ONNX_OUTPUTS = {"note": "StatefulPartitionedCall:1", "onset": "StatefulPartitionedCall:2",
                 "contour": "StatefulPartitionedCall:0"}  # fmt: skip


@runtime_checkable
class Transcriber(Protocol):
    """Mono audio ``(samples,)`` at ``sample_rate`` -> notes ``(N, 3)`` (onset s, offset s, MIDI pitch)."""

    name: str

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray: ...


class TranscriberUnavailable(UserError):
    """The default transcriber's packages are missing; the message says what to install."""


def basic_pitch_model_path() -> Path | None:
    """``nmp.onnx`` inside the installed basic-pitch wheel (found without importing the package), or None."""
    spec = importlib.util.find_spec("basic_pitch")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "saved_models" / "icassp_2022" / "nmp.onnx"
    return path if path.is_file() else None


def basic_pitch_available() -> bool:
    """True when basic-pitch's ONNX model and onnxruntime are both installed."""
    return basic_pitch_model_path() is not None and importlib.util.find_spec("onnxruntime") is not None


def _note_creation() -> types.ModuleType:
    """``basic_pitch.note_creation``, imported without running ``basic_pitch/__init__`` (which imports
    tensorflow when it is installed): a bare parent package stands in for the import, then goes."""
    name = "basic_pitch.note_creation"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec("basic_pitch")
    stand_in = "basic_pitch" not in sys.modules
    if stand_in:
        parent = types.ModuleType("basic_pitch")
        parent.__path__ = list(spec.submodule_search_locations or [])
        sys.modules["basic_pitch"] = parent
    try:
        return importlib.import_module(name)
    finally:
        if stand_in:
            del sys.modules["basic_pitch"]  # a later `import basic_pitch` runs the real package


class BasicPitchTranscriber:
    """basic-pitch's ICASSP 2022 model through onnxruntime, with its default note thresholds.

    Args:
        onset_threshold / frame_threshold / minimum_note_ms: basic-pitch's ``predict`` defaults.
    """

    name = BASIC_PITCH

    def __init__(self, *, onset_threshold: float = 0.5, frame_threshold: float = 0.3,
                 minimum_note_ms: float = 127.70) -> None:
        model_path = basic_pitch_model_path()
        if model_path is None or importlib.util.find_spec("onnxruntime") is None:
            raise TranscriberUnavailable(f"the basic-pitch transcriber is not installed: {INSTALL_HINT}")
        import onnxruntime  # optional: onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # the converted graph warns about unused initialisers on every load
        self._session = onnxruntime.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self._notes = _note_creation()
        self.onset_threshold = onset_threshold
        self.frame_threshold = frame_threshold
        self.minimum_note_frames = int(round(minimum_note_ms / 1000 * _FRAMES_PER_SECOND))

    def activations(self, audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
        """The model's ``note``/``onset`` ``(frames, 88)`` and ``contour`` ``(frames, 264)`` activations."""
        import soxr  # heavy: soxr

        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        if sample_rate != _RATE:
            audio = soxr.resample(audio, sample_rate, _RATE).astype(np.float32)
        length = len(audio)
        overlap = _OVERLAP_FRAMES * _HOP
        hop = _WINDOW - overlap
        padded = np.concatenate([np.zeros(overlap // 2, np.float32), audio])
        starts = range(0, len(padded), hop)
        windows = np.zeros((len(starts), _WINDOW, 1), np.float32)
        for row, start in enumerate(starts):
            chunk = padded[start : start + _WINDOW]
            windows[row, : len(chunk), 0] = chunk
        names = list(_ONNX_OUTPUTS.values())
        outputs = self._session.run(names, {_ONNX_INPUT: windows})
        keep = _OVERLAP_FRAMES // 2
        frames = int(np.floor(length * _FRAMES_PER_SECOND / _RATE))
        return {key: value[:, keep:-keep].reshape(-1, value.shape[-1])[:frames]
                for key, value in zip(_ONNX_OUTPUTS, outputs)}  # fmt: skip

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        if np.asarray(audio).size < _HOP:
            return np.zeros((0, 3))
        activations = self.activations(audio, sample_rate)
        if len(activations["note"]) == 0:
            return np.zeros((0, 3))
        _, events = self._notes.model_output_to_notes(
            activations, onset_thresh=self.onset_threshold, frame_thresh=self.frame_threshold,
            min_note_len=self.minimum_note_frames, include_pitch_bends=False,
        )  # fmt: skip
        return as_note_array([(start, end, pitch) for start, end, pitch, *_ in events], name="basic-pitch notes")

    def transcribe_batch(self, clips: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
        return [self(audio, rate) for audio, rate in clips]


#: Clips shorter than this hold no notes for a model transcriber (it is not run on them).
MIN_TRANSCRIBED_SECONDS = 0.1


class ModelTranscriber:
    """A saved U-MUST model's AMT task as a transcriber (``runner``: an ``evaluation.generation.ModelRunner``)."""

    def __init__(self, runner: Any, name: str) -> None:
        self.runner = runner
        self.name = name

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        return self.transcribe_batch([(audio, sample_rate)])[0]

    def transcribe_batch(self, clips: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
        if not clips:
            return []
        notes = self.runner.transcribe_batch([audio for audio, _ in clips], [rate for _, rate in clips],
                                             min_seconds=MIN_TRANSCRIBED_SECONDS)
        return [as_note_array(n, name=f"{self.name} notes") for n in notes]


def transcribe_all(transcriber: Transcriber, clips: Sequence[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    """Notes of every ``(audio, rate)`` clip, in batches where the transcriber has them."""
    batch = getattr(transcriber, "transcribe_batch", None)
    if not clips:
        return []
    if batch is not None:
        return list(batch(clips))
    return [as_note_array(transcriber(audio, rate)) for audio, rate in clips]


def load_transcriber(spec: str | None = BASIC_PITCH, *,
                     load_runner: Callable[[Path], Any] | None = None) -> Transcriber:
    """``"basic-pitch"`` or a saved U-MUST model directory -> a transcriber.

    ``load_runner``: model directory -> its :class:`~umust_hf.evaluation.generation.ModelRunner`, for a
    model transcriber (the caller loads the model: the evaluation does not import the translation module).

    Raises:
        TranscriberUnavailable: for basic-pitch without its packages (the message names them).
        UserError: for a path that is not a directory.
    """
    if spec in (None, BASIC_PITCH):
        return BasicPitchTranscriber()
    if not Path(spec).is_dir():
        raise UserError(f"--transcriber: expected {BASIC_PITCH!r} or a saved U-MUST model directory, got {spec!r}")
    if load_runner is None:
        raise ValueError(f"a model transcriber ({spec}) needs load_runner= (model directory -> ModelRunner)")
    return ModelTranscriber(load_runner(Path(spec)), f"umust:{Path(spec).name}")


def default_transcriber() -> Transcriber | None:
    """basic-pitch when it is installed, else None (audio rows then carry ``transcriber: null``)."""
    return BasicPitchTranscriber() if basic_pitch_available() else None


__all__ = ["Transcriber", "BasicPitchTranscriber", "ModelTranscriber", "TranscriberUnavailable", "BASIC_PITCH",
           "INSTALL_HINT", "basic_pitch_available", "default_transcriber", "load_transcriber", "transcribe_all"]
