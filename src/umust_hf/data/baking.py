"""Bake a public corpus into task examples for ``umust train``.

One loaded corpus row (or, for recordings, one 20 s segment of it) is encoded once per
modality with a :class:`~umust_hf.processing.processing_umust.UMustProcessor`; every task of
paper Table 11 whose source and target modality the row has becomes one example::

    id, segment, task, source_modality, target_modality,
    input_ids (S, K) unified ids (the source, as the processor encodes it at inference),
    labels    (T, K) unified ids (the target without SOS/EOS: ``BundleCollator`` adds them)

Recordings (MusicNet, MAESTRO, Slakh) are cut into consecutive windows of the MIDI
tokenizer's segment length (20 s, the paper's slice length); window ``k`` of the audio pairs
with MIDI segment ``k``. Score corpora (GrandStaff, OLiMPiC) give one image/notation pair per
system. BPSD, whose recordings are aligned to its score measure by measure, is cut into
windows of whole measures (at most ``max_measures`` and 20 s): each window's audio, its
notes as MIDI, the score excerpt of those measures as notation, and that excerpt rendered
as one system image (the embedded corpus's cutter and renderer) -- all four modalities.

Examples longer than the model's position tables (``max_<modality>_positions`` of a
:class:`~umust_hf.modeling.configuration_umust.UMustConfig`) are dropped and counted.
The result is a ``DatasetDict`` written with ``save_to_disk`` (shards, then one atomic rename).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from ..errors import UserError
from ..modeling.vocabulary_umust import EOS_ID, Modality
from ._layout import notes_to_midi_bytes
from .audio_io import decode_audio
from .bpsd import measure_windows, score_measure_index
from .embedded.excerpts import ExcerptCutter, clean_score
from .embedded.reduction import ScoreSkipped
from .embedded.rendering import render_system
from .tasks import TASKS, Task

logger = logging.getLogger(__name__)

#: The modalities each corpus is baked with (paper Table 1; BPSD's score is left out, see above).
BAKE_MODALITIES: dict[str, tuple[Modality, ...]] = {
    "grandstaff": (Modality.IMAGE, Modality.NOTATION),
    "olimpic": (Modality.IMAGE, Modality.NOTATION),
    "musicnet": (Modality.MIDI, Modality.AUDIO),
    "maestro": (Modality.MIDI, Modality.AUDIO),
    "slakh": (Modality.MIDI, Modality.AUDIO),
    "bpsd": (Modality.IMAGE, Modality.NOTATION, Modality.MIDI, Modality.AUDIO),
}

#: Measures per BPSD excerpt by default (a system of about that many measures fits the
#: renderer's width limit; the paper's BPSD images are single systems).
DEFAULT_MAX_MEASURES = 4

#: Rows (task examples) written per Arrow shard before the shards are joined.
_SHARD_ROWS = 2000
#: Audio windows encoded by the codec in one batch.
_AUDIO_BATCH = 8

BAKED_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "segment": datasets.Value("int32"),
        "task": datasets.Value("string"),
        "source_modality": datasets.Value("string"),
        "target_modality": datasets.Value("string"),
        "input_ids": datasets.List(datasets.List(datasets.Value("int32"))),
        "labels": datasets.List(datasets.List(datasets.Value("int32"))),
    }
)


@dataclass
class BakeSummary:
    """What a bake wrote and what it left out (``bake_summary.json`` beside the data lists one per bake)."""

    corpus: str
    out_dir: str
    tasks: list[str]
    examples: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> task -> count
    skipped_rows: dict[str, int] = field(default_factory=dict)  # split -> rows that could not be encoded
    too_long: dict[str, int] = field(default_factory=dict)  # task -> examples over the position limits
    wall_seconds: float = 0.0


def tasks_for(modalities: Iterable[Modality], only: Sequence[str] | None = None) -> list[Task]:
    """The tasks whose source and target are both in ``modalities`` (optionally only those named)."""
    have = set(modalities)
    tasks = [task for task in TASKS.values() if task.source in have and task.target in have]
    if only:
        unknown = [name for name in only if name not in TASKS]
        if unknown:
            raise UserError(f"unknown task(s) {unknown}; expected some of {list(TASKS)}")
        tasks = [task for task in tasks if task.name in only]
        if not tasks:
            raise UserError(f"none of the tasks {list(only)} can be baked from {sorted(m.value for m in have)}")
    return tasks


def strip_eos(bundle: np.ndarray) -> np.ndarray:
    """``bundle`` without its trailing EOS bundle(s) (a target's EOS is added by the collator)."""
    end = len(bundle)
    while end and bundle[end - 1, 0] == EOS_ID:
        end -= 1
    return bundle[:end]


def _window(samples: np.ndarray, rate: int, seconds: float) -> list[np.ndarray]:
    """Consecutive windows of ``seconds`` (the last one shorter); at least one window."""
    size = max(1, int(round(seconds * rate)))
    return [samples[start : start + size] for start in range(0, max(len(samples), 1), size)]


def encode_row(
    row: Mapping[str, Any], processor: Any, modalities: Sequence[Modality], max_measures: int = DEFAULT_MAX_MEASURES
) -> list[dict[Modality, np.ndarray]]:
    """Unified bundles of one corpus row: one dict per segment (score rows have one segment)."""
    import torch  # heavy: torch

    with torch.no_grad():
        if row.get("measures") is not None and row.get("notes") is not None and row.get("musicxml"):
            return _encode_aligned_score(row, processor, modalities, max_measures)
        if Modality.IMAGE in modalities or Modality.NOTATION in modalities:
            encoded: dict[Modality, np.ndarray] = {}
            if Modality.IMAGE in modalities and row.get("image") is not None:
                encoded[Modality.IMAGE] = processor.encode_images([row["image"]])[0]
            if Modality.NOTATION in modalities:
                if row.get("lmx"):
                    encoded[Modality.NOTATION] = processor.encode_notation(text=[row["lmx"]])[0]
                elif row.get("musicxml"):
                    encoded[Modality.NOTATION] = processor.encode_notation(musicxml=[row["musicxml"]])[0]
            return [encoded]
        streams: dict[Modality, list[np.ndarray]] = {}
        if Modality.MIDI in modalities and row.get("midi"):
            streams[Modality.MIDI] = processor.encode_midi([bytes(row["midi"])])
        if Modality.AUDIO in modalities and row.get("audio"):
            samples, rate = decode_audio(row["audio"])
            windows = _window(samples, rate, processor.midi_tokenizer.segment_seconds)
            bundles: list[np.ndarray] = []
            for start in range(0, len(windows), _AUDIO_BATCH):
                batch = windows[start : start + _AUDIO_BATCH]
                bundles += processor.encode_audio(batch, sampling_rate=[rate] * len(batch))
            streams[Modality.AUDIO] = bundles
    count = min((len(v) for v in streams.values()), default=0)
    return [{modality: bundles[k] for modality, bundles in streams.items()} for k in range(count)]


def _encode_aligned_score(
    row: Mapping[str, Any], processor: Any, modalities: Sequence[Modality], max_measures: int
) -> list[dict[Modality, np.ndarray]]:
    """A BPSD recording in windows of whole measures, each with up to all four modalities."""
    samples, rate = decode_audio(row["audio"])
    marks = sorted(row["measures"], key=lambda m: m["time"])
    windows = measure_windows(
        marks, len(samples) / rate, max_seconds=processor.midi_tokenizer.segment_seconds, max_measures=max_measures
    )
    cutter = None
    if Modality.NOTATION in modalities or Modality.IMAGE in modalities:
        try:
            cutter = ExcerptCutter(clean_score(row["musicxml"].encode("utf-8")))
        except ScoreSkipped as error:
            logger.warning("%s: score not usable for excerpts (%s); notation and image left out", row.get("id"), error)
    pickup = bool(cutter and cutter.measures) and (
        cutter.measures[0].get("implicit") == "yes" or cutter.measures[0].get("number") == "0"
    )
    segments = []
    for first, stop, start, end in windows:
        encoded: dict[Modality, np.ndarray] = {}
        if Modality.AUDIO in modalities:
            clip = samples[int(start * rate) : int(end * rate)]
            encoded[Modality.AUDIO] = processor.encode_audio([clip], sampling_rate=[rate])[0]
        if Modality.MIDI in modalities:
            notes = [
                {"onset": n["start"] - start, "offset": min(n["end"], end) - start, "pitch": n["pitch"], "program": 0}
                for n in row["notes"]
                if start <= n["start"] < end
            ]
            if notes:
                encoded[Modality.MIDI] = processor.encode_midi([notes_to_midi_bytes(notes)])[0]
        if cutter is not None:
            try:
                excerpt = cutter.cut(
                    score_measure_index(marks[first]["measure"], pickup),
                    score_measure_index(marks[stop - 1]["measure"], pickup) + 1,
                )
            except ValueError as error:  # an annotation past the score's end (e.g. a final marker)
                logger.debug("%s: window %.2f-%.2f s has no score excerpt: %s", row.get("id"), start, end, error)
                excerpt = None
            if excerpt is not None and Modality.NOTATION in modalities:
                try:
                    encoded[Modality.NOTATION] = processor.encode_notation(musicxml=[excerpt])[0]
                except ValueError as error:  # e.g. a multi-part score LMX cannot hold; audio and MIDI still count
                    logger.warning("%s: window %.2f-%.2f s has no LMX: %s", row.get("id"), start, end, error)
            if excerpt is not None and Modality.IMAGE in modalities:
                try:
                    encoded[Modality.IMAGE] = processor.encode_images([render_system(excerpt)])[0]
                except ScoreSkipped as error:
                    logger.debug("%s: window %.2f-%.2f s not rendered as one system: %s", row.get("id"), start, end, error)
        segments.append(encoded)
    return segments


def task_examples(
    row_id: str, segments: list[dict[Modality, np.ndarray]], tasks: Sequence[Task], limits: Mapping[Modality, int], too_long: Counter
) -> Iterator[dict[str, Any]]:
    """The task examples of one row's encoded segments (over-long ones are counted in ``too_long``)."""
    for index, encoded in enumerate(segments):
        for task in tasks:
            if task.source not in encoded or task.target not in encoded:
                continue
            source, target = encoded[task.source], strip_eos(encoded[task.target])
            if len(source) > limits[task.source] or len(target) + 1 > limits[task.target] or not len(target):
                too_long[task.name] += 1
                continue
            yield {
                "id": row_id,
                "segment": index,
                "task": task.name,
                "source_modality": task.source.value,
                "target_modality": task.target.value,
                "input_ids": np.asarray(source, dtype=np.int32).tolist(),
                "labels": np.asarray(target, dtype=np.int32).tolist(),
            }


def position_limits(config: Any = None) -> dict[Modality, int]:
    """Longest sequence per modality: the config's position tables (paper lengths by default)."""
    from ..modeling.configuration_umust import UMustConfig  # heavy: transformers

    config = config if config is not None else UMustConfig()
    return {modality: config.max_positions(modality) for modality in Modality}


def bake_corpus(
    corpus: str,
    data: datasets.DatasetDict | datasets.IterableDatasetDict,
    processor: Any,
    out_dir: str | os.PathLike[str],
    *,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    config: Any = None,
    overwrite: bool = False,
    append: bool = False,
    max_measures: int = DEFAULT_MAX_MEASURES,
    show_progress: bool = True,
) -> BakeSummary:
    """Encode every split of a loaded corpus into task examples and save them to ``out_dir``.

    ``data`` is what ``umust_hf.data.<corpus>.load_<corpus>`` returned; ``limit`` caps the rows
    read per split; ``config`` (a ``UMustConfig``) sets the length limits. Rows that fail to
    encode are skipped with a warning naming them. ``append`` adds the examples to a bake
    already in ``out_dir`` (split by split), so several corpora make one training set.
    ``max_measures`` bounds BPSD's measure-aligned excerpts.
    """
    from tqdm.auto import tqdm  # heavy: tqdm

    started = time.perf_counter()
    name = corpus.strip().lower()
    if name not in BAKE_MODALITIES:
        raise UserError(f"unknown corpus {corpus!r}; expected one of: {', '.join(BAKE_MODALITIES)}")
    modalities = BAKE_MODALITIES[name]
    chosen = tasks_for(modalities, tasks)
    needed = {m for task in chosen for m in (task.source, task.target)}
    for modality, codec in ((Modality.IMAGE, "image_codec"), (Modality.AUDIO, "audio_codec")):
        if modality in needed and getattr(processor, codec, None) is None:
            raise UserError(
                f"baking {name} tasks {[t.name for t in chosen]} needs the processor's {codec}: pass --processor "
                f"with a trained {codec.replace('_', ' ')} (umust train-codec), or --tasks without {modality.value}"
            )
    out = Path(out_dir)
    previous: list[dict[str, Any]] = []
    if append and out.exists():
        if not (out / "bake_summary.json").is_file():
            raise UserError(f"--append: {out} holds no earlier bake (no bake_summary.json)")
        previous = json.loads((out / "bake_summary.json").read_text())
        previous = previous if isinstance(previous, list) else [previous]
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise UserError(f"--out {out} exists and is not empty; pass --overwrite to replace it or --append to add to it")
    limits = position_limits(config)
    summary = BakeSummary(corpus=name, out_dir=str(out), tasks=[t.name for t in chosen])
    too_long: Counter = Counter()
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        splits = {}
        for split, rows in data.items():
            shards, buffer, skipped, counts = [], [], 0, Counter()
            total = min(len(rows), limit) if hasattr(rows, "__len__") and limit else (len(rows) if hasattr(rows, "__len__") else None)
            for number, row in enumerate(tqdm(rows, total=total, desc=f"bake {name}/{split}", disable=not show_progress)):
                if limit is not None and number >= limit:
                    break
                try:
                    segments = encode_row(row, processor, [m for m in modalities if m in needed], max_measures)
                except (UserError, ValueError, OSError, RuntimeError) as error:
                    logger.warning("skipping %s/%s row %s: %s", name, split, row.get("id"), error)
                    skipped += 1
                    continue
                for example in task_examples(str(row["id"]), segments, chosen, limits, too_long):
                    counts[example["task"]] += 1
                    buffer.append(example)
                if len(buffer) >= _SHARD_ROWS:
                    shards.append(_write_shard(buffer, staging / split / f"shard-{len(shards):05d}"))
                    buffer = []
            if buffer:
                shards.append(_write_shard(buffer, staging / split / f"shard-{len(shards):05d}"))
            summary.examples[split] = dict(counts)
            summary.skipped_rows[split] = skipped
            if not shards:
                logger.warning("%s: the %s split gave no task examples; it is left out", name, split)
                continue
            splits[split] = datasets.concatenate_datasets(shards) if len(shards) > 1 else shards[0]
        if not splits:
            raise UserError(f"{name}: no task examples were baked (see the warnings above)")
        if previous:
            earlier = datasets.load_from_disk(str(out))
            for split in earlier:
                splits[split] = datasets.concatenate_datasets([earlier[split], splits[split]]) if split in splits else earlier[split]
        final = staging / "dataset"
        datasets.DatasetDict(splits).save_to_disk(str(final))
        summary.too_long = dict(too_long)
        summary.wall_seconds = round(time.perf_counter() - started, 3)
        (final / "bake_summary.json").write_text(json.dumps([*previous, asdict(summary)], indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(final, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if too_long:
        logger.warning("%s: dropped %s example(s) longer than the position limits", name, dict(too_long))
    return summary


def _write_shard(rows: list[dict[str, Any]], path: Path) -> datasets.Dataset:
    """Rows -> an Arrow shard on disk, reopened memory-mapped (keeps the bake's memory flat)."""
    datasets.Dataset.from_list(rows, features=BAKED_FEATURES).save_to_disk(str(path))
    return datasets.load_from_disk(str(path))
