"""U-MUST: one encoder-decoder Transformer over the unified token space (paper Appendix A).

Pieces, in data-flow order:

* :class:`UMustEmbeddings` - a ``(B, T, K)`` bundle becomes ``(B, T, D)``: the sum of its K
  codebook token embeddings + the position embedding of the bundle's modality + the embedding
  of the target modality (the task hint). One table of token embeddings covers the whole unified
  vocabulary and is shared by encoder, decoder and sub-decoder.
* :class:`UMustEncoder` - pre-norm bidirectional Transformer (a ``PreTrainedModel`` because
  ``generate()`` calls ``get_encoder()`` on its own).
* :class:`UMustDecoder` - pre-norm causal Transformer with cross-attention and a KV cache.
* :class:`UMustSubDecoder` - a small causal Transformer over the K slots of one step: slot 0
  is the decoder state h, slot k is h + emb(token k-1) + a learned slot position (zero-init).
* one ``lm_head`` over the unified vocabulary, masked to the (target modality, codebook).

The model is written so that only sibling files are imported: a saved directory carries
``configuration_umust.py``, ``generation_umust.py``, ``modality_umust.py``, ``vocabulary_umust.py``
(and the other ``*_umust.py`` siblings they import) along and loads with ``trust_remote_code=True``
in a process that never imported ``umust_hf``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForSeq2SeqLM
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.masking_utils import create_bidirectional_mask, create_causal_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_umust import UMustConfig
from .generation_umust import GENERATION_LIMIT_KEYS, UMustGenerationMixin
from .modality_umust import modality_indices
from .vocabulary_umust import MODALITY_ORDER, PAD_ID, SOS_ID, Modality

#: Label value ignored by the loss (the Trainer/collator convention).
IGNORE_INDEX = -100


def check_bundle_ids(ids: torch.Tensor, config: UMustConfig, name: str) -> None:
    """Raise ``ValueError`` unless ``ids`` is a ``(B, T, K)`` integer bundle inside the unified vocabulary."""
    if ids.ndim != 3 or ids.shape[-1] != config.num_codebooks:
        raise ValueError(f"{name} must be (batch, length, {config.num_codebooks}) bundles, got {tuple(ids.shape)}")
    if ids.dtype.is_floating_point:
        raise ValueError(f"{name} must hold integer ids, got {ids.dtype}")
    if ids.numel() and (ids.min() < 0 or ids.max() >= config.vocab_size):
        raise ValueError(
            f"{name} holds ids in [{int(ids.min())}, {int(ids.max())}], outside the unified vocabulary "
            f"[0, {config.vocab_size})"
        )


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention; ``query`` ``(B, H, Tq, Dh)``, ``key``/``value`` ``(B, H, Tk, Dh)`` -> ``(B, Tq, H, Dh)``."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:  # SDPA-style mask: True = attend
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask
    weights = nn.functional.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class UMustAttention(nn.Module):
    """Multi-head attention (self or cross) with an optional encoder-decoder KV cache."""

    def __init__(self, config: UMustConfig, num_heads: int, is_causal: bool = False, layer_idx: int | None = None):
        super().__init__()
        self.config = config
        self.num_heads = num_heads
        self.head_dim = config.attention_head_dim(num_heads)
        self.scaling = self.head_dim**-0.5
        self.is_causal = is_causal
        self.layer_idx = layer_idx
        self.attention_dropout = config.attention_dropout
        inner = num_heads * self.head_dim
        self.q_proj = nn.Linear(config.d_model, inner, bias=False)
        self.k_proj = nn.Linear(config.d_model, inner, bias=False)
        self.v_proj = nn.Linear(config.d_model, inner, bias=False)
        self.o_proj = nn.Linear(inner, config.d_model, bias=False)
        if config.qk_norm:  # RMS-normalised queries and keys bound the attention logits
            self.q_norm = nn.RMSNorm(self.head_dim, eps=config.layer_norm_eps)
            self.k_norm = nn.RMSNorm(self.head_dim, eps=config.layer_norm_eps)
        else:
            self.q_norm = self.k_norm = None

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        key_value_states: torch.Tensor | None = None,
        cache: Cache | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``hidden_states`` ``(B, Tq, D)``; ``key_value_states`` ``(B, Tk, D)`` for cross-attention ->
        ``(B, Tq, D)`` and, with ``output_attentions``, the weights ``(B, H, Tq, Tk)`` (computed eagerly)."""
        is_cross = key_value_states is not None
        batch, q_len = hidden_states.shape[:2]
        query = self.q_proj(hidden_states).view(batch, q_len, -1, self.head_dim).transpose(1, 2)
        if self.q_norm is not None:
            query = self.q_norm(query)

        layer_cache, reuse = None, False
        if cache is not None:
            if isinstance(cache, EncoderDecoderCache):
                reuse = is_cross and bool(cache.is_updated.get(self.layer_idx))
                layer_cache = cache.cross_attention_cache if is_cross else cache.self_attention_cache
            else:
                layer_cache = cache
        if reuse:
            key = layer_cache.layers[self.layer_idx].keys
            value = layer_cache.layers[self.layer_idx].values
        else:
            source = key_value_states if is_cross else hidden_states
            key = self.k_proj(source).view(batch, source.shape[1], -1, self.head_dim).transpose(1, 2)
            if self.k_norm is not None:
                key = self.k_norm(key)
            value = self.v_proj(source).view(batch, source.shape[1], -1, self.head_dim).transpose(1, 2)
            if layer_cache is not None:
                key, value = layer_cache.update(key, value, self.layer_idx)
                if is_cross and isinstance(cache, EncoderDecoderCache):
                    cache.is_updated[self.layer_idx] = True

        attention: Callable = eager_attention_forward if output_attentions else ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        output, weights = attention(
            self, query, key, value, attention_mask,
            dropout=self.attention_dropout if self.training else 0.0, scaling=self.scaling,
            is_causal=self.is_causal and not is_cross,
        )
        return self.o_proj(output.reshape(batch, q_len, -1)), weights if output_attentions else None


class UMustFeedForward(nn.Module):
    def __init__(self, config: UMustConfig, ffn_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, config.d_model)
        self.activation = ACT2FN[config.activation_function]
        self.activation_dropout = config.activation_dropout

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.activation(self.fc1(hidden_states))
        hidden_states = nn.functional.dropout(hidden_states, p=self.activation_dropout, training=self.training)
        return self.fc2(hidden_states)


class UMustLayer(GradientCheckpointingLayer):
    """Pre-norm Transformer layer: self-attention, optional cross-attention, feed-forward."""

    def __init__(self, config: UMustConfig, num_heads: int, ffn_dim: int, is_causal: bool,
                 cross_attention: bool, layer_idx: int | None = None):
        super().__init__()
        self.dropout = config.dropout
        self.self_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.self_attn = UMustAttention(config, num_heads, is_causal=is_causal, layer_idx=layer_idx)
        if cross_attention:
            self.cross_attn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
            self.cross_attn = UMustAttention(config, num_heads, layer_idx=layer_idx)
        else:
            self.cross_attn = None
        self.ffn_layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.ffn = UMustFeedForward(config, ffn_dim)

    def _residual(self, hidden_states: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        return hidden_states + nn.functional.dropout(update, p=self.dropout, training=self.training)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(B, T, D)`` -> ``(B, T, D)`` and the cross-attention weights ``(B, H, T, S)`` when asked for."""
        update, _ = self.self_attn(self.self_attn_layer_norm(hidden_states), attention_mask, cache=cache)
        hidden_states = self._residual(hidden_states, update)
        cross_weights = None
        if self.cross_attn is not None:
            update, cross_weights = self.cross_attn(
                self.cross_attn_layer_norm(hidden_states), encoder_attention_mask,
                key_value_states=encoder_hidden_states, cache=cache, output_attentions=output_attentions,
            )
            hidden_states = self._residual(hidden_states, update)
        return self._residual(hidden_states, self.ffn(self.ffn_layer_norm(hidden_states))), cross_weights


def sinusoids(positions: torch.Tensor, width: int) -> torch.Tensor:
    """``(N,)`` positions -> ``(N, width)`` sines and cosines at geometric wavelengths (Vaswani et al.)."""
    half = width // 2
    frequencies = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(half, dtype=torch.float32) / max(half, 1))
    angles = positions.float()[:, None] * frequencies[None, :]
    table = torch.cat([angles.sin(), angles.cos()], dim=1)
    return nn.functional.pad(table, (0, width - table.shape[1]))


def sinusoidal_position_tables(config: UMustConfig) -> torch.Tensor:
    """The position tables of :class:`UMustEmbeddings` (back to back) for ``position_init="sinusoidal"``.

    1-D sinusoids for notation, MIDI and audio; for images, half the width encodes the token's
    column and half its row in the column-by-column order (``image_rows`` per column). Each row is
    scaled to the expected norm of a row drawn with ``initializer_range``, so a position weighs
    no more than a token embedding at step 0.
    """
    tables = []
    for modality in MODALITY_ORDER:
        positions = torch.arange(config.max_positions(modality))
        if modality is Modality.IMAGE:
            half = config.d_model // 2
            table = torch.cat([sinusoids(positions // config.image_rows, half),
                               sinusoids(positions % config.image_rows, config.d_model - half)], dim=1)
        else:
            table = sinusoids(positions, config.d_model)
        tables.append(table)
    table = torch.cat(tables)
    target_norm = config.initializer_range * config.d_model ** 0.5
    return table * (target_norm / table.norm(dim=1, keepdim=True).clamp_min(1e-6))


class UMustEmbeddings(nn.Module):
    """Bundle embedding: sum of codebook tokens + modality-specific position + target-modality hint.

    All modalities' position tables are stored back to back in one ``nn.Embedding``; row ``m``'s
    positions start at ``position_offsets[m]`` (so a batch may mix modalities).
    """

    def __init__(self, config: UMustConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.d_model, padding_idx=PAD_ID)
        limits = config.max_positions_per_modality()
        self.position_embedding = nn.Embedding(sum(limits), config.d_model)
        self.target_embedding = nn.Embedding(len(MODALITY_ORDER), config.d_model)
        self.register_buffer("position_limits", torch.tensor(limits, dtype=torch.long), persistent=False)
        self.register_buffer("position_offsets", self.table_offsets(config), persistent=False)

    @staticmethod
    def table_offsets(config: UMustConfig) -> torch.Tensor:
        limits = config.max_positions_per_modality()
        return torch.tensor([sum(limits[:i]) for i in range(len(limits))], dtype=torch.long)

    def forward(self, ids: torch.LongTensor, modality: torch.LongTensor, target_modality: torch.LongTensor,
                start: int = 0, clamp_positions: bool = False) -> torch.Tensor:
        """``ids`` ``(B, T, K)``, ``modality``/``target_modality`` ``(B,)`` -> ``(B, T, D)``.

        ``start`` is the position of the first bundle (the cache length while decoding).
        ``clamp_positions`` is for finished rows of a generation batch only (their outputs are
        discarded); everywhere else a sequence longer than its modality's table is an error.
        """
        length = ids.shape[1]
        limits = self.position_limits[modality]
        positions = start + torch.arange(length, device=ids.device)
        if clamp_positions:
            positions = torch.minimum(positions[None, :], (limits - 1)[:, None])
        else:
            if length and bool((start + length > limits).any()):
                row = int((start + length > limits).nonzero()[0])
                raise ValueError(
                    f"row {row}: a {MODALITY_ORDER[int(modality[row])].value} sequence of length {start + length} "
                    f"exceeds max_{MODALITY_ORDER[int(modality[row])].value}_positions={int(limits[row])}"
                )
            positions = positions[None, :].expand(ids.shape[0], -1)
        positions = positions + self.position_offsets[modality][:, None]
        hidden = self.token_embedding(ids).sum(dim=2)
        return hidden + self.position_embedding(positions) + self.target_embedding(target_modality)[:, None, :]


@dataclass
class UMustOutput(ModelOutput):
    """Output of :class:`UMustForConditionalGeneration`.

    loss: mean cross-entropy over valid (frame, codebook) slots.
    codebook_losses: ``(K,)`` mean cross-entropy per codebook (NaN where a codebook had no valid slot).
    row_losses: ``(B,)`` mean cross-entropy per example (NaN for a row without valid slots); for
        per-task logging. Both are detached.
    logits: ``(B, T, K, V)`` masked logits when ``labels`` are given (teacher forcing feeds the
        sub-decoder); ``(B, T, 1, V)`` (codebook 0 only) otherwise - codebooks 1.. depend on the
        tokens chosen before them, use ``generate()``. ``None`` in training mode with ``labels``
        (unless ``return_logits=True``): the loss never needs the full-vocabulary logits.
    decoder_last_hidden_state: ``(B, T, D)`` main-decoder states (the sub-decoder's input).
    cross_attentions: with ``output_attentions=True``, one ``(B, H, T, S)`` cross-attention map per
        decoder layer (target frame x source frame).
    """

    loss: torch.FloatTensor | None = None
    codebook_losses: torch.FloatTensor | None = None
    row_losses: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    cache: Cache | None = None
    decoder_last_hidden_state: torch.FloatTensor | None = None
    encoder_last_hidden_state: torch.FloatTensor | None = None
    cross_attentions: tuple[torch.FloatTensor, ...] | None = None


class UMustPreTrainedModel(PreTrainedModel):
    config_class = UMustConfig  # explicit: the annotation is a string under `from __future__ import annotations`
    base_model_prefix = "umust"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _no_split_modules = ["UMustLayer"]
    _supports_sdpa = True
    _supports_flash_attn = False
    _supports_flex_attn = False
    accepts_loss_kwargs = False

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, UMustEmbeddings):
            init.copy_(module.position_limits, torch.tensor(self.config.max_positions_per_modality()))
            init.copy_(module.position_offsets, UMustEmbeddings.table_offsets(self.config))
            if self.config.position_init == "sinusoidal":
                init.copy_(module.position_embedding.weight, sinusoidal_position_tables(self.config))
        elif isinstance(module, UMustSubDecoder):
            init.zeros_(module.slot_position)
        elif isinstance(module, UMustForConditionalGeneration):
            # Derived state: never trust a checkpoint (or the meta device, which leaves it empty).
            vocabulary = self.config.vocabulary
            init.copy_(module.logit_mask, torch.from_numpy(vocabulary.logit_masks()))
            init.copy_(module.num_streams, torch.tensor([vocabulary.num_streams(m.value) for m in MODALITY_ORDER]))


class UMustEncoder(UMustPreTrainedModel):
    """Bidirectional encoder over source bundles; owns the shared :class:`UMustEmbeddings`."""

    def __init__(self, config: UMustConfig):
        super().__init__(config)
        self.embeddings = UMustEmbeddings(config)
        self.layers = nn.ModuleList(
            UMustLayer(config, config.encoder_attention_heads, config.encoder_ffn_dim, is_causal=False,
                       cross_attention=False)
            for _ in range(config.encoder_layers)
        )
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.token_embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.token_embedding = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        source_modality: torch.LongTensor | str | None = None,
        target_modality: torch.LongTensor | str | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput:
        """``input_ids`` ``(B, S, K)``, ``attention_mask`` ``(B, S)`` -> ``last_hidden_state`` ``(B, S, D)``."""
        if output_attentions or output_hidden_states:
            raise ValueError("UMust does not return per-layer attentions or hidden states")
        if input_ids is None:
            raise ValueError("input_ids (the source bundles, shape (batch, length, num_codebooks)) are required")
        check_bundle_ids(input_ids, self.config, "input_ids")
        batch = input_ids.shape[0]
        source = modality_indices(source_modality, batch, input_ids.device, "source_modality")
        target = modality_indices(target_modality, batch, input_ids.device, "target_modality")
        hidden = self.embeddings(input_ids, source, target)
        hidden = nn.functional.dropout(hidden, p=self.config.dropout, training=self.training)
        mask = create_bidirectional_mask(config=self.config, inputs_embeds=hidden, attention_mask=attention_mask)
        for layer in self.layers:
            hidden, _ = layer(hidden, mask)
        return BaseModelOutput(last_hidden_state=self.layer_norm(hidden))


class UMustDecoder(nn.Module):
    """Causal decoder with cross-attention; takes embedded bundles ``(B, T, D)``."""

    def __init__(self, config: UMustConfig):
        super().__init__()
        self.config = config
        self.layers = nn.ModuleList(
            UMustLayer(config, config.decoder_attention_heads, config.decoder_ffn_dim, is_causal=True,
                       cross_attention=True, layer_idx=i)
            for i in range(config.decoder_layers)
        )
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None,
        cache: Cache | None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """``inputs_embeds`` ``(B, T, D)``, ``encoder_hidden_states`` ``(B, S, D)`` -> ``(B, T, D)`` and, with
        ``output_attentions``, one ``(B, H, T, S)`` cross-attention map per layer."""
        self_cache = cache.self_attention_cache if isinstance(cache, EncoderDecoderCache) else cache
        if attention_mask is not None and self_cache is not None and attention_mask.shape[1] == inputs_embeds.shape[1]:
            past = self_cache.get_seq_length()
            if past:
                attention_mask = nn.functional.pad(attention_mask, (past, 0), value=1)
        causal = create_causal_mask(
            config=self.config, inputs_embeds=inputs_embeds, attention_mask=attention_mask, cache=self_cache
        )
        cross = create_bidirectional_mask(
            config=self.config, inputs_embeds=inputs_embeds, attention_mask=encoder_attention_mask,
            encoder_hidden_states=encoder_hidden_states,
        )
        hidden, maps = inputs_embeds, []
        for layer in self.layers:
            hidden, weights = layer(hidden, causal, encoder_hidden_states, cross, cache, output_attentions)
            maps.append(weights)
        return self.layer_norm(hidden), tuple(maps) if output_attentions else None


class UMustSubDecoder(nn.Module):
    """Causal Transformer over the K codebook slots of one decoder step (no cross-attention).

    Input slot k is ``h + emb(token_{k-1}) + slot_position[k]`` (no token term for k = 0); the
    slot positions start at zero, so an untrained sub-decoder sees h plus the previous token.
    During generation the slots arrive one at a time with a small per-frame KV cache.
    """

    def __init__(self, config: UMustConfig):
        super().__init__()
        self.config = config
        self.slot_position = nn.Parameter(torch.zeros(config.num_codebooks, config.d_model))
        self.layers = nn.ModuleList(
            UMustLayer(config, config.sub_decoder_attention_heads, config.sub_decoder_ffn_dim, is_causal=True,
                       cross_attention=False, layer_idx=i)
            for i in range(config.sub_decoder_layers)
        )
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)

    def slot_inputs(self, hidden: torch.Tensor, previous_embeds: torch.Tensor, first: int = 0) -> torch.Tensor:
        """Inputs of slots ``first .. first + w - 1``.

        ``hidden`` ``(N, D)``; ``previous_embeds`` ``(N, w, D)``: for each slot the embedding of
        the token before it (zeros for slot 0) -> ``(N, w, D)``.
        """
        width = previous_embeds.shape[1]
        return hidden[:, None, :] + previous_embeds + self.slot_position[first : first + width]

    def forward(self, slots: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """``slots`` ``(N, k, D)`` (after the ``cache``'s slots, if any) -> ``(N, k, D)``."""
        mask = create_causal_mask(config=self.config, inputs_embeds=slots, attention_mask=None, cache=cache)
        for layer in self.layers:
            slots, _ = layer(slots, mask, cache=cache)
        return self.layer_norm(slots)


class UMustForConditionalGeneration(UMustGenerationMixin, UMustPreTrainedModel):
    """Any-to-any music translator: source bundles ``(B, S, K)`` -> target bundles ``(B, T, K)``.

    ``source_modality``/``target_modality`` are ``(B,)`` indices into :data:`MODALITY_ORDER`
    (or a modality name for the whole batch), so a batch may mix tasks.
    """

    _tied_weights_keys = {"lm_head.weight": "encoder.embeddings.token_embedding.weight"}

    def __init__(self, config: UMustConfig):
        super().__init__(config)
        self.encoder = UMustEncoder(config)
        self.decoder = UMustDecoder(config)
        self.sub_decoder = UMustSubDecoder(config)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        masks = torch.from_numpy(config.vocabulary.logit_masks())
        self.register_buffer("logit_mask", masks, persistent=False)  # (M, K, V) bool
        streams = [config.vocabulary.num_streams(m.value) for m in MODALITY_ORDER]
        self.register_buffer("num_streams", torch.tensor(streams), persistent=False)
        self.post_init()

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """Save weights (safetensors), config and the modeling code (for ``trust_remote_code``)."""
        # `_auto_class` holds one Auto class; the others must be in auto_map before saving.
        self.config.auto_map = {
            **(getattr(self.config, "auto_map", None) or {}),
            "AutoConfig": "configuration_umust.UMustConfig",
            "AutoModel": "modeling_umust.UMustForConditionalGeneration",
            "AutoModelForSeq2SeqLM": "modeling_umust.UMustForConditionalGeneration",
        }
        if any(getattr(self.generation_config, key, None) is not None for key in GENERATION_LIMIT_KEYS):
            self.generation_config._from_model_config = False  # or loading would drop the limits
        super().save_pretrained(save_directory, *args, **kwargs)

    # ------------------------------------------------------------ accessors
    def get_encoder(self, modality: str | None = None) -> UMustEncoder:
        return self.encoder

    def get_input_embeddings(self) -> nn.Embedding:
        return self.encoder.embeddings.token_embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.encoder.embeddings.token_embedding = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    @property
    def embeddings(self) -> UMustEmbeddings:
        return self.encoder.embeddings

    # ------------------------------------------------------------- pieces
    def decode(
        self,
        decoder_input_ids: torch.LongTensor,
        encoder_hidden_states: torch.Tensor,
        target_modality: torch.LongTensor,
        encoder_attention_mask: torch.Tensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        cache: Cache | None = None,
        clamp_positions: bool = False,
        output_attentions: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Main decoder: ``decoder_input_ids`` ``(B, T, K)`` (the new frames when cached) -> ``(B, T, D)``;
        with ``output_attentions`` also the per-layer cross-attention maps ``(B, H, T, S)``."""
        start = cache.get_seq_length() if cache is not None else 0
        embeds = self.embeddings(decoder_input_ids, target_modality, target_modality, start=start,
                                 clamp_positions=clamp_positions)
        embeds = nn.functional.dropout(embeds, p=self.config.dropout, training=self.training)
        hidden, maps = self.decoder(embeds, decoder_attention_mask, encoder_hidden_states, encoder_attention_mask,
                                    cache, output_attentions)
        return (hidden, maps) if output_attentions else hidden

    def masked_logits(self, states: torch.Tensor, target_modality: torch.LongTensor, first: int = 0) -> torch.Tensor:
        """Head + modality mask: ``states`` ``(N, k, D)`` for codebooks ``first ..`` -> ``(N, k, V)``."""
        logits = self.lm_head(states)
        allowed = self.logit_mask[target_modality, first : first + states.shape[1]]  # (N, k, V)
        return logits.masked_fill(~allowed, float("-inf"))

    def teacher_forced_logits(self, hidden: torch.Tensor, tokens: torch.LongTensor | None,
                              target_modality: torch.LongTensor) -> torch.Tensor:
        """All slots at once: ``hidden`` ``(N, D)``, ``tokens`` ``(N, K)`` gold bundles -> ``(N, K, V)``.

        ``tokens=None`` gives codebook 0 only, ``(N, 1, V)`` (slot 0 needs no token).
        """
        previous = hidden.new_zeros((hidden.shape[0], 1, hidden.shape[1]))
        if tokens is not None:
            previous = torch.cat([previous, self.embeddings.token_embedding(tokens[:, :-1])], dim=1)
        states = self.sub_decoder(self.sub_decoder.slot_inputs(hidden, previous))
        return self.masked_logits(states, target_modality)

    def next_slot_logits(self, hidden: torch.Tensor, previous: torch.LongTensor | None, codebook: int,
                         target_modality: torch.LongTensor, cache: Cache) -> torch.Tensor:
        """One slot while generating: ``hidden`` ``(N, D)``, ``previous`` ``(N,)`` the token of codebook - 1
        (``None`` for codebook 0); ``cache`` holds this frame's earlier slots -> ``(N, V)``."""
        if previous is None:
            embeds = hidden.new_zeros((hidden.shape[0], 1, hidden.shape[1]))
        else:
            embeds = self.embeddings.token_embedding(previous)[:, None]
        slot = self.sub_decoder.slot_inputs(hidden, embeds, first=codebook)
        return self.masked_logits(self.sub_decoder(slot, cache=cache), target_modality, first=codebook)[:, 0]

    def init_codec_embeddings(
        self,
        image_codebooks: torch.Tensor | None = None,
        audio_codebooks: torch.Tensor | None = None,
        seed: int = 0,
    ) -> None:
        """Initialise image/audio token embeddings from codec codebooks (paper §E.1).

        Each argument is ``(K, codebook_size, D_codec)``: row ``c`` of codebook ``k`` becomes the
        embedding of unified id ``offset(modality, k) + c``. When ``D_codec != d_model`` the
        vectors go through a fixed semi-orthogonal projection ``(D_codec, d_model)`` drawn with
        ``seed`` (it preserves inner products when ``D_codec <= d_model``); pass vectors already in
        model width (e.g. DAC ``out_proj(codebook)``, as the official code does) to copy them as is.
        """
        vocabulary = self.config.vocabulary
        weight = self.get_input_embeddings().weight
        for modality, codebooks in ((Modality.IMAGE, image_codebooks), (Modality.AUDIO, audio_codebooks)):
            if codebooks is None:
                continue
            expected = (vocabulary.num_codebooks, vocabulary.codebook_size(modality.value))
            if not torch.is_tensor(codebooks) or codebooks.ndim != 3 or tuple(codebooks.shape[:2]) != expected:
                shape = tuple(codebooks.shape) if torch.is_tensor(codebooks) else type(codebooks).__name__
                raise ValueError(f"{modality.value}_codebooks must have shape ({expected[0]}, {expected[1]}, dim), "
                                 f"got {shape}")
            vectors = codebooks.detach().to(torch.float32)
            if vectors.shape[-1] != self.config.d_model:
                vectors = vectors @ semi_orthogonal(vectors.shape[-1], self.config.d_model, seed)
            with torch.no_grad():
                for k in range(vocabulary.num_codebooks):
                    rows = vocabulary.id_range(modality.value, k)
                    weight[rows.start : rows.stop] = vectors[k].to(weight.dtype)

    # ------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        source_modality: torch.LongTensor | str | None = None,
        target_modality: torch.LongTensor | str | None = None,
        encoder_outputs: BaseModelOutput | tuple | None = None,
        cache: Cache | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        return_logits: bool | None = None,
        output_attentions: bool | None = None,
    ) -> UMustOutput | tuple:
        """Teacher-forced pass.

        Shapes: ``input_ids`` ``(B, S, K)``, ``attention_mask`` ``(B, S)``, ``labels`` ``(B, T, K)``
        padded with -100 (slots beyond a single-stream target's codebook 0 are ignored whatever
        they hold). ``decoder_input_ids`` default to the labels shifted right behind an
        ``[SOS, PAD, ...]`` bundle.

        The loss is computed over each (target modality, codebook)'s own ids only (see
        :meth:`sliced_loss`); the ``(B, T, K, V)`` logits are built only when asked for
        (``return_logits``, default: unless training with labels), which makes a training
        step several times faster than a full-vocabulary head.

        ``output_attentions`` returns the decoder's cross-attention maps (one ``(B, H, T, S)`` per
        layer, computed with eager attention) - to look at the alignment, or to guide it in training.
        """
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_ids, attention_mask, source_modality, target_modality)
        elif isinstance(encoder_outputs, tuple):
            encoder_outputs = BaseModelOutput(last_hidden_state=encoder_outputs[0])
        encoder_hidden = encoder_outputs.last_hidden_state
        batch = encoder_hidden.shape[0]
        target = modality_indices(target_modality, batch, encoder_hidden.device, "target_modality")

        if labels is not None:
            labels = self._checked_labels(labels, target)
            if decoder_input_ids is None:
                decoder_input_ids = self.shift_labels_right(labels)
        if self.training and self.config.decoder_input_dropout > 0 and decoder_input_ids is not None:
            decoder_input_ids = self.drop_decoder_inputs(decoder_input_ids)
        if decoder_input_ids is None:
            raise ValueError("pass labels (training) or decoder_input_ids; use generate() for inference")
        check_bundle_ids(decoder_input_ids, self.config, "decoder_input_ids")
        if decoder_input_ids.shape[0] != batch:
            raise ValueError(f"decoder_input_ids has batch {decoder_input_ids.shape[0]}, the source has {batch}")

        if use_cache is None:
            use_cache = self.config.use_cache and labels is None and not self.training
        if use_cache and cache is None:
            cache = EncoderDecoderCache(DynamicCache(config=self.config), DynamicCache(config=self.config))
        hidden = self.decode(decoder_input_ids, encoder_hidden, target, attention_mask, decoder_attention_mask,
                             cache if use_cache else None, output_attentions=bool(output_attentions))
        cross_attentions = None
        if output_attentions:
            hidden, cross_attentions = hidden

        loss = codebook_losses = row_losses = logits = None
        if labels is not None:
            loss, codebook_losses, row_losses = self.sliced_loss(hidden, labels, target)
        if return_logits is None:
            return_logits = labels is None or not self.training
        if return_logits:
            batch, length, dim = hidden.shape
            flat_target = target[:, None].expand(batch, length).reshape(-1)
            tokens = None if labels is None else labels.clamp(min=PAD_ID).reshape(batch * length, -1)
            logits = self.teacher_forced_logits(hidden.reshape(-1, dim), tokens, flat_target)
            logits = logits.view(batch, length, logits.shape[1], -1)
        output = UMustOutput(
            loss=loss, codebook_losses=codebook_losses, row_losses=row_losses, logits=logits, cache=cache if use_cache else None,
            decoder_last_hidden_state=hidden, encoder_last_hidden_state=encoder_hidden,
            cross_attentions=cross_attentions,
        )
        return output if return_dict is not False else output.to_tuple()

    # --------------------------------------------------------------- loss
    def _checked_labels(self, labels: torch.LongTensor, target: torch.LongTensor) -> torch.LongTensor:
        """Validate labels ``(B, T, K)`` and set slots a single-stream target does not use to -100."""
        if labels.ndim != 3 or labels.shape[-1] != self.config.num_codebooks:
            raise ValueError(f"labels must be (batch, length, {self.config.num_codebooks}), got {tuple(labels.shape)}")
        if labels.shape[0] != target.shape[0]:
            raise ValueError(f"labels has batch {labels.shape[0]}, target_modality has {target.shape[0]}")
        slot = torch.arange(labels.shape[-1], device=labels.device)
        labels = labels.masked_fill(slot >= self.num_streams[target][:, None, None], IGNORE_INDEX)
        valid = labels != IGNORE_INDEX
        if bool((labels[valid] < 0).any()) or bool((labels[valid] >= self.config.vocab_size).any()):
            raise ValueError(f"labels must be -100 or unified ids in [0, {self.config.vocab_size})")
        allowed = self.logit_mask[target[:, None, None], slot[None, None, :], labels.clamp(min=0)]
        bad = valid & ~allowed
        if bool(bad.any()):
            row, step, codebook = (int(i) for i in bad.nonzero()[0])
            name = MODALITY_ORDER[int(target[row])].value
            raise ValueError(
                f"labels[{row}, {step}, {codebook}] = {int(labels[row, step, codebook])} is not a {name} codebook "
                f"{codebook} id (nor an allowed special); check target_modality and the id layout"
            )
        return labels

    def drop_decoder_inputs(self, decoder_input_ids: torch.LongTensor) -> torch.LongTensor:
        """Training only: replace each decoder input frame after the first (SOS) by padding with probability
        ``config.decoder_input_dropout`` (see :class:`UMustConfig`)."""
        dropped = torch.rand(decoder_input_ids.shape[:2], device=decoder_input_ids.device) < self.config.decoder_input_dropout
        dropped[:, 0] = False
        return decoder_input_ids.masked_fill(dropped[..., None], PAD_ID)

    def shift_labels_right(self, labels: torch.LongTensor) -> torch.LongTensor:
        """``(B, T, K)`` labels -> decoder inputs: ``[SOS, PAD, ..]`` then labels[:, :-1] (-100 -> PAD)."""
        start = torch.full_like(labels[:, :1], PAD_ID)
        start[..., 0] = SOS_ID
        return torch.cat([start, labels[:, :-1]], dim=1).clamp(min=PAD_ID)

    def sliced_loss(
        self, hidden: torch.Tensor, labels: torch.LongTensor, target: torch.LongTensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The masked-softmax loss without full-vocabulary logits: same values as :meth:`loss_from_logits`.

        ``hidden`` ``(B, T, D)`` decoder states, ``labels`` ``(B, T, K)`` (checked), ``target`` ``(B,)``.
        Only frames with a label run the sub-decoder; single-stream targets run slot 0 alone (the
        sub-decoder is causal, so slot 0 never sees the others); each (target modality, codebook)
        group scores only the ids its mask allows (e.g. 228 of 10,808 for notation). Masked ids
        have probability zero under the full softmax, so the cross-entropy is unchanged.
        """
        batch, _, num_codebooks = labels.shape
        frames = labels[..., 0] != IGNORE_INDEX  # slot 0 is valid wherever any slot is
        if not bool(frames.any()):
            zero = hidden.sum() * 0.0  # keeps the graph; nothing to learn from this batch
            nan = float("nan")
            return (zero, torch.full((num_codebooks,), nan, device=hidden.device),
                    torch.full((batch,), nan, device=hidden.device))
        rows = frames.nonzero()[:, 0]
        states, gold, modality = hidden[frames], labels[frames], target[rows]
        multi = self.num_streams[modality] > 1
        zeros = states.new_zeros((states.shape[0], 1, states.shape[1]))
        groups = []
        if not bool(multi.all()):
            groups.append((~multi, self.sub_decoder(self.sub_decoder.slot_inputs(states[~multi], zeros[~multi]))))
        if bool(multi.any()):
            previous = torch.cat([zeros[multi], self.embeddings.token_embedding(gold[multi, :-1].clamp(min=PAD_ID))], 1)
            groups.append((multi, self.sub_decoder(self.sub_decoder.slot_inputs(states[multi], previous))))
        weight = self.lm_head.weight
        losses, where_row, where_codebook = [], [], []
        for group, group_states in groups:
            group_rows, group_gold, group_modality = rows[group], gold[group], modality[group]
            for codebook in range(group_states.shape[1]):
                for index in group_modality.unique().tolist():
                    select = (group_modality == index) & (group_gold[:, codebook] != IGNORE_INDEX)
                    if not bool(select.any()):
                        continue
                    allowed = self.logit_mask[index, codebook].nonzero()[:, 0]  # sorted unified ids
                    logits = group_states[select, codebook] @ weight[allowed].T
                    classes = torch.searchsorted(allowed, group_gold[select, codebook])
                    losses.append(nn.functional.cross_entropy(logits.float(), classes, reduction="none"))
                    where_row.append(group_rows[select])
                    where_codebook.append(torch.full_like(classes, codebook))
        per_slot = torch.cat(losses)
        return per_slot.mean(), *self._grouped_means(per_slot.detach(), torch.cat(where_codebook), torch.cat(where_row),
                                                     num_codebooks, batch)

    @staticmethod
    def _grouped_means(values: torch.Tensor, codebook: torch.Tensor, row: torch.Tensor, num_codebooks: int,
                       batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-codebook ``(K,)`` and per-row ``(B,)`` means of per-slot losses (NaN where empty)."""

        def grouped_mean(index: torch.Tensor, size: int) -> torch.Tensor:
            sums = torch.zeros(size, device=values.device).index_add_(0, index, values)
            return sums / torch.bincount(index, minlength=size)

        return grouped_mean(codebook, num_codebooks), grouped_mean(row, batch)

    @staticmethod
    def loss_from_logits(
        logits: torch.Tensor, labels: torch.LongTensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean cross-entropy over valid slots, per codebook ``(K,)`` and per row ``(B,)``.

        ``logits`` ``(B, T, K, V)``, ``labels`` ``(B, T, K)``; only valid slots are upcast to float32.
        A codebook or row without valid slots gets NaN.
        """
        valid = labels != IGNORE_INDEX
        batch, _, num_codebooks = labels.shape
        if not bool(valid.any()):
            zero = logits.sum() * 0.0  # keeps the graph; nothing to learn from this batch
            nan = float("nan")
            return (zero, torch.full((num_codebooks,), nan, device=logits.device),
                    torch.full((batch,), nan, device=logits.device))
        per_slot = nn.functional.cross_entropy(logits[valid].float(), labels[valid], reduction="none")
        where = valid.nonzero()
        return per_slot.mean(), *UMustForConditionalGeneration._grouped_means(
            per_slot.detach(), where[:, 2], where[:, 0], num_codebooks, batch)


def semi_orthogonal(rows: int, cols: int, seed: int) -> torch.Tensor:
    """A fixed ``(rows, cols)`` matrix with orthonormal rows (rows <= cols) or columns, from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    gaussian = torch.randn(max(rows, cols), min(rows, cols), generator=generator)
    q, _ = torch.linalg.qr(gaussian)  # (max, min), orthonormal columns
    return q.T.contiguous() if rows <= cols else q


UMustConfig.register_for_auto_class()
UMustForConditionalGeneration.register_for_auto_class("AutoModelForSeq2SeqLM")


def register() -> None:
    """Register the config and model with transformers' Auto classes (idempotent)."""
    AutoConfig.register(UMustConfig.model_type, UMustConfig, exist_ok=True)
    AutoModel.register(UMustConfig, UMustForConditionalGeneration, exist_ok=True)
    AutoModelForSeq2SeqLM.register(UMustConfig, UMustForConditionalGeneration, exist_ok=True)


__all__ = ["UMustForConditionalGeneration", "UMustOutput", "UMustPreTrainedModel", "register"]
