"""MusicXML <-> LMX through the ``linearized-musicxml`` package, plus pitch extraction.

The pitch helpers serve the builder's coherence gate (an excerpt is kept only when its
LMX, converted back, has exactly the pitches of its MIDI) and the coherence tests.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from collections import Counter

from .reduction import ScoreSkipped

_STEP_SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def linearize(musicxml: bytes) -> str:
    """Space-separated LMX tokens of the (single) part of a MusicXML document."""
    from lmx.linearization.Linearizer import Linearizer

    part = ET.fromstring(musicxml).find("part")
    if part is None:
        raise ScoreSkipped("MusicXML has no <part>")
    errors = io.StringIO()
    linearizer = Linearizer(errout=errors)
    try:
        linearizer.process_part(part)
    except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as error:
        raise ScoreSkipped(f"LMX linearisation failed: {type(error).__name__}: {error}") from error
    if errors.getvalue().strip():
        raise ScoreSkipped(f"LMX linearisation reported: {errors.getvalue().strip().splitlines()[0]}")
    tokens = linearizer.output_tokens
    if not tokens:
        raise ScoreSkipped("LMX linearisation is empty")
    return " ".join(tokens)


def delinearize(lmx: str) -> ET.Element:
    """The ``<part>`` element LMX tokens describe (with actual ``<duration>`` values)."""
    from lmx.linearization.Delinearizer import Delinearizer

    return Delinearizer(errout=io.StringIO()).process_text(lmx)


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
