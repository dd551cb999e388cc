"""Generation for U-MUST: cached main decoder, sub-decoder run inline for the K slots of each step.

Kept apart from the model as transformers' Dia and CSM keep theirs, and built the same way: the
stock ``generate()`` runs (encoder pass, cache, logits processors, stopping criteria) and our parts
sit in its hooks (``_prepare_generation_config``, ``_prepare_generated_length``,
``_get_logits_processor``, ``_get_stopping_criteria``); the per-row state of a call travels on that
call's generation config (:class:`UMustRows`), never on the model. The decoding loop
(:meth:`UMustGenerationMixin._sample`, which serves both greedy search and sampling) is the stock
one with its departures marked ``# ---- U-MUST: ... ----``:

* one main-decoder step per frame (only the new frame when the KV cache is on, the whole prefix
  when ``use_cache=False``; both give the same tokens),
* then codebook by codebook: sub-decoder -> masked logits -> stock logits processors (fed the
  history of that codebook as ``(B, T)`` ids) -> argmax or a multinomial draw,
* single-stream targets (notation, MIDI) get PAD in codebooks 1.. without running those slots,
* a row stops at EOS in codebook 0 (later frames are all PAD), at ``max_new_tokens`` /
  ``max_length``, or when its target modality's position table is full. Without an explicit
  length the limit is the target modality's table (``max_<modality>_positions``), tightened per
  row by the source's length when the generation config has ``length_ratios`` (the longest
  target-per-source ratio of each modality pair seen in training, saved by the trainer): an
  under-trained model that loops then stops near the longest plausible output instead of at
  the end of the table; and, when the generation config has ``loop_repeats`` (set by the
  trainer), a notation or MIDI row also stops once its last tokens are one short phrase (at most
  ``LOOP_MAX_PERIOD`` tokens) repeated ``loop_repeats`` times over - a greedy loop, which real
  scores and performances do not contain (image and audio rows are never cut this way: silence
  and blank columns repeat legitimately); and, when the generation config has ``loop_diversity``
  (``{target modality: floor}``, set by the trainer a little below the least n-gram diversity of
  any window of the training targets), a row also stops once its last ``DIVERSITY_WINDOW``
  tokens are less varied than that: the loops that are not exactly periodic (a phrase with a
  token inserted now and then), which ``loop_repeats`` misses.

MIDI rows also decode under an event grammar (:mod:`.midi_grammar_umust`): only the events the
MIDI decoder accepts in the row's state are allowed, so no generated note is silently dropped.

Sampling draws from torch's global generator, as in transformers, unless ``sampling_seed`` is
given: then each row draws from its own generator, seeded by that seed and the row's source
tokens, so a row samples the same output whether it is generated alone or in any batch.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers.cache_utils import DynamicCache
from transformers.generation import GenerationConfig, GenerationMixin
from transformers.generation.logits_process import LogitsProcessorList
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList
from transformers.generation.utils import GenerateEncoderDecoderOutput

from .midi_grammar_umust import MidiEventGrammar
from .modality_umust import modality_indices
from .vocabulary_umust import MODALITY_ORDER, PAD_ID, Modality

#: Extra frames allowed beyond ``ratio x source length`` (short sources, rounding).
LENGTH_SLACK = 8
#: Multiplier on the longest ratio seen in training.
LENGTH_MARGIN = 1.1
#: Longest phrase (in tokens) that :class:`RepeatedPhraseStop` looks for.
LOOP_MAX_PERIOD = 8
#: Generation-config keys of our own; a config holding any of them must be saved as not derived
#: from the model config (``from_pretrained`` rebuilds a derived one from the model config, without them).
GENERATION_LIMIT_KEYS = ("length_ratios", "loop_repeats", "loop_diversity", "midi_grammar")
#: Window (tokens) and n-gram order of :func:`ngram_diversity` for :class:`RepetitiveWindowStop`.
DIVERSITY_WINDOW, DIVERSITY_NGRAM = 64, 3


def ngram_diversity(windows: torch.Tensor, n: int = DIVERSITY_NGRAM) -> torch.Tensor:
    """``(..., W)`` token windows -> ``(...)`` distinct n-grams / n-grams in each window.

    About 1 for varied text; a loop of a ``p``-token phrase has at most ``p`` distinct n-grams, so
    its diversity falls to ``p / (W - n + 1)`` however irregular the loop is.
    """
    width = windows.shape[-1]
    if width < n:
        raise ValueError(f"a window of {width} tokens holds no {n}-gram")
    grams = windows.unfold(-1, n, 1).long()  # (..., W - n + 1, n)
    codes = torch.zeros(grams.shape[:-1], dtype=torch.long, device=windows.device)
    for k in range(n):  # a collision-free code while ids < 2**21 (the unified vocabulary is ~10k)
        codes = codes * (1 << 21) + grams[..., k]
    ordered = codes.sort(dim=-1).values
    distinct = 1 + (ordered[..., 1:] != ordered[..., :-1]).sum(dim=-1)
    return distinct.float() / grams.shape[-2]


def row_generators(seed: int, source: torch.Tensor, attention_mask: torch.Tensor | None) -> list[torch.Generator]:
    """One generator per row of ``source`` ``(B, S, K)``, seeded by ``seed`` and the row's unpadded tokens."""
    generators = []
    for row in range(source.shape[0]):
        tokens = source[row] if attention_mask is None else source[row][attention_mask[row].bool()]
        # torch's CPU generator keeps 32 bits of a seed: the seed starts the row's checksum instead
        digest = zlib.crc32(tokens.to(torch.int64).cpu().numpy().tobytes(), int(seed) & 0xFFFFFFFF)
        generator = torch.Generator(device=source.device)
        generator.manual_seed(digest)
        generators.append(generator)
    return generators


def draw(probs: torch.Tensor, generators: list[torch.Generator] | None, rows: torch.Tensor) -> torch.Tensor:
    """One token per row from ``probs`` ``(B, V)``: a multinomial draw from the global generator, or
    from each row's own generator for the rows where ``rows`` is True (the others get 0, unused)."""
    if generators is None:
        return torch.multinomial(probs, num_samples=1).squeeze(1)
    tokens = torch.zeros(probs.shape[0], dtype=torch.long, device=probs.device)
    for row in rows.nonzero().flatten().tolist():
        tokens[row] = torch.multinomial(probs[row], num_samples=1, generator=generators[row])[0]
    return tokens


def length_ratio_key(source: str, target: str) -> str:
    """Key of a modality pair in ``generation_config.length_ratios``, e.g. ``"image->notation"``."""
    return f"{source}->{target}"


class SourceLengthLimit(StoppingCriteria):
    """Stops row ``b`` once it holds ``limits[b]`` frames (SOS included): per-row caps from source lengths."""

    def __init__(self, limits: torch.Tensor):
        self.limits = limits

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        return input_ids.shape[1] >= self.limits.to(input_ids.device)


class RepeatedPhraseStop(StoppingCriteria):
    """Stops a row whose last ``repeats x p`` tokens (codebook 0) are one phrase of ``p <= max_period``
    tokens repeated ``repeats`` times - a greedy decoding loop; only rows where ``rows`` is True
    (single-stream targets) are watched."""

    def __init__(self, repeats: int, rows: torch.Tensor, max_period: int = LOOP_MAX_PERIOD):
        if repeats < 2 or max_period < 1:
            raise ValueError(f"loop_repeats must be >= 2 and max_period >= 1, got {repeats} and {max_period}")
        self.repeats, self.rows, self.max_period = repeats, rows, max_period

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        tokens = input_ids[:, 1:]  # (B, T) codebook-0 ids after SOS
        looping = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for period in range(1, self.max_period + 1):
            span = period * self.repeats
            if tokens.shape[1] < span:
                break
            tail = tokens[:, -span:].reshape(-1, self.repeats, period)
            looping |= (tail == tail[:, -1:]).all(dim=2).all(dim=1)
        return looping & self.rows.to(input_ids.device)


class RepetitiveWindowStop(StoppingCriteria):
    """Stops a row whose last ``window`` tokens (codebook 0) have an n-gram diversity below its floor
    (``floors`` ``(B,)``, NaN for rows that are not watched)."""

    def __init__(self, floors: torch.Tensor, window: int = DIVERSITY_WINDOW):
        self.floors, self.window = floors, window

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        tokens = input_ids[:, 1:]
        if tokens.shape[1] < self.window:
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        return ngram_diversity(tokens[:, -self.window :]) < self.floors.to(input_ids.device)  # NaN: False


@dataclass
class UMustRows:
    """What one ``generate()`` call knows about its rows, carried on that call's generation config (as
    transformers carries ``_eos_token_tensor``) for the hooks and the decoding loop: never on the model."""

    source_modality: torch.LongTensor  # (B,) indices into MODALITY_ORDER
    target_modality: torch.LongTensor  # (B,)
    source_lengths: torch.LongTensor  # (B,) unpadded source frames
    explicit_length: bool  # max_length / max_new_tokens given (call, generation config or model's config)
    generators: list[torch.Generator] | None = None  # one per row under ``sampling_seed``, else None


class UMustGenerationMixin(GenerationMixin):
    """``generate(input_ids (B, S, K), source_modality=..., target_modality=...) -> (B, T, K)`` bundles.

    As transformers' Dia and CSM mixins do, the stock ``generate()`` runs and our additions sit in
    its hooks: :meth:`_prepare_generation_config` (our arguments ``sampling_seed`` and
    ``midi_grammar``, the per-row facts of the call in :class:`UMustRows`),
    :meth:`_prepare_generated_length` / :meth:`_validate_generated_length` (the default length is the
    target's position table), :meth:`_get_logits_processor` (the MIDI event grammar),
    :meth:`_get_stopping_criteria` (source-length caps and loop stops) and :meth:`_sample` (frames of K
    slots through the sub-decoder). ``generate()`` itself only checks and normalises its arguments.
    """

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor | None = None, generation_config: GenerationConfig | None = None,
                 **kwargs: Any):
        """Translate source bundles into target bundles ``(B, T, K)`` starting with the SOS bundle.

        ``source_modality`` and ``target_modality`` are required (``(B,)`` indices into
        ``MODALITY_ORDER`` or a modality name). All other arguments are those of
        :meth:`transformers.GenerationMixin.generate` (``do_sample``, ``top_k``, ``top_p``,
        ``temperature``, ``max_new_tokens``, ``use_cache``, ``return_dict_in_generate``...).
        MIDI rows decode under :class:`~.midi_grammar_umust.MidiEventGrammar` (only events the MIDI
        decoder accepts) unless ``midi_grammar=False`` is passed or set in the generation config.
        ``sampling_seed`` (an int, with ``do_sample=True``): each row samples from its own generator,
        seeded by it and the row's source, so the output does not depend on the batch.
        """
        source = inputs if inputs is not None else kwargs.get("input_ids")
        if source is None:
            raise ValueError("generate() needs the source bundles (input_ids of shape (batch, length, num_codebooks))")
        if inputs is not None and kwargs.get("input_ids") is not None:
            raise ValueError("pass the source bundles as inputs or as input_ids, not both")
        for name in ("source_modality", "target_modality"):
            kwargs[name] = modality_indices(kwargs.get(name), source.shape[0], source.device, name)
        if kwargs.get("streamer") is not None:
            raise ValueError("UMust generation does not support streamers")
        configs = (kwargs, vars(generation_config or GenerationConfig()), vars(self.generation_config))
        if any(c.get("num_beams") not in (None, 1) for c in configs) or kwargs.get("assistant_model") is not None:
            raise ValueError("UMust generation supports greedy search and sampling only (num_beams=1, no assistant)")
        # the source goes on as a keyword, where _prepare_generation_config sees it (the stock generate()
        # hands that hook its **kwargs only)
        kwargs["input_ids"] = source
        return super().generate(None, generation_config, **kwargs)

    def _prepare_generation_config(
        self, generation_config: GenerationConfig | None, **kwargs: Any
    ) -> tuple[GenerationConfig, dict]:
        """The stock preparation, minus our own arguments (the stock one would hand them back as model kwargs,
        which the model's forward() refuses): ``midi_grammar`` goes on the call's config, ``sampling_seed``
        into the call's :class:`UMustRows` (``generation_config._umust_rows``) as per-row generators."""
        seed = kwargs.pop("sampling_seed", None)
        grammar = kwargs.pop("midi_grammar", None)
        lengths = ("max_length", "max_new_tokens")
        configs = (kwargs, vars(generation_config or GenerationConfig()), vars(self.generation_config))
        explicit_length = any(c.get(key) is not None for c in configs for key in lengths)
        generation_config, model_kwargs = super()._prepare_generation_config(generation_config, **kwargs)
        if grammar is not None:
            generation_config.midi_grammar = grammar
        source, mask = model_kwargs.get("input_ids"), model_kwargs.get("attention_mask")
        target = model_kwargs.get("target_modality")
        if source is None or target is None:  # not called by our generate(): nothing per row to prepare
            return generation_config, model_kwargs
        generation_config._umust_rows = UMustRows(
            source_modality=model_kwargs["source_modality"],
            target_modality=target,
            source_lengths=mask.sum(dim=1) if mask is not None else torch.full((source.shape[0],), source.shape[1]),
            explicit_length=explicit_length,
            generators=None if seed is None else row_generators(seed, source, mask),
        )
        return generation_config, model_kwargs

    def _prepare_generated_length(self, generation_config: GenerationConfig, has_default_max_length: bool,
                                  *args: Any, **kwargs: Any) -> GenerationConfig:
        """Without a length anywhere, ``max_length`` is the longest position table among the rows' targets
        (each row also stops at its own table in :meth:`_sample`), not the stock default of 20 new tokens."""
        rows = getattr(generation_config, "_umust_rows", None)
        if rows is not None and not rows.explicit_length:
            generation_config.max_length = int(self.embeddings.position_limits[rows.target_modality].max())
            has_default_max_length = False
        return super()._prepare_generated_length(generation_config, has_default_max_length, *args, **kwargs)

    def _validate_generated_length(self, generation_config: GenerationConfig, input_ids_length: int,
                                   has_default_max_length: bool) -> None:
        """The stock checks; a length from the position tables is no "model-agnostic default" to warn about."""
        rows = getattr(generation_config, "_umust_rows", None)
        if rows is not None and not rows.explicit_length:
            has_default_max_length = False
        super()._validate_generated_length(generation_config, input_ids_length, has_default_max_length)

    def _get_logits_processor(
        self,
        generation_config: GenerationConfig,
        input_ids_seq_length: int | None = None,
        encoder_input_ids: torch.LongTensor | None = None,
        prefix_allowed_tokens_fn: Callable[[int, torch.Tensor], list[int]] | None = None,
        logits_processor: LogitsProcessorList | None = None,
        device: str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        negative_prompt_ids: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
    ) -> LogitsProcessorList:
        """The stock processors, with the MIDI event grammar after the caller's own processors when some row
        targets MIDI: after the stock processors that shape the logits, before the sampling warpers
        (temperature, top-k, top-p...), which the stock list puts after the caller's."""
        custom = LogitsProcessorList(logits_processor or [])
        target = (model_kwargs or {}).get("target_modality")
        if target is not None and getattr(generation_config, "midi_grammar", None) is not False:
            midi_rows = target == MODALITY_ORDER.index(Modality.MIDI)
            if bool(midi_rows.any()):
                vocabulary = self.config.vocabulary
                custom.append(MidiEventGrammar(vocabulary.offset(Modality.MIDI), vocabulary.midi_size,
                                               self.config.eos_token_id, midi_rows))
        return super()._get_logits_processor(
            generation_config=generation_config,
            input_ids_seq_length=input_ids_seq_length,
            encoder_input_ids=encoder_input_ids,
            prefix_allowed_tokens_fn=prefix_allowed_tokens_fn,
            logits_processor=custom,
            device=device,
            model_kwargs=model_kwargs,
            negative_prompt_ids=negative_prompt_ids,
            negative_prompt_attention_mask=negative_prompt_attention_mask,
        )

    def _get_stopping_criteria(self, generation_config: GenerationConfig, *args: Any,
                               **kwargs: Any) -> StoppingCriteriaList:
        """The stock criteria (and the caller's), then the generation config's per-row limits: source-length
        caps (``length_ratios``, without an explicit length), ``loop_repeats`` and ``loop_diversity``."""
        criteria = super()._get_stopping_criteria(generation_config, *args, **kwargs)
        rows = getattr(generation_config, "_umust_rows", None)
        if rows is None:
            return criteria
        ratios = getattr(generation_config, "length_ratios", None)
        if not rows.explicit_length and ratios:
            criteria.append(SourceLengthLimit(self.source_length_limits(ratios, rows.source_modality,
                                                                        rows.target_modality, rows.source_lengths)))
        repeats = getattr(generation_config, "loop_repeats", None)
        if repeats:
            criteria.append(RepeatedPhraseStop(int(repeats), self.num_streams[rows.target_modality] == 1))
        diversity = getattr(generation_config, "loop_diversity", None)
        if diversity:
            floors = torch.tensor([diversity.get(MODALITY_ORDER[target].value, float("nan"))
                                   for target in rows.target_modality.tolist()])
            criteria.append(RepetitiveWindowStop(floors))
        return criteria

    def source_length_limits(self, ratios: dict[str, float], source_modality: torch.Tensor,
                             target_modality: torch.Tensor, source_lengths: torch.Tensor) -> torch.Tensor:
        """Per-row frame limits ``(B,)`` (SOS included): ``1 + ceil(margin x ratio x S) + slack``, or the
        target's position table where ``ratios`` has no entry for the row's modality pair."""
        limits = self.embeddings.position_limits[target_modality].clone()
        for row, (source, target) in enumerate(zip(source_modality.tolist(), target_modality.tolist())):
            ratio = ratios.get(length_ratio_key(MODALITY_ORDER[source].value, MODALITY_ORDER[target].value))
            if ratio is not None:
                cap = 1 + int(torch.ceil(LENGTH_MARGIN * float(ratio) * source_lengths[row].float())) + LENGTH_SLACK
                limits[row] = min(int(limits[row]), cap)
        return limits

    def _prepare_decoder_input_ids_for_generation(
        self,
        batch_size: int,
        model_input_name: str,
        model_kwargs: dict[str, Any],
        decoder_start_token_id: torch.Tensor,
        device: torch.device | None = None,
    ) -> tuple[torch.LongTensor, dict[str, Any]]:
        """Start every row with the ``[SOS, PAD, ...]`` bundle ``(B, 1, K)`` (or a given prefix ``(B, t, K)``)."""
        device = device if device is not None else self.device
        start = torch.full((batch_size, 1, self.config.num_codebooks), PAD_ID, dtype=torch.long, device=device)
        start[..., 0] = self.config.decoder_start_token_id
        prefix = model_kwargs.pop("decoder_input_ids", None)
        if prefix is None:
            return start, model_kwargs
        if prefix.ndim != 3 or prefix.shape[0] != batch_size or prefix.shape[-1] != self.config.num_codebooks:
            raise ValueError(
                f"decoder_input_ids must be ({batch_size}, length, {self.config.num_codebooks}), got {tuple(prefix.shape)}"
            )
        prefix = prefix.to(device)
        if not bool((prefix[:, 0] == start[:, 0]).all()):
            prefix = torch.cat([start, prefix], dim=1)
        return prefix, model_kwargs

    def _sample(
        self,
        input_ids: torch.LongTensor,
        logits_processor: LogitsProcessorList,
        stopping_criteria: StoppingCriteriaList,
        generation_config: GenerationConfig,
        synced_gpus: bool = False,
        streamer: Any = None,
        **model_kwargs: Any,
    ) -> GenerateEncoderDecoderOutput | torch.LongTensor:
        """Decode frames until every row is finished; ``input_ids`` ``(B, t0, K)`` -> ``(B, T, K)``.

        transformers' ``_sample`` with the departures marked ``# ---- U-MUST: ... ----``."""
        # ---- U-MUST: no synced_gpus (nor streamers, refused in generate()) ----
        if synced_gpus:
            raise ValueError("UMust generation does not support synced_gpus")
        # init values
        output_scores = generation_config.return_dict_in_generate and generation_config.output_scores
        scores: tuple[torch.Tensor, ...] | None = () if output_scores else None
        # ---- U-MUST: the decoder is called directly (no prepare_inputs_for_generation / forward per step):
        # the encoder states, the source mask and the cache come from model_kwargs, once ----
        target = model_kwargs["target_modality"]
        encoder_hidden = model_kwargs["encoder_outputs"].last_hidden_state
        encoder_mask = model_kwargs.get("attention_mask")
        cache = model_kwargs.get("cache") if model_kwargs.get("use_cache", True) else None
        eos_id = self.config.eos_token_id
        num_codebooks = self.config.num_codebooks
        # ---- U-MUST: per-row facts: streams and position table of each row's target, and the row's own
        # sampling generator (sampling_seed) from the call's UMustRows ----
        batch = input_ids.shape[0]
        streams = self.num_streams[target]  # (B,)
        limits = self.embeddings.position_limits[target]  # (B,)
        run_slots = int(streams.max())
        rows = getattr(generation_config, "_umust_rows", None)
        generators = rows.generators if rows is not None else None
        # keep track of which sequences are already finished
        unfinished = torch.ones(batch, dtype=torch.bool, device=input_ids.device)
        unfinished &= input_ids.shape[1] < limits
        while bool(unfinished.any()):
            # ---- U-MUST: one main-decoder step per frame (only the new frame with the cache) ----
            new = input_ids if cache is None or cache.get_seq_length() == 0 else input_ids[:, -1:]
            hidden = self.decode(new, encoder_hidden, target, encoder_attention_mask=encoder_mask, cache=cache,
                                 clamp_positions=True)[:, -1]
            # ---- U-MUST: the frame's K slots, codebook by codebook through the sub-decoder; each slot's
            # logits go through the processors (fed that codebook's history, (B, T)) and token selection ----
            frame = torch.full((batch, num_codebooks), PAD_ID, dtype=torch.long, device=input_ids.device)
            step_scores = []
            slot_cache = DynamicCache()  # the sub-decoder's keys/values for this frame's slots
            for codebook in range(run_slots):
                previous = frame[:, codebook - 1] if codebook else None
                logits = self.next_slot_logits(hidden, previous, codebook, target, slot_cache).float()
                # pre-process distribution
                processed = logits_processor(input_ids[..., codebook], logits, codebook=codebook)
                # token selection
                if generation_config.do_sample:
                    # ---- U-MUST: per-row generators under sampling_seed ----
                    token = draw(nn.functional.softmax(processed, dim=-1), generators, unfinished & (streams > codebook))
                else:
                    token = processed.argmax(dim=-1)
                # ---- U-MUST: rows with fewer streams than this codebook get PAD ----
                if codebook:
                    token = torch.where(streams > codebook, token, PAD_ID)
                frame[:, codebook] = token
                if output_scores:
                    step_scores.append(processed)
            # ---- U-MUST: after EOS (codebook 0) the frame's other slots are PAD; finished rows get PAD frames ----
            ended = frame[:, 0] == eos_id
            frame[:, 1:] = frame[:, 1:].masked_fill(ended[:, None], PAD_ID)
            frame = frame.masked_fill(~unfinished[:, None], PAD_ID)
            # update generated ids
            input_ids = torch.cat([input_ids, frame[:, None]], dim=1)
            if output_scores:
                scores += (torch.stack(step_scores, dim=1),)  # (B, K, V) per frame
            # ---- U-MUST: a row stops at its EOS, at its target's position table, or by the stopping
            # criteria, which see codebook 0 ((B, T) ids) ----
            unfinished &= ~ended
            unfinished &= input_ids.shape[1] < limits
            unfinished &= ~stopping_criteria(input_ids[..., 0], scores)

        if generation_config.return_dict_in_generate:
            return GenerateEncoderDecoderOutput(sequences=input_ids, scores=scores, cache=cache)
        return input_ids
