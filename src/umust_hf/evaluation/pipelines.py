"""The multi-stage image -> audio baseline of Table 3: OMR -> MusicXML -> MIDI -> audio.

Each stage is a callable, so the same pipeline runs with our model's OMR task or another
recogniser, with any performance renderer (the embedded corpus's
``umust_hf.data.embedded.performance``) and any synthesiser (our MIDI -> audio task, or
the SoundFont synthesiser ``umust_hf.data.embedded.synthesis``). Its output audio is then
scored like the direct model's, with :func:`~umust_hf.evaluation.dtw.dtw_onset_f1` and
FAD. Errors in an early stage propagate, which is the point of the comparison.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
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
    """Delinearize LMX into a one-part score-partwise MusicXML string (``linearized-musicxml``).

    The Delinearizer repairs what it can of an ill-formed prediction (and reports to an
    error stream we discard), as OLiMPiC's evaluation does.
    """
    from lmx.linearization.Delinearizer import Delinearizer
    from lmx.symbolic.part_to_score import part_to_score

    delinearizer = Delinearizer(errout=io.StringIO())
    part = delinearizer.process_text(lmx)
    tree = part_to_score(part)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(tree.getroot(), encoding="unicode")


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
