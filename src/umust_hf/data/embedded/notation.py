"""MusicXML <-> LMX through the package's LMX tokenizer, plus pitch extraction.

The pitch helpers serve the builder's coherence gate (an excerpt is kept only when its
LMX, converted back, has exactly the pitches of its MIDI) and the coherence tests.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from ...processing.lmx_musicxml import lmx_to_score
from .reduction import ScoreSkipped

_STEP_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def linearize(musicxml: bytes) -> str:
    """Space-separated LMX tokens of the (single) part of a MusicXML document.

    This is the LMX tokenizer's strict linearisation, so the corpus's targets are exactly
    what ``LMXTokenizer.from_musicxml`` gives at inference and they round-trip through it.
    """
    try:
        tokens = _strict_tokenizer().from_musicxml(musicxml)
    except ValueError as error:  # LMXError, UnknownTokenError, unreadable MusicXML
        raise ScoreSkipped(f"LMX linearisation failed: {error}") from error
    if not tokens:
        raise ScoreSkipped("LMX linearisation is empty")
    return " ".join(tokens)


def delinearize(lmx: str) -> ET.Element:
    """The ``<part>`` element LMX tokens describe."""
    return lmx_to_score(lmx.split()).getroot().find("part")


@functools.lru_cache(maxsize=1)
def _strict_tokenizer() -> Any:
    from ...processing.tokenization_lmx import LMXTokenizer  # heavy: transformers

    return LMXTokenizer(strict=True)


def sounding_pitches(part: ET.Element) -> Counter[int]:
    """MIDI numbers of the notes that start a sound: rests and tie continuations excluded.

    Counts one per note onset, grace notes included, so it compares with the note-ons of
    the performance MIDI as a multiset.
    """
    pitches: Counter[int] = Counter()
    for note in part.iter("note"):
        pitch = note.find("pitch")
        if pitch is None:
            continue
        if any(tie.get("type") == "stop" for tie in note.findall("tie")) or any(
            tied.get("type") == "stop" for tied in note.iterfind("notations/tied")
        ):
            continue
        pitches[pitch_to_midi(pitch)] += 1
    return pitches


def pitch_to_midi(pitch: ET.Element) -> int:
    """MIDI number of a MusicXML ``<pitch>`` element."""
    step = pitch.findtext("step", "C")
    alter = round(float(pitch.findtext("alter", "0") or 0))
    octave = int(pitch.findtext("octave", "4"))
    return 12 * (octave + 1) + _STEP_SEMITONES[step] + alter
