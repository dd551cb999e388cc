"""``MidiTokenizer``: YourMT3+/MT3 MIDI events as a Transformers tokenizer.

Local ids: 0..3 are ``<pad> <sos> <eos> <sep>``, then shift, pitch, velocity, tie, program
and drum events (see :mod:`umust_hf.processing.midi_events`). With the default
``max_shift_steps=2001`` the non-special size is ``DEFAULT_MIDI_SIZE`` (2388) and a segment
covers 20 s.

Velocity is on/off only (MT3 with one velocity bin): decoding writes ``default_velocity``
(100) for every note. Drums are onset-only; decoded drum hits last ``drum_seconds``.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any

from transformers.tokenization_utils_base import BatchEncoding

from ..constants import MIDI_MAX_SHIFT_STEPS, MIDI_STEPS_PER_SECOND
from ..vocabulary import EOS_ID
from .midi_events import EventLayout, QuantizedNote, decode_segments, encode_segments, quantize
from .notes import Note, read_midi, write_midi
from .tokenization_utils_umust import FixedVocabTokenizer

logger = logging.getLogger(__name__)


class MidiDecodeError(ValueError):
    """Ill-formed MIDI event sequence (strict mode)."""


class MidiTokenizer(FixedVocabTokenizer):
    """MIDI file <-> note list <-> segments of MT3-style event ids.

    Args:
        max_shift_steps: number of shift tokens (segment length + 1 steps); 2001 = 20 s.
        steps_per_second: time resolution (100 = 10 ms).
        default_velocity: velocity given to decoded notes (events keep on/off only).
        drum_seconds: length given to decoded drum hits.
        vocab_file: a saved ``vocab.json``, checked against the layout these settings build.
        strict: default for every ``strict=`` argument (``False``: skip bad events and warn).

    Example::

        tok = MidiTokenizer()
        segments = tok.encode_midi("performance.mid")   # list of id lists, each ends with <eos>
        notes = tok.decode_segments(segments)           # list[Note]
        midi_bytes = tok.notes_to_midi(notes, "out.mid")
    """

    def __init__(
        self,
        max_shift_steps: int = MIDI_MAX_SHIFT_STEPS,
        steps_per_second: int = MIDI_STEPS_PER_SECOND,
        default_velocity: int = 100,
        drum_seconds: float = 0.1,
        vocab_file: str | None = None,
        strict: bool = False,
        **kwargs: Any,
    ) -> None:
        if steps_per_second < 1:
            raise ValueError(f"steps_per_second must be positive, got {steps_per_second}")
        if not 1 <= default_velocity <= 127:
            raise ValueError(f"default_velocity must lie in 1..127, got {default_velocity}")
        self.layout = EventLayout(int(max_shift_steps))
        self.max_shift_steps = int(max_shift_steps)
        self.steps_per_second = int(steps_per_second)
        self.default_velocity = int(default_velocity)
        self.drum_seconds = float(drum_seconds)
        super().__init__(
            self.layout.token_strings(),
            strict=strict,
            max_shift_steps=self.max_shift_steps,
            steps_per_second=self.steps_per_second,
            default_velocity=self.default_velocity,
            drum_seconds=self.drum_seconds,
            **kwargs,
        )
        self.check_saved_vocab(vocab_file)

    @property
    def segment_seconds(self) -> float:
        """Longest segment the shift range allows (20 s by default)."""
        return (self.max_shift_steps - 1) / self.steps_per_second

    def _segment_steps(self, segment_seconds: float | None) -> int:
        seconds = self.segment_seconds if segment_seconds is None else segment_seconds
        steps = round(seconds * self.steps_per_second)
        if not 1 <= steps <= self.max_shift_steps - 1:
            raise ValueError(
                f"segment_seconds={seconds} needs {steps + 1} shift tokens; this tokenizer has "
                f"{self.max_shift_steps} (at most {self.segment_seconds} s per segment)"
            )
        return steps

    # ------------------------------------------------------------ notes <-> ids
    def quantize(self, notes: Iterable[Note]) -> list[Note]:
        """Notes as they come back from a round trip: on the grid, representable, sorted."""
        return self._to_notes(quantize(notes, self.steps_per_second))

    def encode_notes(
        self, notes: Iterable[Note], segment_seconds: float | None = None, add_special_tokens: bool = True
    ) -> list[list[int]]:
        """Encode notes as one id list per segment (each ending with ``<eos>`` by default)."""
        steps = self._segment_steps(segment_seconds)
        segments = encode_segments(quantize(notes, self.steps_per_second), self.layout, steps)
        return [[*s, EOS_ID] for s in segments] if add_special_tokens else segments

    def decode_segments(
        self,
        segments: Sequence[Sequence[int]] | Any,
        segment_seconds: float | None = None,
        start_time: float = 0.0,
        strict: bool | None = None,
        end_seconds: float | None = None,
    ) -> list[Note]:
        """Join consecutive segments back into notes.

        Each segment may be a list, array or tensor of ids; it stops at its first ``<eos>``,
        and ``<pad>``/``<sos>`` are skipped. Invalid events raise :class:`MidiDecodeError`
        in strict mode and are skipped with one logged warning in lenient mode.
        ``start_time`` shifts every note (for segments taken from the middle of a piece).
        ``end_seconds`` (from the first segment's start; e.g. the transcribed clip's length):
        where a note left sounding ends, if before the last segment's end; such a note then
        sounds to the end of the recording, which is no error.
        """
        strict = self.strict if strict is None else strict
        steps = self._segment_steps(segment_seconds)
        if hasattr(segments, "tolist"):
            segments = segments.tolist()
        if len(segments) and isinstance(segments[0], numbers.Integral):
            segments = [segments]
        try:
            cleaned = [self.clean_ids(segment, strict=strict) for segment in segments]
        except ValueError as error:
            raise MidiDecodeError(str(error)) from error
        if end_seconds is not None and not (math.isfinite(end_seconds) and end_seconds >= 0):
            raise ValueError(f"end_seconds must be a finite length of at least 0 s, got {end_seconds}")
        end_step = None if end_seconds is None else round(end_seconds * self.steps_per_second)
        notes, report = decode_segments(cleaned, self.layout, steps, end_step)
        if report:
            if strict:
                raise MidiDecodeError(f"ill-formed MIDI events ({report.summary()}); first: {report.first}")
            logger.warning("MidiTokenizer: invalid MIDI events skipped or repaired (%s; a note left sounding ends "
                           "with its segment)", report.summary())
        return self._to_notes(notes, start_time)

    def _to_notes(self, notes: Iterable[QuantizedNote], start_time: float = 0.0) -> list[Note]:
        sps = self.steps_per_second
        out = []
        for n in notes:
            onset = start_time + n.onset / sps
            offset = onset + self.drum_seconds if n.is_drum else start_time + n.offset / sps
            out.append(Note(onset, offset, n.pitch, self.default_velocity, n.program, n.is_drum))
        return out

    # ------------------------------------------------------------ files
    def encode_midi(
        self,
        source: str | os.PathLike | bytes,
        segment_seconds: float | None = None,
        sustain_pedal: bool = False,
        add_special_tokens: bool = True,
    ) -> list[list[int]]:
        """Read a MIDI file (path or bytes) with partitura and encode it segment by segment."""
        notes = read_midi(source, sustain_pedal=sustain_pedal)
        return self.encode_notes(notes, segment_seconds, add_special_tokens)

    def decode_to_midi(
        self,
        segments: Sequence[Sequence[int]] | Any,
        path: str | os.PathLike | None = None,
        segment_seconds: float | None = None,
        strict: bool | None = None,
        end_seconds: float | None = None,
    ) -> bytes:
        """Decode segments and write them as a MIDI file; returns the bytes (and writes ``path``).
        ``end_seconds``: see :meth:`decode_segments`."""
        return write_midi(self.decode_segments(segments, segment_seconds, strict=strict, end_seconds=end_seconds),
                          path)

    @staticmethod
    def midi_to_notes(source: str | os.PathLike | bytes, sustain_pedal: bool = False) -> list[Note]:
        """Read a MIDI file into notes (see :func:`umust_hf.processing.notes.read_midi`)."""
        return read_midi(source, sustain_pedal=sustain_pedal)

    @staticmethod
    def notes_to_midi(notes: Iterable[Note], path: str | os.PathLike | None = None) -> bytes:
        """Write notes as MIDI bytes (and to ``path``); see :func:`umust_hf.processing.notes.write_midi`."""
        return write_midi(notes, path)

    # ------------------------------------------------------------ HF entry point
    def __call__(self, text: Any = None, notes: Iterable[Note] | None = None, **kwargs: Any) -> BatchEncoding:
        """``tokenizer(notes=...)`` encodes a performance as a batch of segments (Pop2Piano style).

        Padding and tensor options (``padding``, ``return_tensors``...) go to :meth:`pad`;
        ``segment_seconds`` and ``add_special_tokens`` to :meth:`encode_notes`. Without
        ``notes`` it tokenizes event text (``"shift:10 pitch:60 ..."``) like any tokenizer.
        """
        if notes is None:
            return super().__call__(text, **kwargs)
        if text is not None:
            raise ValueError("MidiTokenizer: pass either text or notes, not both")
        segments = self.encode_notes(
            notes, kwargs.pop("segment_seconds", None), kwargs.pop("add_special_tokens", True)
        )
        return self.pad({"input_ids": segments}, **kwargs)


__all__ = ["MidiTokenizer", "MidiDecodeError"]
