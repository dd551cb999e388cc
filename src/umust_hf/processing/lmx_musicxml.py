"""MusicXML <-> LMX (Linearized MusicXML) conversion on top of ``linearized-musicxml``.

``lmx``'s ``Linearizer``/``Delinearizer`` do the real work; this module adds what a tokenizer
needs around them:

* reading MusicXML from a path, ``.mxl`` archive, bytes or string, and picking one part;
* :func:`linearize_part`, measure by measure, so one bad measure can be left out;
* :func:`lmx_to_score`, which delinearises a sequence checked by
  :func:`umust_hf.processing.lmx_grammar.check_lmx` and fixes what the Delinearizer leaves
  schema-invalid (measure numbers, attribute order, missing ``<staves>``, measure rests
  without a time signature, whole-division measure lengths, beam/slur numbers out of
  range), returning a complete ``<score-partwise>``.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Sequence
from fractions import Fraction
from math import gcd
from xml.etree import ElementTree as ET

from lmx.linearization.Delinearizer import Delinearizer
from lmx.linearization.Linearizer import Linearizer
from lmx.symbolic.get_head_attributes import get_head_attributes
from lmx.symbolic.part_to_score import part_to_score
from lmx.symbolic.sort_attributes import sort_attributes

from ..errors import UserError
from .lmx_grammar import LMXError


#: MusicXML limits the Delinearizer does not respect (beam-level, number-level).
_MAX_BEAM_NUMBER = 8
_MAX_SLUR_NUMBER = 16


# ----------------------------------------------------------------------------- LMX -> MusicXML
def lmx_to_score(tokens: Sequence[str], part_name: str = "Music", part_id: str = "P1") -> ET.ElementTree:
    """Delinearise *checked* tokens (see :func:`check_lmx`) into a complete score-partwise.

    Raises :class:`LMXError` if the Delinearizer reports an error (which a checked sequence
    should never trigger).
    """
    errors = io.StringIO()
    delinearizer = Delinearizer(errout=errors, keep_fractional_durations=True)
    part = delinearizer.process_text(" ".join(tokens))
    if errors.getvalue().strip():
        raise LMXError(f"the LMX delinearizer reported: {errors.getvalue().strip()[:500]}")
    # the Delinearizer drops a trailing empty measure; keep one <measure> per "measure" token
    for _ in range(max(1, sum(t == "measure" for t in tokens)) - len(part)):
        part.append(ET.Element("measure"))
    _fix_part(part)
    return part_to_score(part, part_id=part_id, part_name=part_name)


def _fix_part(part: ET.Element) -> None:
    """Make the Delinearizer's part schema-valid without changing its linearisation."""
    max_staff = 1
    measure_quarters = Fraction(4)
    lengths = [measure_quarters]  # measure lengths must be whole divisions too (the Linearizer asserts it)
    for number, measure in enumerate(part.iter("measure"), start=1):
        measure.set("number", str(number))
        for attributes in measure.iter("attributes"):
            sort_attributes(attributes)
            time = attributes.find("time")
            if time is not None:
                measure_quarters = Fraction(4 * int(time.findtext("beats")), int(time.findtext("beat-type")))
                lengths.append(measure_quarters)
        for note in measure.iter("note"):
            if note.find("grace") is None and note.find("duration") is None:
                # a measure rest before any time signature: assume the last known measure length
                duration = ET.Element("duration")
                duration.text = str(measure_quarters)
                children = list(note)
                anchor = next(i for i, c in enumerate(children) if c.tag in ("pitch", "rest")) + 1
                note.insert(anchor, duration)
            max_staff = max([max_staff, *(int(s.text) for s in note.iter("staff"))])
            for beam in note.findall("beam"):
                if int(beam.get("number", "1")) > _MAX_BEAM_NUMBER:
                    note.remove(beam)
            for notations in note.findall("notations"):
                for slur in notations.findall("slur"):
                    if int(slur.get("number", "1")) > _MAX_SLUR_NUMBER:
                        notations.remove(slur)
    head = get_head_attributes(part[0], create_if_missing=True)
    staves = head.find("staves")
    if max_staff > 1 and (staves is None or int(staves.text) < max_staff):
        if staves is None:
            staves = ET.SubElement(head, "staves")
        staves.text = str(max_staff)
    elif max_staff == 1 and staves is None:
        # a lone "staff:1" would make the Linearizer expect a multi-staff part
        for note in part.iter("note"):
            for staff in note.findall("staff"):
                note.remove(staff)
    _fractional_to_divisions(part, head, lengths)
    sort_attributes(head)


def _fractional_to_divisions(part: ET.Element, head: ET.Element, lengths: list[Fraction]) -> None:
    """Replace fractional quarter durations by integers and add ``<divisions>`` (empty-safe).

    ``divisions`` is the least common denominator of every duration and measure length.
    """
    durations = [Fraction(e.text) for e in part.iter("duration")]
    divisions = 1
    for value in [*durations, *lengths]:
        divisions = divisions * value.denominator // gcd(divisions, value.denominator)
    element = ET.SubElement(head, "divisions")
    element.text = str(divisions)
    for e in part.iter("duration"):
        e.text = str((Fraction(e.text) * divisions).numerator)


def score_to_string(tree: ET.ElementTree) -> str:
    """Serialise a score with an XML declaration and the MusicXML 3.1 partwise DOCTYPE."""
    ET.indent(tree, space="  ")
    body = ET.tostring(tree.getroot(), encoding="unicode")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 3.1 Partwise//EN" '
        '"http://www.musicxml.org/dtds/partwise.dtd">\n' + body + "\n"
    )


# ----------------------------------------------------------------------------- MusicXML -> LMX
def read_score(source: str | os.PathLike | bytes | ET.Element | ET.ElementTree) -> ET.Element:
    """Return the ``<score-partwise>`` root of a path, ``.mxl`` archive, XML text/bytes or tree."""
    if isinstance(source, ET.ElementTree):
        root = source.getroot()
    elif isinstance(source, ET.Element):
        root = source
    else:
        where = "the given MusicXML text"
        try:
            if isinstance(source, bytes):
                data = source
            elif isinstance(source, str) and source.lstrip().startswith("<"):
                data = source.encode("utf-8")
            else:
                where = os.fspath(source)
                with open(where, "rb") as handle:
                    data = handle.read()
            if data[:2] == b"PK":
                data = _read_mxl(data)
            root = ET.fromstring(data)
        except (OSError, zipfile.BadZipFile, ET.ParseError, KeyError) as error:
            raise UserError(f"cannot read MusicXML from {where}: {error}") from error
    if root.tag == "score-timewise":
        raise UserError("score-timewise MusicXML is not supported; convert it to score-partwise first")
    if root.tag == "part":
        return part_to_score(root).getroot()
    if root.tag != "score-partwise":
        raise UserError(f"expected a <score-partwise> MusicXML document, found <{root.tag}>")
    return root


def _read_mxl(data: bytes) -> bytes:
    """The main score file of a compressed ``.mxl`` archive (per META-INF/container.xml)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        if "META-INF/container.xml" in names:
            container = ET.fromstring(archive.read("META-INF/container.xml"))
            rootfile = container.find(".//rootfile")
            if rootfile is not None and rootfile.get("full-path") in names:
                return archive.read(rootfile.get("full-path"))
        candidates = [n for n in names if not n.startswith("META-INF") and n.endswith((".xml", ".musicxml"))]
        if not candidates:
            raise KeyError("the .mxl archive holds no MusicXML file")
        return archive.read(candidates[0])


def select_part(score: ET.Element, part: int | str | None) -> ET.Element:
    """Pick a ``<part>`` by index or id; ``None`` requires a single-part score."""
    parts = score.findall("part")
    if not parts:
        raise UserError("the MusicXML score has no <part>")
    if part is None:
        if len(parts) > 1:
            ids = [p.get("id") for p in parts]
            raise UserError(f"the score has {len(parts)} parts {ids}; choose one with part=<index or id>")
        return parts[0]
    if isinstance(part, int):
        if not -len(parts) <= part < len(parts):
            raise UserError(f"part index {part} is out of range: the score has {len(parts)} part(s)")
        return parts[part]
    for candidate in parts:
        if candidate.get("id") == part:
            return candidate
    raise UserError(f"no part with id {part!r}; the score has {[p.get('id') for p in parts]}")


def linearize_part(part: ET.Element, strict: bool) -> tuple[list[str], list[str]]:
    """Linearise a ``<part>`` measure by measure.

    A measure the Linearizer cannot handle raises :class:`LMXError` (strict) or is left out
    (lenient); the second return value lists what was left out and why.
    """
    errors = io.StringIO()
    linearizer = Linearizer(errout=errors, fail_on_unknown_tokens=strict)
    linearizer._part_id = part.get("id")  # process_part() would reset the same state
    skipped: list[str] = []
    measures = [m for m in part if m.tag == "measure"]
    for index, measure in enumerate(measures):
        before = len(linearizer.output_tokens)
        try:
            linearizer.process_measure(measure)
        except Exception as error:  # the Linearizer signals bad input with assert/AttributeError
            reason = f"measure {measure.get('number', index + 1)}: {type(error).__name__} {error}".strip()
            if strict:
                raise LMXError(f"cannot linearize {reason}") from error
            del linearizer.output_tokens[before:]
            skipped.append(reason)
    # lenient: the Linearizer drops what LMX cannot express (e.g. quarter-tone accidentals)
    dropped = errors.getvalue().count("not in the vocabulary")
    if dropped:
        skipped.append(f"{dropped} MusicXML value(s) with no LMX token were left out")
    return linearizer.output_tokens, skipped
