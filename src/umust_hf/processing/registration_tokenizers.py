"""Register the LMX and MIDI tokenizers with ``AutoTokenizer`` (called on ``import umust_hf``).

``AutoTokenizer`` resolves a saved directory by the ``tokenizer_class`` name in its
``tokenizer_config.json``, but only for classes registered by name, and registering needs a
config class. Each tokenizer gets a config class of its own: were the MIDI tokenizer not
registered by name, ``AutoTokenizer`` would silently load the LMX tokenizer instead.
"""

from __future__ import annotations

from transformers import AutoTokenizer, PretrainedConfig

from .tokenization_lmx import LMXTokenizer
from .tokenization_midi import MidiTokenizer


class LMXTokenizerConfig(PretrainedConfig):
    """Placeholder config that keys ``LMXTokenizer`` in ``AutoTokenizer``'s mapping."""

    model_type = "umust_lmx_tokenizer"


class MidiTokenizerConfig(PretrainedConfig):
    """Placeholder config that keys ``MidiTokenizer`` in ``AutoTokenizer``'s mapping."""

    model_type = "umust_midi_tokenizer"


def register() -> None:
    """Idempotent: register both tokenizers by class name."""
    AutoTokenizer.register(LMXTokenizerConfig, tokenizer_class=LMXTokenizer, exist_ok=True)
    AutoTokenizer.register(MidiTokenizerConfig, tokenizer_class=MidiTokenizer, exist_ok=True)
