"""Generation for U-MUST: cached main decoder, sub-decoder run inline for the K slots of each step.

Kept apart from the model as transformers' Dia and CSM keep theirs. ``generate()`` runs the
stock preparation (encoder pass, cache, logits processors, stopping criteria); the decoding loop
(:meth:`UMustGenerationMixin._sample`, which serves both greedy search and sampling) is ours:

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

import copy
import zlib
from typing import Any

import torch
from torch import nn
from transformers.cache_utils import DynamicCache
from transformers.generation import GenerationConfig, GenerationMixin
from transformers.generation.logits_process import LogitsProcessorList
from transformers.generation.stopping_criteria import StoppingCriteria, StoppingCriteriaList
from transformers.generation.utils import GenerateEncoderDecoderOutput

from .midi_grammar_umust import MidiEventGrammar
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


class UMustGenerationMixin(GenerationMixin):
    """``generate(input_ids (B, S, K), source_modality=..., target_modality=...) -> (B, T, K)`` bundles."""

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
        from .modeling_umust import modality_indices  # local: modeling imports this module

        source = inputs if inputs is not None else kwargs.get("input_ids")
        if source is None:
            raise ValueError("generate() needs the source bundles (input_ids of shape (batch, length, num_codebooks))")
        for name in ("source_modality", "target_modality"):
            kwargs[name] = modality_indices(kwargs.get(name), source.shape[0], source.device, name)
        if kwargs.get("streamer") is not None:
            raise ValueError("UMust generation does not support streamers")
        configs = (kwargs, vars(generation_config or GenerationConfig()), vars(self.generation_config))
        if any(c.get("num_beams") not in (None, 1) for c in configs) or kwargs.get("assistant_model") is not None:
            raise ValueError("UMust generation supports greedy search and sampling only (num_beams=1, no assistant)")
        length_given = any(c.get(key) is not None for c in configs for key in ("max_length", "max_new_tokens"))
        ratios = getattr(self.generation_config, "length_ratios", None)
        if not length_given and ratios:
            mask = kwargs.get("attention_mask")
            lengths = mask.sum(dim=1) if mask is not None else torch.full((source.shape[0],), source.shape[1])
            limit = SourceLengthLimit(self.source_length_limits(ratios, kwargs["source_modality"],
                                                                kwargs["target_modality"], lengths))
            kwargs["stopping_criteria"] = StoppingCriteriaList([*(kwargs.get("stopping_criteria") or []), limit])
        repeats = getattr(self.generation_config, "loop_repeats", None)
        if repeats:
            loop = RepeatedPhraseStop(int(repeats), self.num_streams[kwargs["target_modality"]] == 1)
            kwargs["stopping_criteria"] = StoppingCriteriaList([*(kwargs.get("stopping_criteria") or []), loop])
        diversity = getattr(self.generation_config, "loop_diversity", None)
        if diversity:
            floors = torch.tensor([diversity.get(MODALITY_ORDER[target].value, float("nan"))
                                   for target in kwargs["target_modality"].tolist()])
            stop = RepetitiveWindowStop(floors)
            kwargs["stopping_criteria"] = StoppingCriteriaList([*(kwargs.get("stopping_criteria") or []), stop])
        seed = kwargs.pop("sampling_seed", None)
        # held on the model for this call: the stock generate() refuses model kwargs forward() does not take
        self._row_generators = None if seed is None else row_generators(seed, source, kwargs.get("attention_mask"))
        grammar = kwargs.pop("midi_grammar", None)
        if grammar is None:
            grammar = getattr(self.generation_config, "midi_grammar", None) is not False
        midi_rows = kwargs["target_modality"] == MODALITY_ORDER.index(Modality.MIDI)
        if grammar and bool(midi_rows.any()):
            vocabulary = self.config.vocabulary
            processor = MidiEventGrammar(vocabulary.offset(Modality.MIDI), vocabulary.midi_size,
                                         self.config.eos_token_id, midi_rows)
            kwargs["logits_processor"] = LogitsProcessorList([*(kwargs.get("logits_processor") or []), processor])
        if not length_given:
            longest = int(self.embeddings.position_limits[kwargs["target_modality"]].max())
            if generation_config is None:
                kwargs["max_length"] = longest
            else:  # mixing a config object with generation kwargs is deprecated upstream
                generation_config = copy.deepcopy(generation_config)
                generation_config.max_length = longest
        try:
            return super().generate(inputs, generation_config, **kwargs)
        finally:
            self._row_generators = None

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
        """Decode frames until every row is finished; ``input_ids`` ``(B, t0, K)`` -> ``(B, T, K)``."""
        if synced_gpus:
            raise ValueError("UMust generation does not support synced_gpus")
        target = model_kwargs["target_modality"]
        encoder_hidden = model_kwargs["encoder_outputs"].last_hidden_state
        encoder_mask = model_kwargs.get("attention_mask")
        cache = model_kwargs.get("cache") if model_kwargs.get("use_cache", True) else None
        eos_id = self.config.eos_token_id
        num_codebooks = self.config.num_codebooks
        output_scores = generation_config.return_dict_in_generate and generation_config.output_scores
        scores: tuple[torch.Tensor, ...] | None = () if output_scores else None

        batch = input_ids.shape[0]
        streams = self.num_streams[target]  # (B,)
        limits = self.embeddings.position_limits[target]  # (B,)
        run_slots = int(streams.max())
        generators = getattr(self, "_row_generators", None)
        unfinished = torch.ones(batch, dtype=torch.bool, device=input_ids.device)
        unfinished &= input_ids.shape[1] < limits
        while bool(unfinished.any()):
            new = input_ids if cache is None or cache.get_seq_length() == 0 else input_ids[:, -1:]
            hidden = self.decode(new, encoder_hidden, target, encoder_attention_mask=encoder_mask, cache=cache,
                                 clamp_positions=True)[:, -1]
            frame = torch.full((batch, num_codebooks), PAD_ID, dtype=torch.long, device=input_ids.device)
            step_scores = []
            slot_cache = DynamicCache()  # the sub-decoder's keys/values for this frame's slots
            for codebook in range(run_slots):
                previous = frame[:, codebook - 1] if codebook else None
                logits = self.next_slot_logits(hidden, previous, codebook, target, slot_cache).float()
                processed = logits_processor(input_ids[..., codebook], logits, codebook=codebook)
                if generation_config.do_sample:
                    token = draw(nn.functional.softmax(processed, dim=-1), generators, unfinished & (streams > codebook))
                else:
                    token = processed.argmax(dim=-1)
                if codebook:
                    token = torch.where(streams > codebook, token, PAD_ID)
                frame[:, codebook] = token
                if output_scores:
                    step_scores.append(processed)
            ended = frame[:, 0] == eos_id
            frame[:, 1:] = frame[:, 1:].masked_fill(ended[:, None], PAD_ID)
            frame = frame.masked_fill(~unfinished[:, None], PAD_ID)
            input_ids = torch.cat([input_ids, frame[:, None]], dim=1)
            if output_scores:
                scores += (torch.stack(step_scores, dim=1),)
            unfinished &= ~ended
            unfinished &= input_ids.shape[1] < limits
            unfinished &= ~stopping_criteria(input_ids[..., 0], scores)

        if generation_config.return_dict_in_generate:
            return GenerateEncoderDecoderOutput(sequences=input_ids, scores=scores, cache=cache)
        return input_ids
