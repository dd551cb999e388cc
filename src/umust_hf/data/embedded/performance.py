"""MusicXML excerpt -> performance MIDI (tempo, velocities, optional humanised timing).

Reads the same XML the LMX comes from, so the note onsets of the MIDI are exactly the
notes of the notation: tied continuations extend their first note, chords share an
onset, grace notes are played as short notes just before their principal note.
Randomness (tempo already chosen by the caller, velocities, timing jitter) comes from a
``numpy.random.Generator`` the caller seeds, so a seed fixes the bytes of the MIDI.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from .notation import pitch_to_midi

#: Length of a grace note in seconds (it is played before the beat, taking no written time).
GRACE_SECONDS = 0.06
#: Articulation gap: each note is released this fraction of its written length early.
LEGATO = 0.92
#: Standard deviation of onset jitter when humanising, in seconds.
JITTER_SECONDS = 0.008


@dataclass(frozen=True)
class PerformedNote:
    """One note of the performance, times in seconds."""

    pitch: int
    start: float
    end: float
    velocity: int


def written_notes(musicxml: bytes) -> tuple[list[tuple[int, float, float, bool, int]], float]:
    """Notes in quarter-note time: (pitch, onset, duration, is_grace, measure index), and the total length.

    Tied notes are merged into their first note; rests are dropped.
    """
    part = ET.fromstring(musicxml).find("part")
    if part is None:
        raise ValueError("MusicXML has no <part>")
    notes: list[list] = []
    open_ties: dict[tuple[int, str, str], list[int]] = {}  # (pitch, staff, voice) -> notes waiting for a tie stop
    divisions = 1.0
    measure_start = 0.0
    for measure_index, measure in enumerate(part.findall("measure")):
        cursor = longest = 0.0
        last_onset = 0.0
        for child in measure:
            if child.tag == "attributes" and child.find("divisions") is not None:
                divisions = float(child.findtext("divisions"))  # type: ignore[arg-type]
            elif child.tag == "backup":
                cursor -= float(child.findtext("duration", "0")) / divisions
            elif child.tag == "forward":
                cursor += float(child.findtext("duration", "0")) / divisions
            elif child.tag == "note":
                is_grace = child.find("grace") is not None
                is_chord = child.find("chord") is not None
                duration = 0.0 if is_grace else float(child.findtext("duration", "0")) / divisions
                onset = last_onset if is_chord else cursor
                if not is_chord and not is_grace:
                    cursor += duration
                last_onset = onset
                pitch_element = child.find("pitch")
                if pitch_element is not None:
                    pitch = pitch_to_midi(pitch_element)
                    tie_types = {t.get("type") for t in child.findall("tie")}
                    key = (pitch, child.findtext("staff", "1"), child.findtext("voice", "1"))
                    absolute = measure_start + onset
                    if "stop" in tie_types and open_ties.get(key) and not is_grace:
                        index = open_ties[key].pop(0)
                        notes[index][2] = absolute + duration - notes[index][1]
                        if "start" in tie_types:
                            open_ties[key].append(index)
                    else:
                        notes.append([pitch, absolute, duration, is_grace, measure_index])
                        if "start" in tie_types and not is_grace:
                            open_ties.setdefault(key, []).append(len(notes) - 1)
            longest = max(longest, cursor)
        measure_start += longest
    return [tuple(n) for n in notes], measure_start  # type: ignore[misc]


def perform(
    musicxml: bytes,
    *,
    tempo_bpm: float,
    rng: np.random.Generator,
    humanize: bool = True,
    base_velocity: int | None = None,
) -> list[PerformedNote]:
    """Performance of an excerpt: seconds, velocities and (optionally) jittered onsets.

    Velocity = a per-excerpt base (60-90 unless given) + a small accent on
    quarter-note beats + Gaussian noise, clipped to 30-120.
    """
    notes, _ = written_notes(musicxml)
    seconds_per_quarter = 60.0 / tempo_bpm
    base = int(rng.integers(60, 91)) if base_velocity is None else base_velocity
    performed: list[PerformedNote] = []
    for pitch, onset, duration, is_grace, _measure in notes:
        start = onset * seconds_per_quarter
        if is_grace:
            start = max(0.0, start - GRACE_SECONDS)
            length = GRACE_SECONDS
        else:
            length = max(duration * seconds_per_quarter * LEGATO, 0.03)
        if humanize:
            start = max(0.0, start + float(rng.normal(0.0, JITTER_SECONDS)))
        accent = 8 if abs(onset - round(onset)) < 1e-6 and not is_grace else 0
        velocity = int(np.clip(base + accent + rng.normal(0.0, 5.0), 30, 120))
        performed.append(PerformedNote(pitch, round(start, 4), round(start + length, 4), velocity))
    return performed


def to_midi_bytes(notes: list[PerformedNote], *, program: int, tempo_bpm: float, tail_seconds: float = 1.0) -> bytes:
    """A type-1 MIDI file with one instrument track (``program``, 0-based GM) and the tempo.

    A neutral controller event (sustain off) ``tail_seconds`` after the last note-off keeps
    the file, and so the synthesiser, running through the release tail.
    """
    import pretty_midi  # heavy: pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo_bpm)
    instrument = pretty_midi.Instrument(program=program)
    for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
        instrument.notes.append(pretty_midi.Note(velocity=note.velocity, pitch=note.pitch, start=note.start, end=note.end))
    if notes:
        end = max(note.end for note in notes) + tail_seconds
        instrument.control_changes.append(pretty_midi.ControlChange(number=64, value=0, time=end))
    midi.instruments.append(instrument)
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()
