"""One shared tester for every model class, in the manner of transformers' ``ModelTesterMixin``.

A test class ``TestX(ModelTesterMixin)`` in a ``test_*.py`` module sets ``model_class`` and
provides a tiny seeded model (:meth:`make_model`), its inputs (:meth:`make_inputs`), the outputs
that must survive saving (:meth:`outputs`) and, where the model trains, a scalar :meth:`loss`. It
then inherits the common properties:

* saving and loading (the class and every Auto class) keeps weights and outputs;
* the saved directory loads with ``trust_remote_code`` in a process without the package;
* gradient checkpointing gives the same gradients;
* the SDPA and eager attention implementations agree;
* ``generate`` (translators) or ``encode`` -> ``decode`` (codecs) give well-formed results.

A property that does not apply to a class is skipped with the reason, never passed silently.
Class-specific extras hook in through the ``check_*`` methods.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch


class ModelTesterMixin:
    #: The ``PreTrainedModel`` subclass under test.
    model_class: type
    #: Names of the ``transformers`` Auto classes that must load a saved directory to ``model_class``.
    auto_classes: tuple[str, ...] = ("AutoModel",)
    #: Whether a saved directory carries its code for ``trust_remote_code`` (else: why not).
    remote_code: bool | str = True
    #: Whether the model has attention layers whose implementation can be switched (else: why not).
    has_attention: bool | str = True
    #: Absolute and relative tolerance of the SDPA vs eager comparison.
    attention_tolerance: float = 1e-5

    # ------------------------------------------------------------------ to provide
    def make_model(self, seed: int = 0):
        """A tiny, seeded model in eval mode."""
        raise NotImplementedError

    def make_inputs(self, model) -> dict:
        """Keyword arguments of ``model.forward``."""
        raise NotImplementedError

    def outputs(self, model, inputs: dict):
        """A tensor (or tuple of tensors) that a saved and loaded model must reproduce."""
        raise NotImplementedError

    def loss(self, model, inputs: dict) -> torch.Tensor:
        """A scalar to differentiate (gradient checkpointing)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks (optional)
    def check_loaded(self, model, loaded, inputs: dict, folder: Path) -> None:
        """More assertions on a loaded model (called once per loading class)."""

    def check_checkpointing_enabled(self, model) -> None:
        """Assert that the model's layers now checkpoint."""

    def save_remote_code_expectations(self, model, folder: Path) -> None:
        """Write what :meth:`remote_code_checks` compares against into the saved ``folder``."""

    def remote_code_checks(self) -> str:
        """Python run in the remote-code process, with ``model``, ``folder`` (str) and ``torch`` bound."""
        return ""

    def check_generated(self, model, inputs: dict, sequences: torch.Tensor) -> None:
        """Assertions on ``model.generate`` output (translators)."""

    def check_decoded(self, model, inputs: dict, codes: torch.Tensor, decoded: torch.Tensor) -> None:
        """Assertions on ``decode(encode(x))`` (codecs)."""

    def encode_input(self, inputs: dict) -> torch.Tensor:
        """The positional input of ``model.encode`` (codecs)."""
        raise NotImplementedError

    def generate_kwargs(self, model, inputs: dict) -> dict:
        """Keyword arguments of ``model.generate`` (translators)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ common tests
    def test_save_load_round_trip(self, tmp_path):
        import transformers

        model = self.make_model()
        inputs = self.make_inputs(model)
        expected = self.outputs(model, inputs)
        model.save_pretrained(tmp_path)
        assert (tmp_path / "model.safetensors").exists() and (tmp_path / "config.json").exists()
        assert isinstance(transformers.AutoConfig.from_pretrained(tmp_path), self.model_class.config_class)
        for loader in (self.model_class, *(getattr(transformers, name) for name in self.auto_classes)):
            loaded = loader.from_pretrained(tmp_path)
            assert type(loaded) is self.model_class, loader
            assert not loaded.training
            torch.testing.assert_close(self.outputs(loaded, inputs), expected)
            for (name, value), (other_name, other) in zip(model.state_dict().items(), loaded.state_dict().items()):
                assert name == other_name and torch.equal(value, other), name
            self.check_loaded(model, loaded, inputs, tmp_path)

    def test_saved_directory_loads_with_remote_code_without_the_package(self, tmp_path):
        if self.remote_code is not True:
            pytest.skip(f"{self.model_class.__name__}: no remote code: {self.remote_code}")
        model = self.make_model()
        model.save_pretrained(tmp_path)
        self.save_remote_code_expectations(model, tmp_path)
        script = textwrap.dedent(f"""
            import sys
            sys.modules["umust_hf"] = None  # the editable install would otherwise be importable
            import torch
            from transformers import AutoModel
            folder = {str(tmp_path)!r}
            model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
            assert "umust_hf" not in type(model).__module__, type(model).__module__
            assert type(model).__name__ == {self.model_class.__name__!r}, type(model).__name__
        """) + textwrap.dedent(self.remote_code_checks()) + '\nprint("ok", type(model).__module__)\n'
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "ok transformers_modules" in result.stdout

    def test_gradient_checkpointing_gives_the_same_gradients(self):
        if not self.model_class.supports_gradient_checkpointing:
            pytest.skip(f"{self.model_class.__name__} does not support gradient checkpointing")
        model = self.make_model().train()
        inputs = self.make_inputs(model)

        def gradients() -> dict[str, torch.Tensor]:
            model.zero_grad()
            self.loss(model, inputs).backward()
            return {name: p.grad.clone() for name, p in model.named_parameters()}  # every parameter gets one

        plain = gradients()
        model.activation_checkpointing_enable()
        checkpointed = gradients()
        assert model.is_activation_checkpointing
        self.check_checkpointing_enabled(model)
        assert checkpointed.keys() == plain.keys()
        for name, grad in plain.items():
            torch.testing.assert_close(checkpointed[name], grad)

    def test_eager_and_sdpa_agree(self):
        if self.has_attention is not True:
            pytest.skip(f"{self.model_class.__name__} has no attention: {self.has_attention}")
        assert self.model_class._supports_sdpa
        model = self.make_model()
        assert model.config._attn_implementation == "sdpa"
        inputs = self.make_inputs(model)
        sdpa = self.outputs(model, inputs)
        model.set_attn_implementation("eager")
        assert model.config._attn_implementation == "eager"
        eager = self.outputs(model, inputs)
        finite = torch.isfinite(sdpa)
        assert torch.equal(finite, torch.isfinite(eager))
        tolerance = self.attention_tolerance
        torch.testing.assert_close(eager[finite], sdpa[finite], atol=tolerance, rtol=tolerance)

    def test_generate(self):
        if not self.model_class.can_generate():
            pytest.skip(f"{self.model_class.__name__} does not generate (a codec: see test_encode_decode)")
        model = self.make_model()
        inputs = self.make_inputs(model)
        kwargs = self.generate_kwargs(model, inputs)
        sequences = model.generate(**kwargs)
        assert sequences.dtype == torch.long
        assert torch.equal(model.generate(**kwargs), sequences)  # greedy: deterministic
        self.check_generated(model, inputs, sequences)

    def test_encode_decode(self):
        if not (hasattr(self.model_class, "encode") and hasattr(self.model_class, "decode")):
            pytest.skip(f"{self.model_class.__name__} has no encode/decode (a translator: see test_generate)")
        model = self.make_model()
        inputs = self.make_inputs(model)
        x = self.encode_input(inputs)
        codes = model.encode(x)
        config = model.config
        assert codes.dtype == torch.long and codes.shape[0] == x.shape[0] and codes.shape[-1] == config.num_codebooks
        assert int(codes.min()) >= 0 and int(codes.max()) < config.codebook_size
        assert torch.equal(model.encode(x), codes)  # deterministic, and eval-mode encoding moves no codebook
        decoded = model.decode(codes)
        assert decoded.shape[0] == x.shape[0] and decoded.dtype == torch.float32
        assert float(decoded.min()) >= -1.0 and float(decoded.max()) <= 1.0
        self.check_decoded(model, inputs, codes, decoded)


class AudioCodecTesterMixin(ModelTesterMixin):
    """The common inputs of the audio codecs: two noisy tones; outputs are their codes and decoding."""

    def make_inputs(self, model) -> dict:
        from helpers import noisy_tone

        return {"input_values": noisy_tone(2, 4000)}

    def encode_input(self, inputs: dict) -> torch.Tensor:
        return inputs["input_values"]

    def outputs(self, model, inputs: dict):
        codes = model.encode(inputs["input_values"])
        return codes, model.decode(codes)
