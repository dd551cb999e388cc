"""The note list: the middle representation between MIDI files and MIDI tokens.

MIDI files are read and written with partitura (program changes come from partitura's
``PerformedPart.programs``; channel 10, i.e. index 9, is drums). Times are seconds.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

import mido

from ..errors import UserError
from ..io_utils import atomic_write_bytes

logger = logging.getLogger(__name__)

DRUM_CHANNEL = 9
#: 1 tick = 1 ms at 120 bpm, so 10 ms steps land exactly on ticks when writing.
_PPQ = 500
_MPQ = 500_000


@dataclass(frozen=True, order=True)
class Note:
    """One performed note. Drums (``is_drum``) are onset-only: their offset is nominal."""

    onset: float
    offset: float
    pitch: int
    velocity: int = 100
    program: int = 0
    is_drum: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"note pitch must lie in 0..127, got {self.pitch}")
        if not 0 <= self.program <= 127:
            raise ValueError(f"note program must lie in 0..127, got {self.program}")
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"note velocity must lie in 1..127, got {self.velocity}")
        if not (self.onset >= 0 and self.offset >= self.onset):
            raise ValueError(f"note times must satisfy 0 <= onset <= offset, got {self.onset}..{self.offset}")

    @property
    def duration(self) -> float:
        return self.offset - self.onset

    @property
    def instrument(self) -> tuple[bool, int]:
        """``(is_drum, program)``: what the MIDI events keep apart."""
        return (self.is_drum, 0 if self.is_drum else self.program)


def read_midi(source: str | os.PathLike | bytes, sustain_pedal: bool = False) -> list[Note]:
    """Read a MIDI file (path or bytes) into notes sorted by onset, pitch.

    ``sustain_pedal=True`` extends offsets while the sustain pedal (CC 64 >= 64) is down, as
    transcription targets often do; the default keeps the key releases.
    """
    import partitura  # heavy: partitura

    where = "the given MIDI bytes" if isinstance(source, bytes) else os.fspath(source)
    try:
        midi = mido.MidiFile(file=io.BytesIO(source)) if isinstance(source, bytes) else mido.MidiFile(where)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # partitura warns on unmatched note-offs
            performance = partitura.load_performance_midi(midi)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as error:
        raise UserError(f"cannot read MIDI from {where}: {error}") from error

    # program changes act per channel across all tracks (MIDI semantics)
    changes: dict[int, list[tuple[float, int]]] = {}
    for part in performance.performedparts:
        for change in part.programs:
            changes.setdefault(int(change["channel"]), []).append((float(change["time"]), int(change["program"])))
    for channel_changes in changes.values():
        channel_changes.sort()

    notes: list[Note] = []
    for part in performance.performedparts:
        for note in part.notes:
            channel = int(note["channel"])
            onset = float(note["note_on"])
            offset = float(note["sound_off"] if sustain_pedal else note["note_off"])
            is_drum = channel == DRUM_CHANNEL
            program = 0
            history = changes.get(channel, [])
            if history and not is_drum:
                index = bisect_right(history, (onset + 1e-9, 128)) - 1
                program = history[max(index, 0)][1]
            notes.append(
                Note(onset, max(offset, onset), int(note["midi_pitch"]), max(1, int(note["velocity"])), program, is_drum)
            )
    notes.sort()
    return notes


def write_midi(notes: Iterable[Note], path: str | os.PathLike | None = None) -> bytes:
    """Write notes as a type-1 MIDI file (one track per instrument) and return its bytes.

    Drums go to channel 10; other instruments get channels 1-16 (skipping 10) in order of
    first appearance, wrapping with a warning beyond 15 instruments. With ``path`` the file
    is also written atomically.
    """
    import partitura  # heavy: partitura
    from partitura.performance import Performance, PerformedPart  # heavy: partitura

    notes = sorted(notes)
    instruments: dict[tuple[bool, int], int] = {}
    for note in notes:
        instruments.setdefault(note.instrument, len(instruments))
    melodic = [i for i in instruments if not i[0]]
    if len(melodic) > 15:
        logger.warning("write_midi: %d melodic programs share 15 channels; some will sound wrong", len(melodic))
    channels = [c for c in range(16) if c != DRUM_CHANNEL]
    parts = []
    for instrument, track in instruments.items():
        is_drum, program = instrument
        channel = DRUM_CHANNEL if is_drum else channels[melodic.index(instrument) % len(channels)]
        part_notes = [
            dict(
                id=f"n{track}_{k}", midi_pitch=n.pitch, note_on=n.onset, note_off=n.offset,
                velocity=n.velocity, track=track, channel=channel,
            )
            for k, n in enumerate(n for n in notes if n.instrument == instrument)
        ]
        programs = [dict(time=0.0, program=program, channel=channel, track=track)]
        parts.append(PerformedPart(part_notes, programs=programs, ppq=_PPQ, mpq=_MPQ, track=track))
    midi = partitura.save_performance_midi(Performance(performedparts=parts), None, mpq=_MPQ, ppq=_PPQ)
    for track in midi.tracks:
        _program_changes_first(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    data = buffer.getvalue()
    if path is not None:
        atomic_write_bytes(path, data)
    return data


def _program_changes_first(track: list) -> None:
    """partitura writes program changes after the note-ons of the same tick: move them first."""
    count = 0
    while count < len(track) and track[count].time == 0:
        count += 1
    track[:count] = sorted(track[:count], key=lambda m: 0 if m.is_meta else 1 if m.type == "program_change" else 2)


