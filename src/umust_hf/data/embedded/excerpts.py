"""Cut a one-part MusicXML score into self-contained excerpts of a few measures.

Works on the XML tree (``xml.etree``, what ``lmx`` expects) rather than music21 so that
cutting is cheap and exact: every excerpt is a complete ``score-partwise`` document with
one ``<part>`` whose first measure carries the full attribute state (divisions, key,
time, staves, clefs) in force at that point of the piece.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction

from .reduction import ScoreSkipped

#: Elements dropped from every measure: text (rendered as boxes by cairosvg, ignored by LMX),
#: layout hints, and sound instructions (our own performance model sets tempo and velocity).
_DROPPED_MEASURE_CHILDREN = {"direction", "harmony", "figured-bass", "print", "sound", "listening", "grouping", "link", "bookmark"}
_DROPPED_NOTE_CHILDREN = {"lyric", "play", "listen", "notehead-text"}
_DROPPED_NOTATIONS = {"technical", "other-notation"}
#: Child order of ``<attributes>`` in the MusicXML schema.
_ATTRIBUTE_ORDER = ("footnote", "level", "divisions", "key", "time", "staves", "part-symbol", "instruments", "clef", "staff-details", "transpose", "for-part", "directive", "measure-style")


@dataclass
class MeasureInfo:
    """What excerpt selection needs to know about one measure."""

    index: int  # 0-based position in the part
    number: str  # the MusicXML measure number attribute
    quarters: Fraction  # actual length in quarter notes (a pickup is shorter than the time signature)
    notes: int  # sounding (non-rest, non-grace) notes, a density measure


@dataclass
class _State:
    divisions: ET.Element | None = None
    key: ET.Element | None = None
    time: ET.Element | None = None
    staves: ET.Element | None = None
    transpose: ET.Element | None = None
    clefs: dict[str, ET.Element] = field(default_factory=dict)

    def update(self, attributes: ET.Element) -> None:
        for child in attributes:
            if child.tag in ("divisions", "key", "time", "staves", "transpose"):
                setattr(self, child.tag, child)
            elif child.tag == "clef":
                self.clefs[child.get("number", "1")] = child


def clean_score(xml: bytes) -> ET.Element:
    """Parse music21's export and drop what must not reach the renderer or the LMX.

    Removes titles, credits, encoding dates (they would break determinism), directions,
    lyrics, fingerings and volta texts, hides the part name and names the part "P1".
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as error:
        raise ScoreSkipped(f"exported MusicXML does not parse: {error}") from error
    for tag in ("work", "movement-number", "movement-title", "identification", "defaults", "credit"):
        for element in root.findall(tag):
            root.remove(element)
    parts = root.findall("part")
    if len(parts) != 1:
        raise ScoreSkipped(f"expected one part after reduction, found {len(parts)}")
    parts[0].set("id", "P1")  # music21 writes random ids; fixed ones keep builds byte-identical
    for score_part in root.iter("score-part"):
        score_part.set("id", "P1")
        for element in list(score_part):
            if element.tag not in ("part-name",):
                score_part.remove(element)
        name = score_part.find("part-name")
        if name is not None:
            name.set("print-object", "no")
    for measure in parts[0].findall("measure"):
        for attribute in ("width",):
            measure.attrib.pop(attribute, None)
        for child in list(measure):
            if child.tag in _DROPPED_MEASURE_CHILDREN:
                measure.remove(child)
            elif child.tag == "barline":
                for ending in child.findall("ending"):
                    child.remove(ending)
            elif child.tag == "note":
                _clean_note(child)
    return root


def _clean_note(note: ET.Element) -> None:
    for child in list(note):
        if child.tag in _DROPPED_NOTE_CHILDREN:
            note.remove(child)
        elif child.tag == "notations":
            for sub in list(child):
                if sub.tag in _DROPPED_NOTATIONS:
                    child.remove(sub)
            if len(child) == 0:
                note.remove(child)
    for attribute in ("default-x", "default-y", "relative-x", "relative-y"):
        note.attrib.pop(attribute, None)


def _part(root: ET.Element) -> ET.Element:
    return root.find("part")  # type: ignore[return-value]


def measure_infos(root: ET.Element) -> list[MeasureInfo]:
    """Length (from the notes actually present) and density of every measure."""
    infos: list[MeasureInfo] = []
    divisions = 1
    for index, measure in enumerate(_part(root).findall("measure")):
        cursor = longest = 0
        notes = 0
        last_duration = 0
        for child in measure:
            if child.tag == "attributes" and child.find("divisions") is not None:
                divisions = int(child.find("divisions").text)  # type: ignore[union-attr]
            elif child.tag == "note":
                if child.find("grace") is not None:
                    if child.find("rest") is None:
                        notes += 1
                    continue
                duration = int(child.findtext("duration", "0"))
                if child.find("chord") is not None:
                    cursor -= last_duration
                if child.find("rest") is None:
                    notes += 1
                cursor += duration
                last_duration = duration
            elif child.tag == "backup":
                cursor -= int(child.findtext("duration", "0"))
            elif child.tag == "forward":
                cursor += int(child.findtext("duration", "0"))
            longest = max(longest, cursor)
        infos.append(MeasureInfo(index, measure.get("number", str(index + 1)), Fraction(longest, divisions), notes))
    return infos


def _states_before(root: ET.Element) -> list[_State]:
    """Attribute state in force at the start of each measure."""
    states: list[_State] = []
    state = _State()
    for measure in _part(root).findall("measure"):
        states.append(copy.copy(state))
        states[-1].clefs = dict(state.clefs)
        for attributes in measure.findall("attributes"):
            state.update(attributes)
    return states


def _merged_head_attributes(measure: ET.Element, state: _State) -> None:
    """Make the measure's leading ``<attributes>`` carry the full state (its own values win)."""
    children = list(measure)
    leading = next((c for c in children if c.tag == "attributes"), None)
    if leading is not None and any(c.tag in ("note", "backup", "forward") for c in children[: children.index(leading)]):
        leading = None
    if leading is None:
        leading = ET.Element("attributes")
        measure.insert(0, leading)
    present = {(c.tag, c.get("number", "1") if c.tag == "clef" else "") for c in leading}
    additions: list[ET.Element] = []
    for tag in ("divisions", "key", "time", "staves", "transpose"):
        value = getattr(state, tag)
        if value is not None and (tag, "") not in present:
            additions.append(copy.deepcopy(value))
    for number, clef in state.clefs.items():
        if ("clef", number) not in present:
            additions.append(copy.deepcopy(clef))
    merged = list(leading) + additions
    rank = {tag: i for i, tag in enumerate(_ATTRIBUTE_ORDER)}
    merged.sort(key=lambda c: (rank.get(c.tag, len(rank)), int(c.get("number", "1")) if c.tag == "clef" else 0))
    for child in list(leading):
        leading.remove(child)
    leading.extend(merged)


class ExcerptCutter:
    """Cuts measure ranges out of one cleaned score; attribute states are computed once."""

    def __init__(self, root: ET.Element) -> None:
        self.root = root
        self.measures = _part(root).findall("measure")
        self.infos = measure_infos(root)
        self._states = _states_before(root)

    def cut(self, start: int, stop: int) -> bytes:
        """MusicXML bytes of measures ``[start, stop)`` (0-based), a complete score-partwise document."""
        if not 0 <= start < stop <= len(self.measures):
            raise ValueError(f"measure range [{start}, {stop}) outside 0..{len(self.measures)}")
        document = ET.Element("score-partwise", {"version": "4.0"})
        document.append(copy.deepcopy(self.root.find("part-list")))
        part = ET.SubElement(document, "part", {"id": _part(self.root).get("id", "P1")})
        for measure in self.measures[start:stop]:
            part.append(copy.deepcopy(measure))
        first = part.find("measure")
        _merged_head_attributes(first, self._states[start])  # type: ignore[arg-type]
        _close_open_ties(part)
        ET.indent(document)
        body = ET.tostring(document, encoding="unicode")
        header = '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" "http://www.musicxml.org/dtds/partwise.dtd">\n'
        return (header + body + "\n").encode("utf-8")


def _close_open_ties(part: ET.Element) -> None:
    """Drop tie starts/stops that point outside the excerpt, so no note waits for a partner."""
    notes = [n for n in part.iter("note") if n.find("pitch") is not None]

    def key(note: ET.Element) -> tuple[str, ...]:
        pitch = note.find("pitch")
        return (pitch.findtext("step", ""), pitch.findtext("alter", "0"), pitch.findtext("octave", ""), note.findtext("staff", "1"), note.findtext("voice", "1"))  # type: ignore[union-attr]

    open_starts: dict[tuple[str, ...], list[ET.Element]] = {}
    for note in notes:
        types = {t.get("type") for t in note.findall("tie")}
        if "stop" in types:
            if open_starts.get(key(note)):
                open_starts[key(note)].pop(0)
            else:
                _remove_tie(note, "stop")
        if "start" in types:
            open_starts.setdefault(key(note), []).append(note)
    for pending in open_starts.values():
        for note in pending:
            _remove_tie(note, "start")


def _remove_tie(note: ET.Element, kind: str) -> None:
    for tie in note.findall("tie"):
        if tie.get("type") == kind:
            note.remove(tie)
    notations = note.find("notations")
    if notations is not None:
        for tied in notations.findall("tied"):
            if tied.get("type") == kind:
                notations.remove(tied)
        if len(notations) == 0:
            note.remove(notations)
