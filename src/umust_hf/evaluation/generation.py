"""Run a trained U-MUST model over a test split and collect gold/prediction rows.

This is the ``umust evaluate --model DIR --data DIR`` path. The model translates each test
example for the task. The rows of generated images carry the model's own OMR reading (for
EMD); generated audio is left as audio, for the scoring's transcriber (:mod:`.transcribers`,
basic-pitch by default, independent of the model as the paper's Onsets and Frames). References come straight from the dataset: LMX, and notes from the
performance MIDI. Audio is sampled as the official engine does, each row with its own seeded
generator, and everything else decoded greedily, so a run is deterministic; :class:`ModelRunner`'s
``*_batch`` methods translate lists in padded batches and give the same outputs.

Rows use the predictions layout of :mod:`.predictions`, with in-memory audio
(``(samples, sample_rate)`` tuples) instead of file paths.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..constants import SAMPLE_RATE
from ..data.audio_io import decode_audio, read_midi_notes
from ..data.embedded.performance import perform, to_midi_bytes
from ..data.embedded.synthesis import synthesize
from ..errors import UserError
from ..vocabulary import Modality
from .baselines import load_split
from .notes import as_note_array
from .pipelines import MultiStageImageToAudio
from .predictions import PredictionRow

logger = logging.getLogger(__name__)

#: task -> dataset columns it reads (embedded-corpus names)
TASK_COLUMNS = {
    "omr": ("image", "lmx"),
    "amt": ("audio", "midi"),
    "m2a": ("midi", "audio"),
    "i2a": ("image", "midi", "audio"),
    "l2i": ("lmx",),
    "a2i": ("audio", "lmx"),
}


#: Source rows per ``generate()`` call (:class:`ModelRunner`'s default ``batch_size``).
DEFAULT_BATCH_SIZE = 8


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of ``items`` of at most ``size`` (the batches of a batched translation)."""
    if size < 1:
        raise UserError(f"batch size must be at least 1, got {size}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _per_clip(sampling_rate: int | Sequence[int] | None, count: int) -> list[int]:
    """One sampling rate per audio clip: ``sampling_rate`` is one rate for all, or a list of ``count``."""
    if sampling_rate is None:
        raise UserError("audio sources need sampling_rate= (one rate, or one per clip)")
    rates = [sampling_rate] * count if np.isscalar(sampling_rate) else list(sampling_rate)
    if len(rates) != count:
        raise UserError(f"got {len(rates)} sampling rates for {count} audio clips")
    return rates


def _source_list(name: str, items: Any) -> Sequence[Any]:
    """``items`` checked to be a list (or tuple) of sources."""
    if not isinstance(items, (list, tuple)):
        raise UserError(f"{name}= takes a list of sources, got {type(items).__name__}")
    return items


def _only_source(**sources: Any) -> tuple[str, Sequence[Any]]:
    """The one source keyword given: its name and its list of sources (a clear error otherwise)."""
    given = {name: items for name, items in sources.items() if items is not None}
    if len(given) != 1:
        raise UserError(f"pass exactly one of {', '.join(sources)} (a list of sources); got {sorted(given) or 'none'}")
    name, items = next(iter(given.items()))
    return name, _source_list(name, items)


def _one_item(source: dict[str, Any]) -> dict[str, Any]:
    """``midi=[x]`` / ``midi=x`` (and the other source keywords) -> ``midi=[x]``: the single-item methods' sources.

    A MIDI note list is one source, not a list of sources."""
    from ..processing.processing_umust import is_note_list  # heavy: torch, transformers

    single = {}
    for name, value in source.items():
        if name == "sampling_rate":
            single[name] = value
        elif isinstance(value, (list, tuple)) and not is_note_list(value):
            if len(value) != 1:
                raise UserError(f"{name}= holds {len(value)} sources; translate several with the *_batch methods")
            single[name] = list(value)
        else:
            single[name] = [value]
    return single


class ModelRunner:
    """One loaded model and processor (a translator's), with a method per translation the evaluation needs.

    ``translator``: a :class:`~umust_hf.translation.UMustTranslator` (its ``model``, ``processor``,
    ``generate_from`` and ``lmx_of``), loaded by the caller (``umust evaluate``, the demo): the
    evaluation layer sits below the translation module and does not import it.

    The ``*_batch`` methods take lists and return one output per source, generating
    ``batch_size`` source rows at a time (rows of similar length together: less padding, and
    rows of a batch end at similar lengths). Padding does not change a row's tokens, so they
    give what the single-item methods (one source per call) give. Sources are encoded one at a
    time: both codecs are convolutional, and in a padded batch the shorter clips' and narrower
    images' last codes change (padding instead of the edge); nor was a batch faster per item on
    a 2-core CPU (timings in ``docs/experiments.md``).
    """

    def __init__(self, translator: Any, *, max_new_tokens: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE):
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        self.translator = translator
        self.model, self.processor = translator.model, translator.processor
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size

    # ------------------------------------------------------------------ encode and generate
    def _encode(self, modality: Modality, items: Sequence[Any],
                rates: Sequence[int] | None = None) -> list[list[np.ndarray]]:
        """Source bundle rows of each item (``rates``: one per audio clip)."""
        rows = []
        for index, item in enumerate(items):
            try:
                rows.append(self._encode_one(modality, item, rates[index] if rates is not None else None))
            except ValueError as error:  # e.g. an unreadable or empty source
                raise UserError(f"cannot encode {modality.value} source {index}: {error}") from None
            if not rows[-1]:
                raise UserError(f"{modality.value} source {index} encodes to no tokens")
        return rows

    def _encode_one(self, modality: Modality, item: Any, rate: int | None) -> list[np.ndarray]:
        """One source's bundle rows: one row, or one per 20 s segment of a MIDI source."""
        if modality is Modality.IMAGE:
            return self.processor.encode_images([item])
        if modality is Modality.AUDIO:
            return self.processor.encode_audio([np.asarray(item, dtype=np.float32)], sampling_rate=[rate])
        if modality is Modality.MIDI:
            return self.processor.encode_midi(item)
        return self.processor.encode_notation(text=[item])

    def _generate(self, bundles: Sequence[np.ndarray], source: Modality, target: Modality) -> list[np.ndarray]:
        """One batch of source rows translated (audio sampled with per-row seeds, the rest greedy:
        :func:`~umust_hf.translation.decoding_for`): ``(1 + T, K)`` generated bundles per row (PAD after EOS)."""
        inputs = self.processor.pad_bundles(bundles, source, target)
        kwargs: dict[str, Any] = {}
        if self.max_new_tokens is not None:
            kwargs["max_new_tokens"] = self.max_new_tokens
        return list(self.translator.generate_from(inputs, target, source.value, **kwargs).cpu().numpy())

    def _translate(self, per_item: Sequence[Sequence[np.ndarray]], source: Modality,
                   target: Modality) -> list[list[np.ndarray]]:
        """Generated rows of each item (in its rows' order), over batches of ``batch_size`` rows of similar length."""
        rows = [row for item in per_item for row in item]
        order = sorted(range(len(rows)), key=lambda row: len(rows[row]))
        generated: list[np.ndarray] = [np.zeros(0)] * len(rows)
        for batch in chunks(order, self.batch_size):
            for row, output in zip(batch, self._generate([rows[row] for row in batch], source, target)):
                generated[row] = output
        bounds = np.cumsum([0, *(len(item) for item in per_item)])
        return [generated[start:stop] for start, stop in zip(bounds[:-1], bounds[1:])]

    # ------------------------------------------------------------------ batched translations
    def read_notation_batch(self, images: Sequence[Any], *, fit: bool = False) -> list[str]:
        """OMR: score images -> LMX strings (raw model tokens, not repaired, as OLiMPiC scores them).

        ``fit``: an image wider than the model's image position table is read up to the last token
        column that fits (with a warning) instead of refused - for generated images, whose width
        the generating model, not the data, decided."""
        images = _source_list("images", images)
        per_item = self._encode(Modality.IMAGE, images)
        if fit:
            per_item = [[self._fit_image(index, row) for row in rows] for index, rows in enumerate(per_item)]
        generated = self._translate(per_item, Modality.IMAGE, Modality.NOTATION)
        return [self.translator.lmx_of(row[None])[0] for (row,) in generated]

    def transcribe_batch(self, audio: Sequence[np.ndarray], sampling_rate: int | Sequence[int], *,
                         min_seconds: float = 0.0) -> list[np.ndarray]:
        """AMT: mono clips -> notes ``(N, 3)`` (onset s, offset s, MIDI pitch) each.

        An empty clip, or one shorter than ``min_seconds``, gives no notes without running the model."""
        audio = _source_list("audio", audio)
        rates = _per_clip(sampling_rate, len(audio))
        notes = [_no_notes() for _ in audio]
        heard = [index for index, (clip, rate) in enumerate(zip(audio, rates))
                 if np.size(clip) and np.size(clip) >= min_seconds * rate]
        per_item = self._encode(Modality.AUDIO, [audio[i] for i in heard], [rates[i] for i in heard])
        for index, (row,) in zip(heard, self._translate(per_item, Modality.AUDIO, Modality.MIDI)):
            notes[index] = self._notes_of(row, np.size(audio[index]) / rates[index])
        return notes

    def synthesize_batch(self, *, midi: Sequence[Any] | None = None,
                         images: Sequence[Any] | None = None) -> list[tuple[np.ndarray, int]]:
        """Sources (``midi=`` or ``images=``) -> generated audio and its rate each; a MIDI source's
        segment rows are joined in order (an empty array where the model generated nothing)."""
        name, items = _only_source(midi=midi, images=images)
        source = Modality.MIDI if name == "midi" else Modality.IMAGE
        rate = int(self.processor.feature_extractor.sampling_rate)
        generated = self._translate(self._encode(source, items), source, Modality.AUDIO)
        return [(np.concatenate([self.processor.decode(row, "audio")[0] for row in rows]), rate) for rows in generated]

    def render_batch(self, *, text: Sequence[str] | None = None, audio: Sequence[np.ndarray] | None = None,
                     sampling_rate: int | Sequence[int] | None = None) -> list[Any]:
        """Sources (``text=`` LMX strings or ``audio=`` clips at ``sampling_rate``) -> generated score images (PIL)."""
        name, items = _only_source(text=text, audio=audio)
        if name == "text":
            source, per_item = Modality.NOTATION, self._encode(Modality.NOTATION, items)
        else:
            source, per_item = Modality.AUDIO, self._encode(Modality.AUDIO, items, _per_clip(sampling_rate, len(items)))
        return [self.processor.decode(row, "image")[0] for (row,) in self._translate(per_item, source, Modality.IMAGE)]

    def _fit_image(self, index: int, row: np.ndarray) -> np.ndarray:
        limit = self.model.config.max_positions(Modality.IMAGE)
        fitted = self.processor.fit_image_bundle(row, limit)
        if len(fitted) < len(row):
            logger.warning("image %d encodes to %d tokens, more than max_image_positions=%d; reading its first %d",
                           index, len(row), limit, len(fitted))
        return fitted

    def _notes_of(self, generated: np.ndarray, end_seconds: float | None = None) -> np.ndarray:
        return notes_of(self.processor, generated, end_seconds)

    # ------------------------------------------------------------------ one source at a time
    def read_notation(self, image: Any, *, fit: bool = False) -> str:
        """OMR: score image -> LMX string (see :meth:`read_notation_batch`)."""
        return self.read_notation_batch([image], fit=fit)[0]

    def transcribe(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        """AMT: mono audio -> notes ``(N, 3)`` (onset s, offset s, MIDI pitch); no notes for an empty clip."""
        return self.transcribe_batch([audio], sample_rate)[0]

    def synthesize(self, **source: Any) -> tuple[np.ndarray, int]:
        """One source (``midi=`` or ``images=``, the item or a one-item list) -> generated audio; segment rows are
        joined in order."""
        return self.synthesize_batch(**_one_item(source))[0]

    def multi_stage(
        self, image: Any, *, synthesis: str = "soundfont", tempo_bpm: float = 100.0
    ) -> tuple[np.ndarray, int]:
        """Table 3's multi-stage baseline: this model's OMR -> MusicXML -> rule-based performance
        MIDI (the embedded corpus's performer, fixed tempo, no humanising) -> audio from the
        SoundFont synthesiser (``"soundfont"``) or this model's MIDI-to-audio task (``"model"``)."""
        def performance(musicxml: str) -> bytes:
            notes = perform(musicxml.encode(), tempo_bpm=tempo_bpm, rng=np.random.default_rng(0), humanize=False)
            return to_midi_bytes(notes, program=0, tempo_bpm=tempo_bpm)

        def soundfont(midi: bytes) -> tuple[np.ndarray, int]:
            notes = read_midi_notes(midi)
            if not notes:
                return np.zeros(0, np.float32), SAMPLE_RATE
            return synthesize(midi, max(note.end for note in notes)), SAMPLE_RATE

        def model(midi: bytes) -> tuple[np.ndarray, int]:
            return self.synthesize(midi=[midi])

        if synthesis not in ("soundfont", "model"):
            raise UserError(f"unknown multi-stage synthesis {synthesis!r}; expected soundfont or model")
        pipeline = MultiStageImageToAudio(
            omr=self.read_notation, perform=performance, synthesize=soundfont if synthesis == "soundfont" else model
        )
        output = pipeline(image)
        return output.audio, output.sample_rate

    def render(self, **source: Any) -> Any:
        """One source (``text=`` LMX or ``audio=`` with ``sampling_rate=``, the item or a one-item list)
        -> generated score image (PIL)."""
        return self.render_batch(**_one_item(source))[0]


def notes_of(processor: Any, generated: np.ndarray, end_seconds: float | None = None) -> np.ndarray:
    """Notes ``(N, 3)`` of one MIDI bundle row, generated or gold (no notes, with a warning, when it
    holds no readable MIDI); ``end_seconds``: the source's length, where a note left sounding ends."""
    midi = processor.decode(generated, "midi", end_seconds=end_seconds)[0]
    try:
        notes = read_midi_notes(midi) if midi else []
    except UserError as error:  # an output without a single readable note
        logger.warning("transcription gave no readable MIDI (%s); counting it as no notes", error)
        notes = []
    return as_note_array(notes, name="transcription")


def _no_notes() -> np.ndarray:
    return np.zeros((0, 3))


def _example_fields(task: str, example: dict[str, Any], runner: ModelRunner, multi_stage: str | None) -> dict[str, Any]:
    """Gold and predicted fields for one example (the layout of :mod:`.predictions`)."""
    if task == "omr":
        return {"gold": example["lmx"], "pred": runner.read_notation(example["image"])}
    if task == "l2i":
        return {"gold": example["lmx"], "pred": runner.read_notation(runner.render(text=[example["lmx"]]), fit=True)}
    if task == "a2i":
        audio, rate = decode_audio(example["audio"])
        return {"gold": example["lmx"], "pred": runner.read_notation(runner.render(audio=[audio], sampling_rate=rate),
                                                                     fit=True)}
    gold_notes = read_midi_notes(example["midi"])
    if task == "amt":
        audio, rate = decode_audio(example["audio"])
        return {"gold_notes": gold_notes, "pred_notes": runner.transcribe(audio, rate)}
    if multi_stage is not None:
        generated, rate = runner.multi_stage(example["image"], synthesis=multi_stage)
    else:
        source = {"midi": [example["midi"]]} if task == "m2a" else {"images": [example["image"]]}
        generated, rate = runner.synthesize(**source)
    # the generated audio is transcribed where it is scored, by a transcriber independent of this model
    return {"gold_notes": gold_notes, "gold_audio": example["audio"], "pred_audio": (generated, rate)}


def predict_with_model(
    runner: ModelRunner,
    data_dir: str | Path,
    *,
    task: str,
    split: str = "test",
    limit: int | None = None,
    multi_stage: str | None = None,
) -> list[PredictionRow]:
    """Generate predictions for ``task`` on ``data_dir[split]`` (an embedded-corpus DatasetDict) with
    ``runner`` (one loaded model, reused across tasks). ``multi_stage`` (``"soundfont"`` or
    ``"model"``, i2a only) produces the audio with :meth:`ModelRunner.multi_stage` instead."""
    if multi_stage is not None and task != "i2a":
        raise UserError("the multi-stage baseline is an image-to-audio (i2a) method")
    from tqdm.auto import tqdm  # heavy: tqdm

    examples = load_split(data_dir, split, limit, TASK_COLUMNS[task])
    rows = []
    for index, example in enumerate(tqdm(examples, desc=f"{task} generation", disable=len(examples) < 2)):
        fields = {"id": example.get("id", str(index)), **_example_fields(task, example, runner, multi_stage)}
        rows.append(PredictionRow(task, fields, f"{data_dir}[{split}][{index}]", Path(".")))
    return rows
