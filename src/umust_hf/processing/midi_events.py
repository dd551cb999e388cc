"""MT3/YourMT3+ MIDI events: notes <-> segments of event ids.

Layout after the four specials (local ids ``4 + ...``)::

    shift 0..max_shift_steps-1   absolute time in the segment, 10 ms steps   [2001]
    pitch 0..127                                                             [128]
    velocity 0..1                1 = the following pitches start, 0 = they end [2]
    tie                          ends the tie section                        [1]
    program 0..127               instrument of the following pitches         [128]
    drum 0..127                  onset-only drum hit                         [128]

A segment covers ``segment_steps`` steps starting at ``k * segment_steps``. It opens with
the tie section (program + pitch of the notes still sounding at its start, then ``tie``),
then, per time step, ``shift`` (omitted at the segment start), note-offs, note-ons and
drums; ``program`` and ``velocity`` are written only when they change. Onsets at ``t``
belong to the segment with ``start <= t < start + segment_steps``, offsets to the one with
``start < t <= start + segment_steps`` (hence ``max_shift_steps = segment_steps + 1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from math import ceil

from ..vocabulary import NUM_SPECIALS
from .notes import Note

NUM_PITCHES = 128
NUM_PROGRAMS = 128


@dataclass(frozen=True)
class QuantizedNote:
    """A note on the 10 ms grid: ``onset``/``offset`` are step indices (drums: offset = onset + 1)."""

    onset: int
    offset: int
    pitch: int
    program: int
    is_drum: bool

    @property
    def key(self) -> tuple[int, int]:
        return (self.program, self.pitch)


@dataclass(frozen=True)
class EventLayout:
    """Where each event family lives in the local id space (after the specials)."""

    max_shift_steps: int = 2001

    def __post_init__(self) -> None:
        if self.max_shift_steps < 2:
            raise ValueError(f"max_shift_steps must be at least 2, got {self.max_shift_steps}")

    @property
    def shift0(self) -> int:
        return NUM_SPECIALS

    @property
    def pitch0(self) -> int:
        return self.shift0 + self.max_shift_steps

    @property
    def velocity0(self) -> int:
        return self.pitch0 + NUM_PITCHES

    @property
    def tie(self) -> int:
        return self.velocity0 + 2

    @property
    def program0(self) -> int:
        return self.tie + 1

    @property
    def drum0(self) -> int:
        return self.program0 + NUM_PROGRAMS

    @property
    def stop(self) -> int:
        """One past the last id."""
        return self.drum0 + NUM_PITCHES

    @property
    def num_tokens(self) -> int:
        return self.stop - NUM_SPECIALS

    def token_strings(self) -> list[str]:
        return [
            *(f"shift:{i}" for i in range(self.max_shift_steps)),
            *(f"pitch:{i}" for i in range(NUM_PITCHES)),
            "velocity:0", "velocity:1", "tie",
            *(f"program:{i}" for i in range(NUM_PROGRAMS)),
            *(f"drum:{i}" for i in range(NUM_PITCHES)),
        ]


def quantize(notes: Iterable[Note], steps_per_second: int = 100) -> list[QuantizedNote]:
    """Put notes on the step grid and make them representable as events.

    Onsets/offsets round to the nearest step; a note shorter than one step lasts one step;
    of notes of one (program, pitch) starting at the same step the longest is kept; a note
    still sounding when the same (program, pitch) starts again is cut there. Drums keep one
    hit per (pitch, step). The result is sorted by (onset, is_drum, program, pitch).
    """
    tonal: dict[tuple[int, int], dict[int, int]] = {}
    drums: set[tuple[int, int]] = set()
    for note in notes:
        onset = round(note.onset * steps_per_second)
        if note.is_drum:
            drums.add((onset, note.pitch))
            continue
        offset = max(round(note.offset * steps_per_second), onset + 1)
        starts = tonal.setdefault((note.program, note.pitch), {})
        starts[onset] = max(offset, starts.get(onset, 0))
    out = [QuantizedNote(onset, onset + 1, pitch, 0, True) for onset, pitch in drums]
    for (program, pitch), starts in tonal.items():
        onsets = sorted(starts)
        for onset, following in zip(onsets, [*onsets[1:], None]):
            offset = starts[onset] if following is None else min(starts[onset], following)
            out.append(QuantizedNote(onset, offset, pitch, program, False))
    return sorted(out, key=lambda n: (n.onset, n.is_drum, n.program, n.pitch))


def encode_segments(notes: Sequence[QuantizedNote], layout: EventLayout, segment_steps: int) -> list[list[int]]:
    """Encode quantized notes (see :func:`quantize`) as one id list per segment, no specials."""
    if not 1 <= segment_steps <= layout.max_shift_steps - 1:
        raise ValueError(
            f"segment length {segment_steps} steps needs max_shift_steps >= {segment_steps + 1}, "
            f"the vocabulary has {layout.max_shift_steps}"
        )
    end = max([1, *(n.offset for n in notes)])
    count = max(1, ceil(end / segment_steps))
    onsets: list[list[QuantizedNote]] = [[] for _ in range(count)]
    offsets: list[list[QuantizedNote]] = [[] for _ in range(count)]
    ties: list[list[QuantizedNote]] = [[] for _ in range(count)]
    for note in notes:
        onsets[note.onset // segment_steps].append(note)
        if note.is_drum:
            continue
        last = (note.offset - 1) // segment_steps  # the segment holding the offset
        offsets[last].append(note)
        for k in range(note.onset // segment_steps + 1, last + 1):
            ties[k].append(note)
    return [
        _encode_segment(k * segment_steps, ties[k], onsets[k], offsets[k], layout) for k in range(count)
    ]


def _encode_segment(
    start: int, ties: list[QuantizedNote], onsets: list[QuantizedNote], offsets: list[QuantizedNote], layout: EventLayout
) -> list[int]:
    ids: list[int] = []
    state = {"program": None, "velocity": None}

    def emit(program: int | None, velocity: int | None, value_id: int) -> None:
        if program is not None and state["program"] != program:
            ids.append(layout.program0 + program)
            state["program"] = program
        if velocity is not None and state["velocity"] != velocity:
            ids.append(layout.velocity0 + velocity)
            state["velocity"] = velocity
        ids.append(value_id)

    for note in sorted(ties, key=lambda n: n.key):
        emit(note.program, None, layout.pitch0 + note.pitch)
    ids.append(layout.tie)
    events: dict[int, list[tuple[int, int, int, int]]] = {}
    for note in offsets:  # order within a step: offs, ons, drums; then program, pitch
        events.setdefault(note.offset, []).append((0, note.program, note.pitch, 0))
    for note in onsets:
        events.setdefault(note.onset, []).append((2 if note.is_drum else 1, note.program, note.pitch, 1))
    for time in sorted(events):
        if time != start:
            ids.append(layout.shift0 + time - start)
        for family, program, pitch, velocity in sorted(events[time]):
            if family == 2:
                emit(None, 1, layout.drum0 + pitch)
            else:
                emit(program, velocity, layout.pitch0 + pitch)
    return ids


@dataclass
class DecodeReport:
    """Counts of invalid events met while decoding (empty for a well-formed sequence)."""

    counts: Counter = field(default_factory=Counter)
    first: list[str] = field(default_factory=list)

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] += 1
        if len(self.first) < 5:
            self.first.append(f"{kind} ({where})")

    def __bool__(self) -> bool:
        return bool(self.counts)

    def summary(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))


def decode_segments(
    segments: Sequence[Sequence[int]], layout: EventLayout, segment_steps: int, end_step: int | None = None
) -> tuple[list[QuantizedNote], DecodeReport]:
    """Decode consecutive segments (ids without specials) back into quantized notes.

    Never raises on bad events: they are skipped and counted in the report (callers in
    strict mode raise when it is non-empty). Notes left sounding at the end close at the end
    of the last segment (reported), or at ``end_step`` when it is given (the end of the recording a
    transcription came from: not reported; never before one step after the onset); tied notes a segment does
    not re-declare close at its start; tied notes no earlier segment started begin at the segment start.
    """
    report = DecodeReport()
    notes: list[QuantizedNote] = []
    active: dict[tuple[int, int], int] = {}  # (program, pitch) -> onset step

    def close(key: tuple[int, int], time: int, where: str) -> None:
        onset = active.pop(key)
        if time > onset:
            notes.append(QuantizedNote(onset, time, key[1], key[0], False))
        else:
            report.add("zero-length note", where)

    for k, segment in enumerate(segments):
        start = k * segment_steps
        time = start
        program: int | None = None
        velocity: int | None = None
        segment = list(segment)
        in_ties = layout.tie in segment
        if not in_ties:
            report.add("missing tie", f"segment {k}")
            for key in list(active):
                close(key, start, f"segment {k}")
        declared: set[tuple[int, int]] = set()
        for position, index in enumerate(segment):
            where = f"segment {k}, position {position}"
            if in_ties:
                if index == layout.tie:
                    in_ties = False
                    for key in [key for key in active if key not in declared]:
                        report.add("undeclared tied note", where)
                        close(key, start, where)
                    for key in declared - active.keys():
                        active[key] = start
                elif layout.program0 <= index < layout.drum0:
                    program = index - layout.program0
                elif layout.pitch0 <= index < layout.velocity0:
                    if program is None:
                        report.add("pitch without program", where)
                    declared.add((program or 0, index - layout.pitch0))
                else:
                    report.add("invalid event in tie section", where)
                continue
            if layout.shift0 <= index < layout.pitch0:
                target = start + index - layout.shift0
                if target < time:
                    report.add("backward shift", where)
                elif target > start + segment_steps:
                    report.add("shift past segment end", where)
                else:
                    time = target
            elif layout.program0 <= index < layout.drum0:
                program = index - layout.program0
            elif layout.velocity0 <= index < layout.tie:
                velocity = index - layout.velocity0
            elif layout.pitch0 <= index < layout.velocity0:
                pitch = index - layout.pitch0
                if velocity is None:
                    report.add("pitch without velocity", where)
                    continue
                if program is None:
                    report.add("pitch without program", where)
                    program = 0
                key = (program, pitch)
                if velocity == 0:
                    if key in active:
                        close(key, time, where)
                    else:
                        report.add("offset without onset", where)
                elif key in active and active[key] == time:
                    report.add("duplicate onset", where)
                else:
                    if key in active:
                        close(key, time, where)
                    if time >= start + segment_steps:
                        report.add("onset at segment end", where)
                        continue
                    active[key] = time
            elif layout.drum0 <= index < layout.stop:
                if velocity == 0:
                    report.add("drum with velocity 0", where)
                elif time >= start + segment_steps:
                    report.add("onset at segment end", where)
                else:
                    notes.append(QuantizedNote(time, time + 1, index - layout.drum0, 0, True))
            elif index == layout.tie:
                report.add("second tie", where)
            else:
                report.add("invalid id", where)
    end = len(segments) * segment_steps if end_step is None else min(end_step, len(segments) * segment_steps)
    for key in list(active):
        if end_step is None:  # with the recording's end given, "sounds to the end" is a reading, not a repair
            report.add("note without offset", "end")
        close(key, max(end, active[key] + 1), "end")
    notes.sort(key=lambda n: (n.onset, n.is_drum, n.program, n.pitch))
    return notes, report
