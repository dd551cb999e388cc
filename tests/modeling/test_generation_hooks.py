"""UMust generation goes through transformers' GenerationMixin hooks, with its per-call state in the call."""

from __future__ import annotations

import ast

import torch
from transformers import LogitsProcessor
from transformers.generation.logits_process import TopKLogitsWarper
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList

from umust_hf import UMustForConditionalGeneration
from umust_hf.modeling.generation_umust import RepeatedPhraseStop, UMustRows
from umust_hf.modeling.midi_grammar_umust import MidiEventGrammar
from umust_hf.vocabulary import EOS_ID

from helpers import AUDIO, IMAGE, MIDI, NOTATION, REPO, audio_sources, tiny_model

MODELING = REPO / "src" / "umust_hf" / "modeling"


def test_a_seeded_row_samples_the_same_whatever_else_is_in_its_batch():
    model = tiny_model()
    inputs = audio_sources(model.config, rows=3)
    kwargs = {"max_new_tokens": 5, "do_sample": True, "sampling_seed": 11, "suppress_tokens": [EOS_ID]}
    mixed = model.generate(**inputs, target_modality=torch.tensor([MIDI, IMAGE, AUDIO]), **kwargs)
    # row 0 again, now beside rows with other sources and targets (notation, MIDI)
    others = audio_sources(model.config, rows=3, seed=5)
    batch = {key: torch.cat([inputs[key][:1], others[key][:2]]) for key in inputs}
    again = model.generate(**batch, target_modality=torch.tensor([MIDI, NOTATION, MIDI]), **kwargs)
    assert torch.equal(again[0], mixed[0])


def test_subclass_hooks_are_used():
    seen = {}

    class Forbid(LogitsProcessor):
        def __call__(self, input_ids, scores):
            scores[:, EOS_ID] = float("-inf")
            return scores

    class StopAtFour(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), input_ids.shape[1] >= 4, dtype=torch.bool)

    class Hooked(UMustForConditionalGeneration):
        def _get_logits_processor(self, generation_config, **kwargs):
            processors = super()._get_logits_processor(generation_config, **kwargs)
            processors.append(Forbid())
            seen["processors"] = processors
            return processors

        def _get_stopping_criteria(self, generation_config, *args, **kwargs):
            criteria = super()._get_stopping_criteria(generation_config, *args, **kwargs)
            criteria.append(StopAtFour())
            seen["rows"] = generation_config._umust_rows
            return criteria

    torch.manual_seed(0)
    model = Hooked(tiny_model().config).eval()
    inputs = audio_sources(model.config, rows=2)
    out = model.generate(**inputs, target_modality="midi", max_new_tokens=10, do_sample=True, top_k=5)
    assert out.shape[1] == 4 and not (out[:, 1:, 0] == EOS_ID).any()
    kinds = [type(processor) for processor in seen["processors"]]
    # the grammar runs after the logits shaping and before the sampling warpers, as a caller's processor would
    assert kinds.index(MidiEventGrammar) < kinds.index(TopKLogitsWarper)
    assert isinstance(seen["rows"], UMustRows) and seen["rows"].target_modality.tolist() == [MIDI, MIDI]


def test_the_call_state_lives_on_the_call_generation_config_not_on_the_model():
    captured = {}

    class Spied(UMustForConditionalGeneration):
        def _sample(self, *args, generation_config, **kwargs):
            captured["config"] = generation_config
            return super()._sample(*args, generation_config=generation_config, **kwargs)

    torch.manual_seed(0)
    model = Spied(tiny_model().config).eval()
    model.generation_config.loop_repeats = 3
    before, before_config = set(vars(model)), model.generation_config.to_dict()
    inputs = audio_sources(model.config, rows=2)
    model.generate(**inputs, target_modality="notation", max_new_tokens=4, do_sample=True, sampling_seed=2)
    assert set(vars(model)) == before and not hasattr(model, "_row_generators")
    assert model.generation_config.to_dict() == before_config  # the model's config is left as it was
    rows = captured["config"]._umust_rows
    assert len(rows.generators) == 2 and rows.explicit_length
    criteria = model._get_stopping_criteria(captured["config"], StoppingCriteriaList())
    assert any(isinstance(criterion, RepeatedPhraseStop) for criterion in criteria)


def test_modeling_and_generation_do_not_import_each_other():
    def sibling_imports(name: str) -> set[str]:
        tree = ast.parse((MODELING / name).read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 1 or not (node.module or "").startswith("umust_hf"), (name, node.module)
                if node.level == 1:
                    found.add(node.module)
        return found

    assert "modeling_umust" not in sibling_imports("generation_umust.py")
    assert "generation_umust" in sibling_imports("modeling_umust.py")
    assert "modeling_umust" not in sibling_imports("modality_umust.py")
