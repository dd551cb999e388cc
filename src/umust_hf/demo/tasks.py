"""Run the six tasks on held-out excerpts, write their outputs, and score models against baselines.

The I2A model (``umust-i2a``) does OMR, MIDI-to-audio and image-to-audio; the A2I model
(``umust-a2i``) does AMT, LMX-to-image and audio-to-image. Where a metric needs a symbolic
reading of a generated output, the other model reads it, as in the paper: A2I's AMT
transcribes generated audio (DTW onset F1), I2A's OMR reads generated images (token EMD).
Baselines go through exactly the same metric code on the same excerpts.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..constants import SAMPLE_RATE
from ..evaluation.predictions import PredictionRow
from ..evaluation.tables import MethodResult

logger = logging.getLogger(__name__)

#: task -> (model that runs it, file suffix of its output)
TASK_OUTPUTS = {
    "omr": ("i2a", ".musicxml"), "m2a": ("i2a", ".wav"), "i2a": ("i2a", ".wav"),
    "amt": ("a2i", ".mid"), "l2i": ("a2i", ".png"), "a2i": ("a2i", ".png"),
}  # fmt: skip
TASK_ORDER = ("omr", "amt", "m2a", "i2a", "l2i", "a2i")


@dataclass
class TaskOutputs:
    """What running one task produced: files written, scoring rows and the figure's first pair."""

    task: str
    files: list[Path] = field(default_factory=list)
    rows: list[PredictionRow] = field(default_factory=list)
    example: dict[str, Any] = field(default_factory=dict)  # {"input": ..., "output": ...} for the figure


def _row(task: str, index: int, example: dict[str, Any], fields: dict[str, Any], source: str) -> PredictionRow:
    return PredictionRow(task, {"id": example["id"], **fields}, f"{source}[{index}]", Path("."))


def run_tasks(i2a: Any, a2i: Any, examples: Sequence[dict[str, Any]], out_dir: Path, *,
              show_progress: bool = True) -> dict[str, TaskOutputs]:
    """Translate every held-out example with the task's model and write the output under ``out_dir/<task>/``.

    ``i2a``/``a2i`` are :class:`~umust_hf.evaluation.generation.ModelRunner` instances.
    """
    from ..data.audio_io import decode_audio, read_midi_notes
    from ..evaluation.pipelines import lmx_to_musicxml
    from ..io_utils import atomic_write_bytes, atomic_write_text
    from ..translation import write_output

    results = {task: TaskOutputs(task) for task in TASK_ORDER}
    for task in TASK_ORDER:
        (out_dir / task).mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(examples) * len(TASK_ORDER), desc="six tasks", disable=not show_progress)
    for index, example in enumerate(examples):
        stem = f"{index:02d}"
        audio, rate = decode_audio(example["audio"])
        gold_notes = read_midi_notes(example["midi"])

        lmx = i2a.read_notation(example["image"])  # OMR
        path = out_dir / "omr" / f"{stem}.musicxml"
        try:
            musicxml = lmx_to_musicxml(lmx)
        except Exception as error:  # noqa: BLE001 - an unrepairable reading still gets its .lmx
            logger.warning("OMR output %s could not become MusicXML (%s); writing an empty score", stem, error)
            musicxml = lmx_to_musicxml("")
        results["omr"].files += [atomic_write_text(path, musicxml), atomic_write_text(path.with_suffix(".lmx"), lmx + "\n")]
        results["omr"].rows.append(_row("omr", index, example, {"gold": example["lmx"], "pred": lmx}, "omr"))
        bar.update()

        notes = a2i.transcribe(audio, rate)  # AMT
        path = out_dir / "amt" / f"{stem}.mid"
        results["amt"].files.append(atomic_write_bytes(path, notes_to_midi(notes)))
        results["amt"].rows.append(_row("amt", index, example, {"gold_notes": gold_notes, "pred_notes": notes}, "amt"))
        bar.update()

        for task, source in (("m2a", {"midi": [example["midi"]]}), ("i2a", {"images": [example["image"]]})):
            generated, out_rate = i2a.synthesize(**source)
            path = out_dir / task / f"{stem}.wav"
            results[task].files += write_output(generated, path, "audio", sampling_rate=out_rate)
            fields = {"gold_notes": gold_notes, "gold_audio": (audio, rate), "pred_audio": (generated, out_rate)}
            results[task].rows.append(_row(task, index, example, fields, task))
            bar.update()

        for task, source in (("l2i", {"text": [example["lmx"]]}), ("a2i", {"audio": [audio], "sampling_rate": rate})):
            image = a2i.render(**source)
            path = out_dir / task / f"{stem}.png"
            results[task].files += write_output(image, path, "image")
            results[task].rows.append(_row(task, index, example, {"gold": example["lmx"], "pred": i2a.read_notation(image)}, task))
            results[task].example.setdefault("output", image)
            bar.update()

        if index == 0:
            results["omr"].example = {"input": example["image"], "output": lmx}
            results["amt"].example = {"input": (audio, rate), "output": notes}
            results["m2a"].example = {"input": gold_notes, "output": results["m2a"].rows[0].fields["pred_audio"]}
            results["i2a"].example = {"input": example["image"], "output": results["i2a"].rows[0].fields["pred_audio"]}
            results["l2i"].example["input"] = example["lmx"]
            results["a2i"].example["input"] = (audio, rate)
    bar.close()
    return results


def notes_to_midi(notes: Any) -> bytes:
    """``(N, 3)`` notes (onset s, offset s, pitch) -> MIDI bytes (piano)."""
    from ..data._layout import notes_to_midi_bytes

    rows = [{"onset": float(on), "offset": float(max(off, on + 0.01)), "pitch": int(pitch), "program": 0}
            for on, off, pitch in np.asarray(notes, dtype=float).reshape(-1, 3)]
    return notes_to_midi_bytes(rows)


def baseline_rows(examples: Sequence[dict[str, Any]], train: Any, *, seed: int = 0) -> dict[str, list[PredictionRow]]:
    """Trivial-baseline rows on the same held-out ``examples`` (``train``: the training split).

    OMR: always the most frequent training LMX; AMT: always the most frequent training MIDI;
    M2A/I2A: a randomly paired training clip; L2I/A2I: the LMX of a randomly paired other
    held-out excerpt (the paper's random ground-truth pairing).
    """
    from ..data.audio_io import decode_audio, read_midi_notes
    from ..evaluation.baselines import baseline_rows as paired_rows
    from .baselines import lmx_distance, midi_distance, most_frequent, random_partners

    train_lmx = list(train["lmx"])
    constant_lmx = most_frequent(train_lmx, lmx_distance, seed=seed)
    train_midi = [bytes(m) for m in train["midi"]]
    constant_notes = read_midi_notes(most_frequent(train_midi, midi_distance, max_candidates=60, seed=seed))
    rows: dict[str, list[PredictionRow]] = {"omr": [], "amt": [], "m2a": [], "i2a": []}
    partners = random_partners(len(examples), len(train), seed)
    for index, example in enumerate(examples):
        gold_notes = read_midi_notes(example["midi"])
        rows["omr"].append(_row("omr", index, example, {"gold": example["lmx"], "pred": constant_lmx}, "baseline"))
        rows["amt"].append(_row("amt", index, example, {"gold_notes": gold_notes, "pred_notes": constant_notes}, "baseline"))
        clip = decode_audio(train[int(partners[index])]["audio"])
        for task in ("m2a", "i2a"):
            fields = {"gold_notes": gold_notes, "gold_audio": decode_audio(example["audio"]), "pred_audio": clip}
            rows[task].append(_row(task, index, example, fields, "baseline"))
    for task in ("l2i", "a2i"):
        rows[task] = paired_rows(list(examples), task, kind="random-pairing", seed=seed, source="baseline")
    return rows


BASELINE_NAMES = {
    "omr": "most frequent training LMX", "amt": "most frequent training MIDI",
    "m2a": "random training clip", "i2a": "random training clip",
    "l2i": "random pairing (ground truth)", "a2i": "random pairing (ground truth)",
}  # fmt: skip


def score_all(model_rows: dict[str, list[PredictionRow]], base_rows: dict[str, list[PredictionRow]], *,
              transcriber: Any, omr: Any, dataset: str = "umust-embedded (demo test)") -> list[MethodResult]:
    """Score every task's model and baseline rows with the shared metric code."""
    from ..evaluation.scoring import score_rows

    results = []
    for task in TASK_ORDER:
        for method, rows in (("trained", model_rows[task]), (BASELINE_NAMES[task], base_rows[task])):
            results.append(score_rows(rows, task=task, method=method, dataset=dataset, transcriber=transcriber, omr=omr))
    return results


__all__ = ["TASK_ORDER", "run_tasks", "baseline_rows", "score_all", "notes_to_midi", "SAMPLE_RATE"]
