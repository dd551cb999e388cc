"""Valid MIDI event sequences during generation: mask the events the MIDI decoder would drop.

The MIDI target is a sequence of YourMT3+-style events (see ``umust_hf.processing.midi_events``):
a tie section (``program``/``pitch`` of notes sounding at the segment start, closed by ``tie``),
then per time step an absolute ``shift``, note-offs and note-ons (``velocity`` 0/1 and ``program``
written when they change). An under-trained model often emits events that break this grammar:
note-offs of notes that never started, a second onset of a sounding note, shifts back in time.
The decoder skips them (with a warning), so such an output silently loses its notes (a demo model's
greedy readings: ``docs/experiments.md``). This processor keeps
each MIDI row's decoding state (time, program, velocity, sounding notes) and allows only the
events the decoder accepts, so what the model generates is what the MIDI file holds. A row may
end (EOS) only once its notes are released: a generated row is a whole transcription (the
translation paths give one row per clip), and a note left sounding would be held by the decoder to
the end of the 20 s segment, however short the clip. (A window cut from a longer recording thus
releases its held notes at the window's end, as a separately transcribed clip would.)

Standalone (torch only): it travels with the model's code into a saved model folder.
"""

from __future__ import annotations

import torch

#: Event families after the shifts, in the MIDI layout's order (pitch, velocity, tie, program, drum).
NUM_PITCHES, NUM_VELOCITIES, NUM_PROGRAMS, NUM_DRUMS = 128, 2, 128, 128
#: Layout tokens that are not shifts.
NON_SHIFT_TOKENS = NUM_PITCHES + NUM_VELOCITIES + 1 + NUM_PROGRAMS + NUM_DRUMS


class _RowState:
    """What the MIDI decoder knows after a row's events so far."""

    __slots__ = ("in_ties", "program", "velocity", "time", "sounding")

    def __init__(self) -> None:
        self.in_ties = True
        self.program: int | None = None
        self.velocity: int | None = None
        self.time = 0
        self.sounding: dict[tuple[int, int], int] = {}  # (program, pitch) -> onset step


class MidiEventGrammar:
    """Logits processor (``(input_ids, scores, codebook)``) for the first codebook of MIDI rows.

    ``offset``: unified id of the first MIDI event (``shift 0``); ``midi_size``: MIDI events in the
    vocabulary; ``eos_id``; ``rows``: ``(B,)`` bool, the rows whose target is MIDI. Other rows and
    other codebooks pass through unchanged. The state advances with the tokens appended since the
    previous call, so decoding stays linear in the output length.
    """

    def __init__(self, offset: int, midi_size: int, eos_id: int, rows: torch.Tensor):
        max_shift_steps = midi_size - NON_SHIFT_TOKENS
        if max_shift_steps < 2:
            raise ValueError(f"a MIDI vocabulary of {midi_size} events holds no shift range")
        self.shift0 = offset
        self.pitch0 = offset + max_shift_steps
        self.velocity0 = self.pitch0 + NUM_PITCHES
        self.tie = self.velocity0 + NUM_VELOCITIES
        self.program0 = self.tie + 1
        self.drum0 = self.program0 + NUM_PROGRAMS
        self.stop = self.drum0 + NUM_DRUMS
        self.segment_steps = max_shift_steps - 1  # offsets may fall on the segment's last step
        self.eos_id = eos_id
        self.rows = [int(row) for row in torch.nonzero(rows.cpu()).flatten()]
        self.row_index = torch.tensor(self.rows, device=rows.device)
        self.states = {row: _RowState() for row in self.rows}
        self.consumed = 1  # the start frame (SOS) holds no event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, codebook: int) -> torch.FloatTensor:
        if codebook != 0 or not self.rows:
            return scores
        history = input_ids[self.rows, self.consumed :].tolist()
        self.consumed = input_ids.shape[1]
        allowed = torch.zeros((len(self.rows), scores.shape[-1]), dtype=torch.bool)
        for index, (row, tokens) in enumerate(zip(self.rows, history)):
            state = self.states[row]
            for token in tokens:
                self._advance(state, token)
            self._allow(state, allowed[index])
        scores = scores.clone()
        rows = self.row_index.to(scores.device)
        scores[rows] = scores[rows].masked_fill(~allowed.to(scores.device), float("-inf"))
        return scores

    def _advance(self, state: _RowState, token: int) -> None:
        """Apply one event, as the MIDI decoder reads it."""
        if state.in_ties:
            if token == self.tie:
                state.in_ties = False
            elif self.program0 <= token < self.drum0:
                state.program = token - self.program0
            elif self.pitch0 <= token < self.velocity0:
                state.sounding[(state.program or 0, token - self.pitch0)] = 0
            return
        if self.shift0 <= token < self.pitch0:
            state.time = token - self.shift0
        elif self.program0 <= token < self.drum0:
            state.program = token - self.program0
        elif self.velocity0 <= token < self.tie:
            state.velocity = token - self.velocity0
        elif self.pitch0 <= token < self.velocity0 and state.program is not None:
            key = (state.program, token - self.pitch0)
            if state.velocity == 0:
                state.sounding.pop(key, None)
            elif state.velocity == 1:
                state.sounding[key] = state.time

    def _allow(self, state: _RowState, allowed: torch.Tensor) -> None:
        """Mark the events the decoder accepts next (never none: ``tie`` in the tie section; then EOS, or
        while notes sound a later shift, a note-off or, at the segment's last step, EOS)."""
        allowed[self.program0 : self.drum0] = True
        if state.program is not None:
            allowed[self.program0 + state.program] = False
        if state.in_ties:
            allowed[self.tie] = True
            if state.program is not None:
                allowed[self.pitch0 : self.velocity0] = True
                for program, pitch in state.sounding:
                    if program == state.program:
                        allowed[self.pitch0 + pitch] = False
            return
        # a row ends with its notes released (the decoder would hold them to the segment's end, 20 s)
        allowed[self.eos_id] = not state.sounding or state.time >= self.segment_steps
        allowed[self.shift0 + state.time + 1 : self.shift0 + self.segment_steps + 1] = True
        if state.velocity != 1:
            allowed[self.velocity0 + 1] = True
        if state.velocity != 0 and state.sounding:
            allowed[self.velocity0] = True
        if state.program is None or state.velocity is None:
            return
        mine = {pitch: onset for (program, pitch), onset in state.sounding.items() if program == state.program}
        if state.velocity == 1:
            if state.time < self.segment_steps:
                allowed[self.pitch0 : self.velocity0] = True
                allowed[self.drum0 : self.stop] = True
                for pitch in mine:
                    allowed[self.pitch0 + pitch] = False
        else:
            for pitch, onset in mine.items():
                allowed[self.pitch0 + pitch] = onset < state.time


__all__ = ["MidiEventGrammar"]
