"""UMust generation: cached = uncached, per-row EOS, per-modality limits, sampling via stock processors."""

from __future__ import annotations

import pytest
import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from umust_hf import UMustForConditionalGeneration
from umust_hf.vocabulary import EOS_ID, PAD_ID

from helpers import AUDIO, IMAGE, MIDI, NOTATION, assert_valid_bundles, audio_sources, tiny_model



@pytest.mark.parametrize("qk_norm", [False, True])
def test_cached_and_uncached_greedy_generation_agree(qk_norm):
    model = tiny_model(qk_norm=qk_norm)
    inputs = audio_sources(model.config)
    target = torch.tensor([IMAGE, NOTATION, AUDIO])
    lengths = []
    hook = model.decoder.register_forward_hook(lambda module, args, output: lengths.append(args[0].shape[1]))
    cached = model.generate(**inputs, target_modality=target, max_new_tokens=12)
    uncached = model.generate(**inputs, target_modality=target, max_new_tokens=12, use_cache=False)
    hook.remove()
    assert lengths == [1] * 12 + list(range(1, 13))  # one new frame per step vs the whole prefix
    assert cached.shape == (3, 13, 4)
    assert torch.equal(cached, uncached)
    assert_valid_bundles(model, cached, target)
    assert (cached[1, 1:, 1:] == PAD_ID).all() and (cached[1, 1:, 0] != PAD_ID).any()  # notation: one stream


def test_generation_matches_teacher_forced_argmax():
    model = tiny_model(seed=3)
    inputs = audio_sources(model.config)
    target = torch.tensor([AUDIO, MIDI, IMAGE])
    # the MIDI event grammar masks events, which the teacher-forced argmax does not: compare without it
    generated = model.generate(**inputs, target_modality=target, max_new_tokens=6, suppress_tokens=[EOS_ID],
                               midi_grammar=False)
    labels = generated[:, 1:]
    out = model(**inputs, target_modality=target, labels=labels)
    predicted = out.logits.argmax(-1)
    assert torch.equal(predicted[[0, 2]], labels[[0, 2]])
    assert torch.equal(predicted[1, :, 0], labels[1, :, 0])


class ForceEosForRow(LogitsProcessor):
    """Forces EOS for one row at one step (codebook 0 only: later codebooks mask EOS out)."""

    def __init__(self, row: int, length: int):
        self.row, self.length = row, length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] == self.length and torch.isfinite(scores[self.row, EOS_ID]):
            scores[self.row] = float("-inf")
            scores[self.row, EOS_ID] = 0.0
        return scores


def test_rows_stop_at_their_own_eos():
    model = tiny_model()
    inputs = audio_sources(model.config)
    target = torch.tensor([AUDIO, AUDIO, NOTATION])
    processors = LogitsProcessorList([ForceEosForRow(row=0, length=3)])
    out = model.generate(**inputs, target_modality=target, max_new_tokens=8, logits_processor=processors,
                         suppress_tokens=None)
    assert out.shape[1] == 9
    assert out[0, 3].tolist() == [EOS_ID, PAD_ID, PAD_ID, PAD_ID]
    assert (out[0, 4:] == PAD_ID).all()
    assert (out[1, 1:, 0] != PAD_ID).all() and (out[1, 1:, 0] != EOS_ID).all()  # row 1 carried on
    # the other rows are what they would have been without row 0's EOS
    alone = model.generate(**inputs, target_modality=target, max_new_tokens=8)
    assert torch.equal(out[1:], alone[1:])


def test_generation_ends_when_every_row_has_ended():
    model = tiny_model()
    inputs = audio_sources(model.config, rows=2)
    processors = LogitsProcessorList([ForceEosForRow(row=0, length=2), ForceEosForRow(row=1, length=4)])
    out = model.generate(**inputs, target_modality="audio", max_new_tokens=50, logits_processor=processors)
    assert out.shape == (2, 5, 4)
    assert out[0, 2, 0] == EOS_ID and out[1, 4, 0] == EOS_ID


def test_default_length_is_the_target_modality_limit():
    model = tiny_model(max_notation_positions=4, max_audio_positions=9)
    inputs = audio_sources(model.config, rows=2)
    target = torch.tensor([NOTATION, AUDIO])
    out = model.generate(**inputs, target_modality=target, suppress_tokens=[EOS_ID])
    assert out.shape == (2, 9, 4)  # SOS + 8 audio frames fill max_audio_positions
    assert (out[0, 1:4, 0] != PAD_ID).all() and (out[0, 4:] == PAD_ID).all()  # notation row stopped at 4
    assert (out[1, 1:] != PAD_ID).all()
    # an explicit length is capped per row by the position table, never overflowing it
    longer = model.generate(**inputs, target_modality=target, suppress_tokens=[EOS_ID], max_new_tokens=20)
    assert torch.equal(longer, out)
    # the same default applies when a GenerationConfig object carries the other settings
    config_object = GenerationConfig(suppress_tokens=[EOS_ID])
    assert torch.equal(model.generate(**inputs, target_modality=target, generation_config=config_object), out)
    shorter = model.generate(**inputs, target_modality=target, generation_config=GenerationConfig(max_new_tokens=2))
    assert shorter.shape == (2, 3, 4)


def test_single_stream_targets_run_only_the_first_slot():
    model = tiny_model()
    inputs = audio_sources(model.config, rows=2)
    calls = []
    hook = model.sub_decoder.register_forward_hook(lambda module, args, output: calls.append(output.shape[1]))
    model.generate(**inputs, target_modality="midi", max_new_tokens=3, suppress_tokens=[EOS_ID])
    midi_calls = len(calls)
    model.generate(**inputs, target_modality="image", max_new_tokens=3, suppress_tokens=[EOS_ID])
    hook.remove()
    assert midi_calls == 3 and len(calls) == 3 + 3 * 4  # one slot per call, K slots per image frame
    assert set(calls) == {1}


def test_sampling_uses_stock_processors_and_is_seeded():
    model = tiny_model()
    inputs = audio_sources(model.config)
    target = torch.tensor([AUDIO, IMAGE, MIDI])
    kwargs = {**inputs, "target_modality": target, "max_new_tokens": 6, "do_sample": True}
    torch.manual_seed(7)
    first = model.generate(**kwargs, top_k=20, temperature=1.3)
    torch.manual_seed(7)
    second = model.generate(**kwargs, top_k=20, temperature=1.3)
    assert torch.equal(first, second)
    assert_valid_bundles(model, first, target)
    greedy = model.generate(**inputs, target_modality=target, max_new_tokens=6)
    assert not torch.equal(first, greedy)
    # top_k=1 sampling can only pick the argmax
    assert torch.equal(model.generate(**kwargs, top_k=1), greedy)
    nucleus = model.generate(**kwargs, top_p=0.9)
    assert_valid_bundles(model, nucleus, target)


def test_a_sampling_seed_gives_each_row_its_own_draws_whatever_its_batch():
    model = tiny_model()
    inputs = audio_sources(model.config)  # the last row is padded
    target = torch.tensor([AUDIO, IMAGE, AUDIO])
    kwargs = {"target_modality": target, "max_new_tokens": 6, "do_sample": True, "suppress_tokens": [EOS_ID]}
    torch.manual_seed(0)
    batch = model.generate(**inputs, **kwargs, sampling_seed=3)
    torch.manual_seed(1)  # the global generator plays no part
    assert torch.equal(model.generate(**inputs, **kwargs, sampling_seed=3), batch)
    for row in range(3):  # alone (no padding), a row draws what it drew in the batch
        length = int(inputs["attention_mask"][row].sum())
        alone = {"input_ids": inputs["input_ids"][row : row + 1, :length],
                 "source_modality": inputs["source_modality"][row : row + 1]}
        single = model.generate(**alone, **{**kwargs, "target_modality": target[row : row + 1]}, sampling_seed=3)
        assert torch.equal(single[0], batch[row])
    reordered = {key: value[[2, 0, 1]] for key, value in inputs.items()}
    assert torch.equal(model.generate(**reordered, **{**kwargs, "target_modality": target[[2, 0, 1]]},
                                      sampling_seed=3), batch[[2, 0, 1]])
    assert_valid_bundles(model, batch, target)
    assert not torch.equal(model.generate(**inputs, **kwargs, sampling_seed=4), batch)
    assert not torch.equal(batch, model.generate(**inputs, target_modality=target, max_new_tokens=6,
                                                 suppress_tokens=[EOS_ID]))  # sampled, not greedy
    assert not hasattr(model, "_row_generators")  # the generators live in the call, not on the model


def test_return_dict_with_scores():
    model = tiny_model()
    inputs = audio_sources(model.config, rows=2)
    out = model.generate(**inputs, target_modality="image", max_new_tokens=3, return_dict_in_generate=True,
                         output_scores=True)
    assert out.sequences.shape == (2, 4, 4)
    assert len(out.scores) == 3 and out.scores[0].shape == (2, 4, model.config.vocab_size)
    assert torch.equal(out.scores[0].argmax(-1), out.sequences[:, 1])
    assert out.cache.get_seq_length() == 3


def test_generate_rejects_missing_or_bad_modalities():
    model = tiny_model()
    inputs = audio_sources(model.config, rows=2)
    with pytest.raises(ValueError, match="target_modality is required"):
        model.generate(**inputs, max_new_tokens=2)
    with pytest.raises(ValueError, match="unknown modality"):
        model.generate(**inputs, target_modality="video", max_new_tokens=2)
    with pytest.raises(ValueError, match="num_beams=1"):
        model.generate(**inputs, target_modality="audio", num_beams=2)
    with pytest.raises(ValueError, match="num_beams=1"):
        model.generate(**inputs, target_modality="audio", generation_config=GenerationConfig(num_beams=3))


def test_length_ratios_from_training_cap_each_row_by_its_source_length():
    from umust_hf.modeling.generation_umust import LENGTH_MARGIN, LENGTH_SLACK

    model = tiny_model(max_notation_positions=200, max_image_positions=64)
    inputs = audio_sources(model.config, rows=3, length=16)  # the last row has 8 real source frames
    target = torch.tensor([NOTATION, NOTATION, IMAGE])
    free = model.generate(**inputs, target_modality=target, suppress_tokens=[EOS_ID], max_length=60)
    assert free.shape[1] == 60  # EOS suppressed: every row runs to the explicit limit

    model.generation_config.length_ratios = {"audio->notation": 1.5}  # no entry for audio->image
    capped = model.generate(**inputs, target_modality=target, suppress_tokens=[EOS_ID])
    expected = [1 + int(torch.ceil(torch.tensor(LENGTH_MARGIN * 1.5 * n))) + LENGTH_SLACK for n in (16, 16, 8)]
    ended = [int((row[:, 0] != PAD_ID).sum()) for row in capped]  # frames a row filled before it stopped
    assert ended[:2] == expected[:2] and ended[2] == model.config.max_positions("image")
    assert ended[1] < free.shape[1] < ended[2]
    # an explicit length wins over the ratios
    assert model.generate(**inputs, target_modality=target, suppress_tokens=[EOS_ID], max_new_tokens=5).shape[1] == 6


class _ForcedTokens(LogitsProcessor):
    """Forces each row's codebook-0 token from its step: a 3-token cycle, an ever-new token, or (image rows)
    the same code in every slot (a blank column repeated)."""

    def __init__(self, kinds, notation_start):
        self.kinds, self.start = kinds, notation_start

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - 1
        forced = torch.full_like(scores, float("-inf"))
        for row, kind in enumerate(self.kinds):
            if kind == "cycle":
                token = self.start + 4 + step % 3
            elif kind == "jittery":  # the 3-token cycle with a fourth token after every seventh step
                token = self.start + (8 if step % 7 == 6 else 4 + step % 3)
            elif kind == "fresh":
                token = self.start + 4 + step % 200
            else:
                token = int(torch.isfinite(scores[row]).nonzero()[-1])  # the last code (the first allowed id is EOS)
            forced[row, token] = 0.0
        return forced


def _forced_row_lengths(model, loop_kind: str, max_length: int) -> list[int]:
    """Frames filled by three forced rows: a notation loop of ``loop_kind``, ever-new notation, a blank image."""
    inputs = audio_sources(model.config, rows=3, length=8)
    forced = LogitsProcessorList([_ForcedTokens([loop_kind, "fresh", "image"],
                                                model.config.vocabulary.id_range("notation", 0).start)])
    out = model.generate(**inputs, target_modality=torch.tensor([NOTATION, NOTATION, IMAGE]),
                         logits_processor=forced, max_length=max_length)
    return [int((row[:, 0] != PAD_ID).sum()) for row in out]


def test_loop_repeats_stop_a_looping_notation_row_but_not_fresh_text_or_repeated_image_columns():
    from umust_hf.modeling.generation_umust import RepeatedPhraseStop

    model = tiny_model(max_notation_positions=80, max_image_positions=80)
    model.generation_config.loop_repeats = 4
    filled = _forced_row_lengths(model, "cycle", max_length=60)
    assert filled[0] == 1 + 3 * 4  # SOS + the 3-token phrase four times, then the row stops
    assert filled[1] == filled[2] == 60  # no short phrase repeats / image rows are never cut
    model.generation_config.loop_repeats = None
    assert _forced_row_lengths(model, "cycle", max_length=60)[0] == 60  # off: the loop runs to the limit
    with pytest.raises(ValueError, match="loop_repeats"):
        RepeatedPhraseStop(1, torch.tensor([True]))


def test_ngram_diversity_separates_loops_from_varied_text():
    from umust_hf.modeling.generation_umust import ngram_diversity

    varied = torch.arange(64)
    loop = torch.tensor([5, 6, 7] * 21 + [5])
    diversity = ngram_diversity(torch.stack([varied, loop]))
    assert diversity[0] == 1.0  # every trigram is new
    assert diversity[1] == pytest.approx(3 / 62)  # three distinct trigrams in 62
    with pytest.raises(ValueError, match="3-gram"):
        ngram_diversity(torch.arange(2))


def test_loop_diversity_stops_an_irregular_loop_that_loop_repeats_misses():
    from umust_hf.modeling.generation_umust import DIVERSITY_WINDOW

    model = tiny_model(max_notation_positions=200, max_image_positions=200)
    model.generation_config.loop_repeats = 4
    assert _forced_row_lengths(model, "jittery", max_length=150)[0] == 150  # not periodic: loop_repeats never fires
    model.generation_config.loop_diversity = {"notation": 0.3}  # what the trainer measures: no image entry
    filled = _forced_row_lengths(model, "jittery", max_length=150)
    assert filled[0] == 1 + DIVERSITY_WINDOW  # stopped as soon as a whole window could be judged
    assert filled[1] == 150  # varied text runs on
    assert filled[2] == 150  # a repeated blank image column is no loop: image rows have no floor


def test_generation_limits_set_by_hand_survive_saving_and_loading(tmp_path):
    model = tiny_model()
    assert model.generation_config._from_model_config  # derived: from_pretrained would rebuild it
    model.generation_config.loop_repeats = 5
    model.generation_config.length_ratios = {"image->notation": 0.5}
    model.save_pretrained(tmp_path)
    loaded = UMustForConditionalGeneration.from_pretrained(tmp_path).generation_config
    assert loaded.loop_repeats == 5 and loaded.length_ratios == {"image->notation": 0.5}
