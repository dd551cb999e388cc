"""Unit tests of the embedded-corpus building blocks on small hand-written inputs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from umust_hf.constants import STAFF_HEIGHT_PX, SYSTEM_HEIGHT_PX
from umust_hf.data.embedded.builder import _split_of
from umust_hf.data.embedded.excerpts import ExcerptCutter, clean_score
from umust_hf.data.embedded.notation import delinearize, linearize, sounding_pitches
from umust_hf.data.embedded.performance import perform, written_notes
from umust_hf.data.embedded.pieces import piece_key
from umust_hf.data.embedded.reduction import ScoreSkipped, gm_program, reduce_score
from umust_hf.data.embedded.sources import SourceScore, abc_tune_numbers, order_sources, sniff_part_count

NOTE = '<note>{chord}<pitch><step>{step}</step>{alter}<octave>{octave}</octave></pitch><duration>{duration}</duration>{tie}<voice>1</voice><type>{type}</type>{dot}{staff}{notations}</note>'


def note(step: str, octave: int, duration: int = 2, *, type_: str = "quarter", alter: int = 0, chord: bool = False, tie: str | None = None, staff: int | None = None, dot: bool = False) -> str:
    return NOTE.format(
        chord="<chord/>" if chord else "",
        step=step,
        alter=f"<alter>{alter}</alter>" if alter else "",
        octave=octave,
        duration=duration,
        tie=f'<tie type="{tie}"/>' if tie else "",
        type=type_,
        dot="<dot/>" if dot else "",
        staff=f"<staff>{staff}</staff>" if staff else "",
        notations=f'<notations><tied type="{tie}"/></notations>' if tie else "",
    )


def score(measures: list[str], *, first_attributes: str | None = None) -> bytes:
    attributes = first_attributes or "<attributes><divisions>2</divisions><key><fifths>1</fifths></key><time><beats>4</beats><beat-type>4</beat-type></time><clef><sign>G</sign><line>2</line></clef></attributes>"
    body = "".join(f'<measure number="{i + 1}">{attributes if i == 0 else ""}{content}</measure>' for i, content in enumerate(measures))
    return (
        '<?xml version="1.0"?><score-partwise version="4.0"><work><work-title>T</work-title></work>'
        '<identification><encoding><encoding-date>2026-01-01</encoding-date></encoding></identification>'
        '<part-list><score-part id="P1"><part-name>Violin</part-name><part-abbreviation>Vn</part-abbreviation></score-part></part-list>'
        f'<part id="P1">{body}</part></score-partwise>'
    ).encode()


FOUR_MEASURES = score(
    [
        note("G", 4) + note("A", 4) + note("B", 4) + note("C", 5, tie="start"),
        note("C", 5, tie="stop") + '<direction><direction-type><words>dolce</words></direction-type></direction>' + note("D", 5) + note("E", 5, 4, type_="half"),
        note("D", 5) + note("F", 5, alter=1, chord=True) + note("G", 5, 6, type_="half", dot=True, tie="start"),
        note("G", 5, 2, tie="stop") + note("B", 4, 6, type_="half", dot=True),
    ]
)


def test_clean_score_drops_titles_dates_directions_and_hides_the_part_name():
    root = clean_score(FOUR_MEASURES)
    text = ET.tostring(root, encoding="unicode")
    for gone in ("work-title", "encoding-date", "dolce", "part-abbreviation"):
        assert gone not in text
    assert root.find("part-list/score-part/part-name").get("print-object") == "no"


def test_cut_carries_attributes_into_the_first_measure_and_drops_dangling_ties():
    cutter = ExcerptCutter(clean_score(FOUR_MEASURES))
    assert [info.quarters for info in cutter.infos] == [Fraction(4)] * 4
    assert [info.notes for info in cutter.infos] == [4, 3, 3, 2]
    excerpt = ET.fromstring(cutter.cut(1, 3))
    measures = excerpt.findall("part/measure")
    assert [m.get("number") for m in measures] == ["2", "3"]
    head = measures[0].find("attributes")
    assert [child.tag for child in head] == ["divisions", "key", "time", "clef"]
    assert head.findtext("key/fifths") == "1" and head.findtext("divisions") == "2"
    # the C5 tie started before the excerpt and the G5 tie ends after it: both are cut loose
    first_note = measures[0].find("note")
    assert first_note.find("tie") is None and first_note.find("notations") is None
    last_g = [n for n in measures[1].findall("note") if n.findtext("pitch/step") == "G"][0]
    assert last_g.find("tie") is None
    with pytest.raises(ValueError):
        cutter.cut(3, 5)


def test_written_notes_merge_ties_and_share_chord_onsets():
    notes, length = written_notes(ExcerptCutter(clean_score(FOUR_MEASURES)).cut(0, 4))
    assert length == 16
    by_onset = [(pitch, onset, duration) for pitch, onset, duration, _grace, _m in notes]
    assert (72, 3.0, 2.0) in by_onset  # C5 quarter tied to a quarter: one note of two beats
    assert (78, 8.0, 1.0) in by_onset and (74, 8.0, 1.0) in by_onset  # D5 + F#5 chord
    assert (79, 9.0, 4.0) in by_onset  # G5 dotted half tied over the bar line
    assert len(notes) == 10


def test_lmx_round_trip_keeps_the_sounding_pitches():
    musicxml = ExcerptCutter(clean_score(FOUR_MEASURES)).cut(0, 4)
    lmx = linearize(musicxml)
    assert lmx.split()[:2] == ["measure", "key:fifths:1"]
    expected = Counter({67: 1, 69: 1, 71: 2, 72: 1, 74: 2, 76: 1, 78: 1, 79: 1})
    assert sounding_pitches(ET.fromstring(musicxml).find("part")) == expected
    assert sounding_pitches(delinearize(lmx)) == expected


def test_perform_is_seeded_and_follows_the_tempo():
    musicxml = ExcerptCutter(clean_score(FOUR_MEASURES)).cut(0, 4)
    first = perform(musicxml, tempo_bpm=120, rng=np.random.default_rng(3))
    again = perform(musicxml, tempo_bpm=120, rng=np.random.default_rng(3))
    other = perform(musicxml, tempo_bpm=120, rng=np.random.default_rng(4))
    assert first == again and first != other
    exact = perform(musicxml, tempo_bpm=60, rng=np.random.default_rng(0), humanize=False)
    assert sorted(n.pitch for n in exact if n.start == 8.0) == [74, 78]  # the chord, at one second per beat
    assert all(30 <= n.velocity <= 120 for n in first)
    assert max(n.end for n in exact) <= 16.0


def test_reduce_score_turns_four_voices_into_one_grand_staff_part():
    from music21 import note as m21note
    from music21 import stream

    parts = []
    for name, pitch in (("Soprano", "E5"), ("Alto", "C5"), ("Tenor", "G3"), ("Bass", "C3")):
        part = stream.Part()
        part.partName = name
        for _ in range(2):
            measure = stream.Measure()
            measure.append([m21note.Note(pitch, quarterLength=2), m21note.Note(pitch, quarterLength=2)])
            part.append(measure)
        parts.append(part)
    reduced = reduce_score(stream.Score(parts), rng_choice=1)
    assert (reduced.layout, reduced.kind, reduced.program) == ("grand_staff", "chorale", 19)
    root = clean_score(reduced.musicxml)
    assert len(root.findall("part")) == 1
    assert root.find("part/measure/attributes/staves").text == "2"
    staves = Counter((n.findtext("staff"), n.findtext("pitch/step") + n.findtext("pitch/octave")) for n in root.iter("note"))
    assert staves == Counter({("1", "E5"): 4, ("1", "C5"): 4, ("2", "G3"): 4, ("2", "C3"): 4})


def test_reduce_score_rejects_ensembles_with_a_reason():
    from music21 import note as m21note
    from music21 import stream

    parts = []
    for name in ("Violin I", "Violin II", "Viola"):
        part = stream.Part()
        part.partName = name
        part.append(m21note.Note("C4"))
        parts.append(part)
    with pytest.raises(ScoreSkipped, match="ensemble of 3 parts"):
        reduce_score(stream.Score(parts))


def test_render_system_has_the_normalised_height_and_staff_height():
    from umust_hf.data.embedded.rendering import render_system

    image = render_system(ExcerptCutter(clean_score(FOUR_MEASURES)).cut(0, 4))
    assert image.mode == "L" and image.height == SYSTEM_HEIGHT_PX
    pixels = np.asarray(image)
    rows = np.flatnonzero((pixels < 128).mean(axis=1) > 0.5)
    assert rows.size >= 5
    assert abs((rows.max() - rows.min()) - STAFF_HEIGHT_PX) <= 1


def test_sources_sniffing_and_seeded_interleaved_order(tmp_path: Path):
    kern = tmp_path / "a.krn"
    kern.write_text("!!!COM: x\n**kern\t**kern\t**dynam\n*clefF4\t*clefG2\t*\n")
    assert sniff_part_count(kern) == 2
    assert abc_tune_numbers("X:1\nT:a\n\nX:7\nT:b\nX:7\n") == [1, 7]
    candidates = [SourceScore(f"{group}/{i}.abc", tmp_path / f"{i}.abc") for group in ("a", "b") for i in range(3)]
    ordered = order_sources(candidates, seed=0)
    assert sorted(c.piece_id for c in ordered) == sorted(c.piece_id for c in candidates)
    assert {ordered[0].group, ordered[1].group} == {"a", "b"}  # groups alternate
    assert ordered == order_sources(candidates, seed=0)
    assert ordered != order_sources(candidates, seed=1) or ordered != order_sources(candidates, seed=2)


def test_split_is_by_piece_seeded_and_holds_out_at_least_one_piece_each():
    pieces = [f"p{i}" for i in range(30)]
    split = _split_of(pieces, seed=0)
    assert Counter(split.values()) == Counter({"train": 24, "validation": 3, "test": 3})
    assert split == _split_of(list(reversed(pieces)), seed=0)
    assert Counter(_split_of(pieces[:3], seed=5).values()) == Counter({"train": 1, "validation": 1, "test": 1})
    assert set(_split_of(pieces[:2], seed=0).values()) == {"train"}


def test_piece_key_is_unique_and_file_system_safe():
    keys = {piece_key(p) for p in ("a/b.abc#1", "a/b.abc#2", "a_b.abc#1", "x y/é.krn")}
    assert len(keys) == 4
    assert all("/" not in k and "#" not in k and " " not in k for k in keys)


def test_gm_program_names():
    assert gm_program("Violin I.") == 40
    assert gm_program("Flûte") == 0  # unknown spelling falls back to piano
    assert gm_program("Flute") == 73
    assert gm_program("Soprano") == 52


def test_unison_ties_in_two_voices_stay_two_notes():
    def voiced(voice: int, tie: str) -> str:
        return note("C", 5, 8, type_="whole", tie=tie).replace("<voice>1</voice>", f"<voice>{voice}</voice>")

    xml = score([voiced(1, "start") + "<backup><duration>8</duration></backup>" + voiced(2, "start"), voiced(1, "stop") + "<backup><duration>8</duration></backup>" + voiced(2, "stop")])
    musicxml = ExcerptCutter(clean_score(xml)).cut(0, 2)
    notes, _ = written_notes(musicxml)
    assert [(pitch, onset, duration) for pitch, onset, duration, _g, _m in notes] == [(72, 0.0, 8.0), (72, 0.0, 8.0)]
    assert sounding_pitches(ET.fromstring(musicxml).find("part")) == Counter({72: 2})
