"""MIDI event grammar during generation: every real event sequence passes, decoder-dropped events do not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transformers import LogitsProcessor, LogitsProcessorList

from umust_hf import MidiTokenizer, UMustConfig, UMustForConditionalGeneration
from umust_hf.modeling.midi_grammar_umust import MidiEventGrammar
from umust_hf.processing.midi_events import decode_segments
from umust_hf.processing.notes import Note
from umust_hf.vocabulary import EOS_ID

CONFIG = UMustConfig.from_preset("tiny")
VOCABULARY = CONFIG.vocabulary


def grammar(rows: int = 1) -> MidiEventGrammar:
    return MidiEventGrammar(VOCABULARY.offset("midi"), VOCABULARY.midi_size, EOS_ID, torch.ones(rows, dtype=torch.bool))


def allowed_after(tokens: list[int]) -> torch.Tensor:
    """``(vocab,)`` bool: what the grammar allows after the unified ``tokens`` (SOS first)."""
    scores = grammar()(torch.tensor([[1, *tokens]]), torch.zeros(1, VOCABULARY.size), codebook=0)
    return torch.isfinite(scores[0])


def unified(local: list[int]) -> list[int]:
    return VOCABULARY.local_to_unified(local, "midi").tolist()


def random_notes(seed: int, seconds: float = 45.0) -> list[Note]:
    """Notes, chords, re-struck keys, two programs, drums, and notes crossing 20 s segment bounds."""
    rng = np.random.default_rng(seed)
    notes = []
    for _ in range(120):
        onset = float(rng.uniform(0, seconds))
        if rng.random() < 0.1:
            notes.append(Note(onset, onset + 0.1, int(rng.integers(35, 50)), is_drum=True))
        else:
            notes.append(Note(onset, onset + float(rng.exponential(1.5)) + 0.01, int(rng.integers(40, 60)),
                              program=int(rng.choice([0, 40]))))
    return notes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_event_of_real_segments_is_allowed_where_it_stands(seed):
    tokenizer = MidiTokenizer()
    segments = tokenizer.encode_notes(random_notes(seed))
    assert len(segments) == 3 and any(tokenizer.layout.tie != s[0] for s in segments[1:])  # ties present
    for number, segment in enumerate(segments):
        ids = unified(segment)  # ends with EOS
        processor = grammar()
        history = [1]
        for position, token in enumerate(ids):
            scores = processor(torch.tensor([history]), torch.zeros(1, VOCABULARY.size), codebook=0)
            if token == EOS_ID and number < len(segments) - 1:
                # a segment with notes held into the next one: the grammar ends a row only with its notes
                # released (a generated row is a whole clip)
                assert not torch.isfinite(scores[0, token])
                break
            assert torch.isfinite(scores[0, token]), (seed, position, token)
            history.append(token)


def test_the_grammar_layout_is_the_tokenizers():
    """The grammar repeats the MIDI event layout (it must run without the package, in a saved model folder)."""
    layout, processor = MidiTokenizer().layout, grammar()
    for name in ("shift0", "pitch0", "velocity0", "tie", "program0", "drum0"):
        assert getattr(processor, name) == unified([getattr(layout, name)])[0], name
    assert processor.stop == unified([layout.stop - 1])[0] + 1
    assert processor.segment_steps == MidiTokenizer()._segment_steps(None)


def test_events_the_decoder_drops_are_masked():
    layout = MidiTokenizer().layout
    tie, vel0, vel1, program0 = (unified([i])[0] for i in (layout.tie, layout.velocity0, layout.velocity0 + 1,
                                                             layout.program0))
    pitch = lambda p: unified([layout.pitch0 + p])[0]  # noqa: E731
    shift = lambda s: unified([layout.shift0 + s])[0]  # noqa: E731
    assert not allowed_after([])[EOS_ID] and allowed_after([])[tie]  # the tie section comes first
    assert not allowed_after([tie])[vel0]  # nothing sounds: no note-off
    playing = [tie, program0, vel1, pitch(60), shift(50)]
    assert not allowed_after(playing)[shift(50)] and not allowed_after(playing)[shift(10)]  # time only moves on
    assert allowed_after(playing)[shift(51)] and not allowed_after(playing)[EOS_ID]  # a note still sounds
    assert allowed_after([*playing, vel0, pitch(60)])[EOS_ID]  # released: the row may end
    at_segment_end = [tie, program0, vel1, pitch(60), shift(VOCABULARY.midi_size - 388)]
    assert allowed_after(at_segment_end)[EOS_ID]  # nothing later to shift to: ending is allowed
    assert not allowed_after(playing)[pitch(60)]  # a second onset of a sounding note
    assert allowed_after(playing)[pitch(61)]
    releasing = [*playing, vel0]
    assert allowed_after(releasing)[pitch(60)] and not allowed_after(releasing)[pitch(61)]  # off only if on
    assert not allowed_after([tie, program0, vel1, pitch(60), vel0])[pitch(60)]  # no zero-length note
    assert not allowed_after([tie, program0, vel1, pitch(60), shift(3), program0])[program0]  # no repeated program


def test_other_rows_and_codebooks_pass_through():
    processor = MidiEventGrammar(VOCABULARY.offset("midi"), VOCABULARY.midi_size, EOS_ID, torch.tensor([False, True]))
    scores = torch.zeros(2, VOCABULARY.size)
    assert torch.equal(processor(torch.ones(2, 1, dtype=torch.long), scores, codebook=1), scores)
    out = processor(torch.ones(2, 1, dtype=torch.long), scores, codebook=0)
    assert torch.isfinite(out[0]).all() and not torch.isfinite(out[1]).all()


def test_a_random_model_generates_only_decodable_midi_under_the_grammar():
    torch.manual_seed(0)
    model = UMustForConditionalGeneration(CONFIG).eval()
    codes = torch.randint(0, 1024, (4, 12, 4), generator=torch.Generator().manual_seed(0))
    inputs = torch.stack([torch.from_numpy(VOCABULARY.to_bundle(c.numpy(), "audio")) for c in codes])
    layout, steps = MidiTokenizer().layout, VOCABULARY.midi_size - 388
    # every row starts past its tie section, with a program and note-ons chosen: a random model rarely picks
    # `tie` (one event of ~260 there) within a short test
    prefix = torch.full((4, 4, 4), 0)
    prefix[:, :, 0] = torch.tensor([1, *unified([layout.tie, layout.program0, layout.velocity0 + 1])])
    kwargs = {"input_ids": inputs, "source_modality": "audio", "target_modality": "midi", "max_new_tokens": 60,
              "decoder_input_ids": prefix}

    decoded: list[int] = []
    finished: list[bool] = []

    def problems(generated: torch.Tensor) -> set[str]:
        found = set()
        for row in generated[:, 1:, 0].tolist():
            ended = EOS_ID in row
            events = row[: row.index(EOS_ID)] if ended else row  # from the prefix's tie on
            local = VOCABULARY.unified_to_local([t for t in events if t > EOS_ID], "midi").tolist()
            notes, report = decode_segments([local], layout, steps)
            found |= set(report.counts)
            decoded.append(len(notes))
            if ended:
                finished.append(not report)  # a row that ended released every note
        return found

    free = problems(model.generate(**kwargs, do_sample=True, midi_grammar=False))
    assert free - {"note without offset"}  # the test can fail: unconstrained output breaks the grammar
    torch.manual_seed(1)
    finished.clear()
    for sample in (False, True):
        decoded.clear()
        assert problems(model.generate(**kwargs, do_sample=sample)) <= {"note without offset"}
        assert sum(decoded) > 0  # the rows did leave the tie section and play notes
    assert all(finished)  # any row that ended released every note

    # a model that would end at once, or else release its note, must release the note the prefix starts first
    release = unified([layout.velocity0, layout.pitch0 + 60])

    class PreferEos(LogitsProcessor):
        def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
            scores[:, EOS_ID] += 1e4
            scores[:, release] += torch.tensor([5e3, 2e3])
            return scores

    started = torch.cat([prefix, torch.zeros(4, 1, 4, dtype=torch.long)], dim=1)
    started[:, -1, 0] = unified([layout.pitch0 + 60])[0]
    decoded.clear(), finished.clear()
    ends = model.generate(**{**kwargs, "decoder_input_ids": started}, logits_processor=LogitsProcessorList([PreferEos()]))
    problems(ends)
    ended = [row for row in ends[:, 1:, 0].tolist() if EOS_ID in row]
    # every row that ended decoded with no repair: it released the note first (a row that wandered off to
    # another program runs on)
    assert len(ended) >= 3 and len(finished) == len(ended) and all(finished)
    unconstrained = model.generate(**{**kwargs, "decoder_input_ids": started}, midi_grammar=False,
                                   logits_processor=LogitsProcessorList([PreferEos()]))
    assert problems(unconstrained) == {"note without offset"}  # it ended with the note held
