"""Configuration of the U-MUST encoder-decoder translator (paper Appendix A, Table 11).

The unified vocabulary sizes live in the config so that a saved model carries its id layout;
:attr:`UMustConfig.vocabulary` rebuilds the :class:`UnifiedVocabulary` (and with it the logit
masks) from them.

Attention widths: the official model uses ``x_transformers`` layers, whose default head width
is 64 whatever the number of heads. Table 11's "768 wide, 10 heads" rows therefore have an
attention inner width of 640, not 768 / 10 (which is not an integer). The presets set
``head_dim=64`` explicitly for every row; ``head_dim=None`` means ``d_model // heads``.
"""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers.configuration_utils import PreTrainedConfig

from .vocabulary_umust import (
    DEFAULT_MIDI_SIZE,
    DEFAULT_NOTATION_SIZE,
    EOS_ID,
    MODALITY_ORDER,
    PAD_ID,
    SEP_ID,
    SOS_ID,
    Modality,
    UnifiedVocabulary,
)

#: Table 11 of the paper (d_model, encoder = decoder layers, heads, sub-decoder heads); the
#: feed-forward width is 4 x d_model (§E.1: 1024 -> 4096). ``tiny`` is a CPU preset (d 96, 2 + 2
#: layers, 4 heads, ~3 M parameters) with the same vocabulary and sequence lengths.
_TABLE_11: dict[str, tuple[int, int, int, int]] = {
    "omr_only": (512, 12, 8, 8),
    "i2a_only": (768, 12, 10, 10),
    "m2a_only": (512, 4, 8, 8),
    "omr_i2a": (1024, 12, 16, 8),
    "omr_i2a_m2a": (1024, 12, 16, 8),
    "amt_only": (768, 12, 12, 8),
    "a2i_only": (768, 12, 10, 10),
    "amt_a2i": (1024, 12, 16, 8),
    "amt_a2i_l2i": (1024, 12, 16, 8),
}


def _preset_kwargs(name: str) -> dict[str, Any]:
    if name == "tiny":
        return {
            "d_model": 96, "encoder_layers": 2, "decoder_layers": 2,
            "encoder_attention_heads": 4, "decoder_attention_heads": 4, "sub_decoder_attention_heads": 4,
            "encoder_ffn_dim": 192, "decoder_ffn_dim": 192, "sub_decoder_ffn_dim": 192,
            "head_dim": None, "dropout": 0.0,
            # position tables keep the official lengths: a 20 s audio window is 1723 frames
        }
    d_model, layers, heads, sub_heads = _TABLE_11[name]
    return {
        "d_model": d_model, "encoder_layers": layers, "decoder_layers": layers,
        "encoder_attention_heads": heads, "decoder_attention_heads": heads,
        "sub_decoder_attention_heads": sub_heads, "head_dim": 64,
        "encoder_ffn_dim": 4 * d_model, "decoder_ffn_dim": 4 * d_model, "sub_decoder_ffn_dim": 4 * d_model,
    }


#: Values of :attr:`UMustConfig.position_init`.
POSITION_INITS: tuple[str, ...] = ("normal", "sinusoidal")

#: Names accepted by :meth:`UMustConfig.from_preset`.
PRESET_NAMES: tuple[str, ...] = ("tiny", *_TABLE_11)


@strict
class UMustConfig(PreTrainedConfig):
    r"""Configuration of :class:`UMustForConditionalGeneration`.

    Vocabulary: ``notation_size``, ``midi_size``, ``image_codebook_size``, ``audio_codebook_size``,
    ``num_codebooks`` define the unified id layout; ``vocab_size`` is derived from them.

    Transformer: ``d_model``; ``encoder_layers``/``decoder_layers``; ``*_attention_heads``;
    ``head_dim`` (``None``: ``d_model // heads``); ``*_ffn_dim``; the sub-decoder has
    ``sub_decoder_layers`` (1 in the paper) causal layers over the ``num_codebooks`` slots of a step.

    ``qk_norm`` (default off, as in the paper) RMS-normalises queries and keys per head before
    their dot product: it bounds the attention logits, which kept a tiny CPU model's cross-attention
    from collapsing onto one or two source frames (attention-entropy collapse).

    ``decoder_input_dropout`` (default 0, as in the paper): in training, each teacher-forced
    decoder input frame after SOS is replaced by padding with this probability (the labels are
    kept). A small model on a small corpus otherwise learns to continue its targets from their own
    prefix and ignores the source; hiding part of the prefix makes reading the source pay.

    Positions: one learned table per modality, ``max_<modality>_positions`` long (official
    ``max_seq_len``: notation 1400, MIDI 1000, image 1000, audio 1750). A decoder sequence
    (SOS included) never exceeds its target modality's table, so generation of a row stops at
    ``max_<target>_positions - 1`` new frames at the latest.

    ``position_init``: ``"normal"`` (the paper: random, like every other table) or
    ``"sinusoidal"``: the tables still learn, but start as sinusoids of the position, and the
    image table as sinusoids of (column, row) of the column-by-column token order with
    ``image_rows`` rows per column, scaled to the norm of a random row. From random tables a small
    model on a small corpus must learn from a few hundred examples that image tokens 12 apart sit
    in the same row; sinusoids give it that geometry (and smooth neighbours) at step 0.
    """

    model_type = "umust"
    keys_to_ignore_at_inference = ["cache"]
    attribute_map = {
        "hidden_size": "d_model",
        "num_attention_heads": "decoder_attention_heads",
        "num_hidden_layers": "decoder_layers",
    }

    notation_size: int = DEFAULT_NOTATION_SIZE
    midi_size: int = DEFAULT_MIDI_SIZE
    image_codebook_size: int = 1024
    audio_codebook_size: int = 1024
    num_codebooks: int = 4
    vocab_size: int | None = None

    d_model: int = 1024
    encoder_layers: int = 12
    decoder_layers: int = 12
    encoder_attention_heads: int = 16
    decoder_attention_heads: int = 16
    head_dim: int | None = None
    encoder_ffn_dim: int = 4096
    decoder_ffn_dim: int = 4096
    sub_decoder_layers: int = 1
    sub_decoder_attention_heads: int = 8
    sub_decoder_ffn_dim: int | None = None
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    qk_norm: bool = False
    decoder_input_dropout: float = 0.0
    initializer_range: float = 0.02
    position_init: str = "normal"
    image_rows: int = 12  # SYSTEM_HEIGHT_PX // PATCH_SIZE (a saved model imports only sibling files)

    max_notation_positions: int = 1400
    max_midi_positions: int = 1000
    max_image_positions: int = 1000
    max_audio_positions: int = 1750

    is_encoder_decoder: bool = True
    use_cache: bool = True
    tie_word_embeddings: bool = False
    pad_token_id: int | None = PAD_ID
    bos_token_id: int | None = SOS_ID
    eos_token_id: int | None = EOS_ID
    decoder_start_token_id: int | None = SOS_ID
    sep_token_id: int | None = SEP_ID

    def __post_init__(self, **kwargs: Any) -> None:
        if self.sub_decoder_ffn_dim is None:
            self.sub_decoder_ffn_dim = self.decoder_ffn_dim
        derived = self.vocabulary.size
        if self.vocab_size is not None and self.vocab_size != derived:
            raise ValueError(
                f"UMustConfig.vocab_size={self.vocab_size} contradicts the vocabulary fields, which give {derived}; "
                "leave vocab_size unset"
            )
        self.vocab_size = derived
        super().__post_init__(**kwargs)

    def validate_architecture(self) -> None:
        """Reject widths and lengths the model cannot be built with (called by ``@strict``)."""
        for name in ("d_model", "encoder_layers", "decoder_layers", "sub_decoder_layers", "encoder_ffn_dim",
                     "decoder_ffn_dim", "encoder_attention_heads", "decoder_attention_heads",
                     "sub_decoder_attention_heads", *(f"max_{m.value}_positions" for m in MODALITY_ORDER)):
            if getattr(self, name) < 1:
                raise ValueError(f"UMustConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.head_dim is None:
            for name in ("encoder_attention_heads", "decoder_attention_heads", "sub_decoder_attention_heads"):
                if self.d_model % getattr(self, name):
                    raise ValueError(
                        f"d_model={self.d_model} is not divisible by {name}={getattr(self, name)}; "
                        "set head_dim explicitly (the official x_transformers layers use 64)"
                    )
        elif self.head_dim < 1:
            raise ValueError(f"UMustConfig.head_dim must be >= 1 or None, got {self.head_dim}")
        if self.position_init not in POSITION_INITS:
            raise ValueError(f"UMustConfig.position_init must be one of {POSITION_INITS}, got {self.position_init!r}")
        if self.image_rows < 1:
            raise ValueError(f"UMustConfig.image_rows must be >= 1, got {self.image_rows}")
        if not 0.0 <= self.decoder_input_dropout < 1.0:
            raise ValueError(f"UMustConfig.decoder_input_dropout must be in [0, 1), got {self.decoder_input_dropout}")

    # ------------------------------------------------------------------ helpers
    @property
    def vocabulary(self) -> UnifiedVocabulary:
        """The unified id layout this model was built for."""
        return UnifiedVocabulary(
            notation_size=self.notation_size,
            midi_size=self.midi_size,
            image_codebook_size=self.image_codebook_size,
            audio_codebook_size=self.audio_codebook_size,
            num_codebooks=self.num_codebooks,
        )

    def attention_head_dim(self, num_heads: int) -> int:
        """Width of one attention head for a block with ``num_heads`` heads."""
        return self.head_dim if self.head_dim is not None else self.d_model // num_heads

    def max_positions(self, modality: Modality | str) -> int:
        """Length of ``modality``'s position table (the longest sequence of that modality)."""
        return int(getattr(self, f"max_{Modality.parse(modality).value}_positions"))

    def max_positions_per_modality(self) -> list[int]:
        """Position table lengths in :data:`MODALITY_ORDER`."""
        return [self.max_positions(m) for m in MODALITY_ORDER]

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> UMustConfig:
        """A configuration of paper Table 11 (``omr_only`` ... ``amt_a2i_l2i``) or ``tiny``.

        ``overrides`` replace single fields, e.g. ``from_preset("tiny", d_model=128)``.
        """
        key = name.strip().lower().replace("-", "_").replace("+", "_").replace(" ", "_")
        if key not in PRESET_NAMES:
            raise ValueError(f"unknown preset {name!r}; expected one of: {', '.join(PRESET_NAMES)}")
        return cls(**{**_preset_kwargs(key), **overrides})


__all__ = ["PRESET_NAMES", "UMustConfig"]
