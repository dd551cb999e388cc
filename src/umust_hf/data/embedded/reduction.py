"""Reduce a parsed music21 score to the single part LMX can represent.

Three shapes are kept (everything else is skipped with a reason):

* a grand staff (piano music: a braced pair of staves, or two keyboard parts as in kern);
* a single staff (folk melodies, lead sheets, solo lines);
* a 4-voice vocal chorale, reduced to a grand staff: the two upper voices share the
  treble staff (voices 1 and 2), the two lower voices the bass staff.

The result is exported once to MusicXML by music21 (which joins the two ``PartStaff``
objects of a grand staff into one ``<part>`` with ``<staves>2</staves>``, as LMX and
OLiMPiC expect); excerpts are then cut from that XML by :mod:`.excerpts`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

#: General MIDI programs (0-based) for instrument names found in the corpus; the first
#: matching key (a substring of the lower-cased name) wins.
GM_PROGRAMS: tuple[tuple[str, int], ...] = (
    ("piano", 0),
    ("harpsichord", 6),
    ("organ", 19),
    ("guitar", 24),
    ("violoncello", 42),
    ("cello", 42),
    ("viola", 41),
    ("violin", 40),
    ("fiddle", 40),
    ("contrabass", 43),
    ("trumpet", 56),
    ("horn", 60),
    ("oboe", 68),
    ("clarinet", 71),
    ("bassoon", 70),
    ("recorder", 74),
    ("fife", 72),
    ("piccolo", 72),
    ("flute", 73),
    ("soprano", 52),
    ("alto", 52),
    ("tenor", 52),
    ("bass", 52),
    ("voice", 52),
    ("vocal", 52),
    ("canto", 52),
)
PIANO, CHURCH_ORGAN = 0, 19
VOCAL_WORDS = ("soprano", "alto", "tenor", "bass", "baritone", "cantus", "altus", "bassus", "canto", "voice", "superius")
KEYBOARD_WORDS = ("piano", "keyboard", "harpsichord", "organ", "pianoforte", "cembalo")


class ScoreSkipped(Exception):
    """A score (or excerpt) that cannot be used; the message is the logged reason."""


@dataclass
class ReducedScore:
    """One-part score ready for cutting; ``musicxml`` is music21's export of it."""

    layout: str  # "grand_staff" or "single_staff"
    kind: str  # "piano", "chorale" or "melody"
    instruments: list[str]  # names found in the source for the kept part(s)
    program: int  # General MIDI program (0-based) used for synthesis
    composer: str
    title: str
    tempo_bpm: float | None  # quarter notes per minute from the first metronome mark
    musicxml: bytes


def _name(part) -> str:
    instrument = part.getInstrument(returnDefault=False)
    names = [part.partName, instrument.instrumentName if instrument else None, instrument.partName if instrument else None]
    return next((str(n) for n in names if n), "")


def gm_program(name: str, default: int = PIANO) -> int:
    """General MIDI program for an instrument name; ``default`` when nothing matches."""
    lowered = name.lower()
    for key, program in GM_PROGRAMS:
        if key in lowered:
            return program
    return default


def _is_keyboard(part) -> bool:
    from music21 import instrument  # heavy: music21

    found = part.getInstrument(returnDefault=False)
    if isinstance(found, instrument.KeyboardInstrument):
        return True
    return any(word in _name(part).lower() for word in KEYBOARD_WORDS)


def _is_vocal(part) -> bool:
    from music21 import instrument  # heavy: music21

    found = part.getInstrument(returnDefault=False)
    if isinstance(found, instrument.Vocalist):
        return True
    return any(word in _name(part).lower() for word in VOCAL_WORDS)


def _mean_pitch(part) -> float:
    pitches = [p.midi for n in part.recurse().notes for p in n.pitches]
    return sum(pitches) / len(pitches) if pitches else 0.0


def _tempo_bpm(score) -> float | None:
    from music21 import tempo  # heavy: music21

    for mark in score.recurse().getElementsByClass(tempo.MetronomeMark):
        if mark.number:
            try:
                return float(mark.getQuarterBPM())
            except (TypeError, ValueError, ZeroDivisionError):
                continue
    return None


def _strip_text(stream_) -> None:
    """Drop lyrics and free text: rendered as text glyphs (boxes) and absent from LMX."""
    from music21 import expressions  # heavy: music21

    for note in stream_.recurse().notes:
        note.lyrics = []
    for element in list(stream_.recurse().getElementsByClass((expressions.TextExpression,))):
        element.activeSite.remove(element)


def _as_part_staff(part):
    """A ``PartStaff`` holding ``part``'s measures (music21 joins braced PartStaffs on export)."""
    from music21 import stream  # heavy: music21

    staff = stream.PartStaff()
    staff.partName = part.partName
    for measure in list(part.getElementsByClass(stream.Measure)):
        staff.insert(part.elementOffset(measure), measure)
    return staff


def _grand_staff_score(upper, lower, name: str):
    from music21 import instrument, layout, stream  # heavy: music21

    score = stream.Score()
    upper.partName = lower.partName = name
    for staff in (upper, lower):
        for old in list(staff.getElementsByClass(instrument.Instrument)):
            staff.remove(old)
        keyboard = instrument.Piano()
        keyboard.partName = name
        staff.insert(0, keyboard)
        score.insert(0, staff)
    score.insert(0, layout.StaffGroup([upper, lower], symbol="brace", barTogether=True))
    return score


def _merge_voices(parts, clef) -> object:
    """One PartStaff whose measures hold ``parts`` as voices 1, 2 (stems up, down)."""
    from music21 import key, meter, note, stream  # heavy: music21

    measure_lists = [list(p.getElementsByClass(stream.Measure)) for p in parts]
    if len({len(ms) for ms in measure_lists}) != 1:
        raise ScoreSkipped("chorale voices have different numbers of measures")
    staff = stream.PartStaff()
    for index, measures in enumerate(zip(*measure_lists)):
        merged = stream.Measure(number=measures[0].number)
        merged.paddingLeft = measures[0].paddingLeft
        if index == 0:
            merged.insert(0, clef)
        for cls in (key.KeySignature, meter.TimeSignature):
            found = measures[0].getElementsByClass(cls).first()
            if found is not None and found.offset == 0:
                merged.insert(0, copy.deepcopy(found))
        for voice_number, measure in enumerate(measures, start=1):
            voice = stream.Voice(id=str(voice_number))
            for item in measure.recurse().notesAndRests:
                copied = copy.deepcopy(item)
                copied.lyrics = []
                copied.expressions = [e for e in copied.expressions if not hasattr(e, "content")]
                if isinstance(copied, note.NotRest):
                    copied.stemDirection = "up" if voice_number == 1 else "down"
                voice.insert(item.getOffsetInHierarchy(measure), copied)
            merged.insert(0, voice)
        staff.append(merged)
    return staff


def reduce_score(score, *, rng_choice: int = 0) -> ReducedScore:
    """Keep the part(s) LMX can represent and export them as one MusicXML part.

    ``rng_choice`` (0 or 1) picks piano or organ for chorales, so the seed varies timbre.
    Raises :class:`ScoreSkipped` for ensembles and empty scores.
    """
    from music21 import clef, layout, stream  # heavy: music21
    from music21.musicxml.m21ToXml import GeneralObjectExporter  # heavy: music21
    from music21.stream.makeNotation import makeAccidentalsInMeasureStream  # heavy: music21

    parts = list(score.parts)
    if not parts or not any(p.recurse().notes for p in parts):
        raise ScoreSkipped("no notes")
    composer = (score.metadata.composer if score.metadata and score.metadata.composer else "") or ""
    title = ""
    if score.metadata:
        title = score.metadata.title or score.metadata.movementName or ""
    tempo_bpm = _tempo_bpm(score)
    part_staffs = [p for p in parts if isinstance(p, stream.PartStaff)]
    keyboards = [p for p in parts if _is_keyboard(p)]
    vocal = [p for p in parts if _is_vocal(p) and not isinstance(p, stream.PartStaff)]

    if len(parts) == 1 and not part_staffs:
        reduced = stream.Score([parts[0]])
        name = _name(parts[0])
        layout_name, kind, instruments, program = "single_staff", "melody", [name or "Piano"], gm_program(name)
    elif len(part_staffs) == 2 or (len(parts) == 2 and len(keyboards) == 2):
        pair = part_staffs if len(part_staffs) == 2 else keyboards
        upper, lower = sorted(pair, key=_mean_pitch, reverse=True)
        name = _name(upper) or "Piano"
        upper, lower = (_as_part_staff(p) if not isinstance(p, stream.PartStaff) else p for p in (upper, lower))
        reduced = _grand_staff_score(upper, lower, name)
        program = gm_program(name)
        layout_name, kind, instruments = "grand_staff", "piano", [name]
    elif len(vocal) == 4 and len(parts) <= 5 and not part_staffs:
        by_height = sorted(vocal, key=_mean_pitch, reverse=True)
        upper = _merge_voices(by_height[:2], clef.TrebleClef())
        lower = _merge_voices(by_height[2:], clef.BassClef())
        program = (PIANO, CHURCH_ORGAN)[rng_choice % 2]
        reduced = _grand_staff_score(upper, lower, "Piano" if program == PIANO else "Organ")
        layout_name, kind, instruments = "grand_staff", "chorale", [_name(p) for p in by_height]
    else:
        names = ", ".join(sorted({_name(p) or "?" for p in parts}))
        raise ScoreSkipped(f"ensemble of {len(parts)} parts ({names}): not piano, single staff or 4-voice chorale")

    if layout_name == "single_staff":
        for spanner in list(reduced.spanners.getElementsByClass(layout.StaffGroup)):
            reduced.remove(spanner)
    _strip_text(reduced)
    try:
        # recompute which accidentals are shown from the pitches and the key: sources often
        # leave a sounding natural or sharp undisplayed, which would make the image (and the
        # LMX) disagree with the audio; the builder's pitch check drops what is still wrong
        for part in reduced.parts:
            makeAccidentalsInMeasureStream(part, overrideStatus=True)
        xml = GeneralObjectExporter(reduced).parse()
    except Exception as error:  # music21 raises many exception types on odd input
        raise ScoreSkipped(f"music21 could not export MusicXML: {type(error).__name__}: {error}") from error
    return ReducedScore(layout_name, kind, instruments, program, str(composer), str(title), tempo_bpm, xml)
