"""The multi-stage image -> audio baseline of Table 3: OMR -> MusicXML -> MIDI -> audio.

Each stage is a callable, so the same pipeline runs with our model's OMR task or another
recogniser, with any performance renderer (the embedded corpus's
``umust_hf.data.embedded.performance``) and any synthesiser (our MIDI -> audio task, or
the SoundFont synthesiser ``umust_hf.data.embedded.synthesis``). Its output audio is then
scored like the direct model's, with :func:`~umust_hf.evaluation.dtw.dtw_onset_f1` and
FAD. Errors in an early stage propagate, which is the point of the comparison.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: score image -> LMX string
OmrStage = Callable[[Any], str]
#: LMX string -> MusicXML (score-partwise) string
NotationStage = Callable[[str], str]
#: MusicXML string -> performance MIDI file bytes
PerformanceStage = Callable[[str], bytes]
#: MIDI file bytes -> (mono audio (samples,), sample rate)
SynthesisStage = Callable[[bytes], tuple[np.ndarray, int]]


def lmx_to_musicxml(lmx: str) -> str:
    """LMX string -> one-part score-partwise MusicXML string.

    Predictions are often ill-formed, so this is the LMX tokenizer's lenient decoding (it
    repairs the grammar and logs what it changed), as a multi-stage system must turn
    whatever its OMR read into a playable score.
    """
    return _lenient_tokenizer().to_musicxml(lmx, strict=False)


@functools.lru_cache(maxsize=1)
def _lenient_tokenizer() -> Any:
    from ..processing.tokenization_lmx import LMXTokenizer  # heavy: transformers

    return LMXTokenizer()


@dataclass
class MultiStageOutput:
    """Every intermediate result, so each stage's errors can be inspected."""

    lmx: str
    musicxml: str
    midi: bytes
    audio: np.ndarray  # (samples,)
    sample_rate: int


@dataclass
class MultiStageImageToAudio:
    """Score image -> audio through explicit symbolic stages (Table 3, "Multi-stage" rows)."""

    omr: OmrStage
    perform: PerformanceStage
    synthesize: SynthesisStage
    to_musicxml: NotationStage = lmx_to_musicxml

    def __call__(self, image: Any) -> MultiStageOutput:
        lmx = self.omr(image)
        if not isinstance(lmx, str):
            raise TypeError(f"the OMR stage must return an LMX string, got {type(lmx).__name__}")
        musicxml = self.to_musicxml(lmx)
        midi = self.perform(musicxml)
        audio, sample_rate = self.synthesize(midi)
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"the synthesis stage must return mono audio (samples,), got shape {audio.shape}")
        return MultiStageOutput(lmx, musicxml, midi, audio, int(sample_rate))
