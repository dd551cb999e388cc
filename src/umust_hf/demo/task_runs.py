"""Run the six tasks on held-out excerpts, write their outputs, and score models against baselines.

The I2A model (``umust-i2a``) does OMR, MIDI-to-audio and image-to-audio; the A2I model
(``umust-a2i``) does AMT, LMX-to-image and audio-to-image. Where a metric needs a symbolic
reading of a generated output, a reader does it: I2A's OMR reads generated images (token EMD),
and generated audio is transcribed where it is scored, by an external transcriber (basic-pitch,
:mod:`~umust_hf.evaluation.transcribers`) that no model here trained, as the paper's Onsets and
Frames. Baselines go through exactly the same metric code on the same excerpts.
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
from ..data.audio_io import decode_audio, read_midi_notes
from ..data.tasks import REPORT_ORDER
from ..errors import UserError
from ..evaluation.baselines import baseline_rows as paired_rows
from ..evaluation.pipelines import lmx_to_musicxml
from ..evaluation.predictions import PredictionRow
from ..evaluation.tables import MethodResult
from ..io_utils import atomic_write_bytes, atomic_write_text
from ..translation import write_output
from .constant_baselines import constant_lmx, constant_midi, random_partners

logger = logging.getLogger(__name__)

#: task -> (model that runs it, file suffix of its output)
TASK_OUTPUTS = {
    "omr": ("i2a", ".musicxml"), "m2a": ("i2a", ".wav"), "i2a": ("i2a", ".wav"),
    "amt": ("a2i", ".mid"), "l2i": ("a2i", ".png"), "a2i": ("a2i", ".png"),
}  # fmt: skip
TASK_ORDER = REPORT_ORDER


@dataclass
class TaskOutputs:
    """What running one task produced: files written, scoring rows and the figure's first pair."""

    task: str
    files: list[Path] = field(default_factory=list)
    rows: list[PredictionRow] = field(default_factory=list)
    example: dict[str, Any] = field(default_factory=dict)  # {"input": ..., "output": ...} for the figure


def _row(task: str, index: int, example: dict[str, Any], fields: dict[str, Any], source: str) -> PredictionRow:
    return PredictionRow(task, {"id": example["id"], **fields}, f"{source}[{index}]", Path("."))


@dataclass
class _HeldOut:
    """The held-out excerpts and what every task reads of them, decoded once."""

    examples: Sequence[dict[str, Any]]
    clips: list[tuple[np.ndarray, int]]  # the recordings, (samples, rate)
    gold_notes: list[Any]  # the performance MIDI's notes

    @classmethod
    def of(cls, examples: Sequence[dict[str, Any]]) -> _HeldOut:
        clips = [decode_audio(example["audio"]) for example in examples]
        return cls(examples, clips, [read_midi_notes(example["midi"]) for example in examples])

    def rows(self, task: str, fields: Sequence[dict[str, Any]]) -> list[PredictionRow]:
        """The task's scoring rows: ``fields[i]`` of held-out example ``i``."""
        return [_row(task, index, example, row, task) for index, (example, row) in enumerate(zip(self.examples, fields))]


def run_tasks(i2a: Any, a2i: Any, examples: Sequence[dict[str, Any]], out_dir: Path, *,
              show_progress: bool = True) -> dict[str, TaskOutputs]:
    """Translate every held-out example with the task's model and write the output under ``out_dir/<task>/``.

    ``i2a``/``a2i`` are :class:`~umust_hf.evaluation.generation.ModelRunner` instances; each task
    runs over all examples in their batches. Generated images are read (I2A's OMR) right away, so
    their rows carry ``pred``; audio rows carry the generated audio, for the scoring's transcriber.
    """
    if not examples:
        raise UserError("no held-out examples to run the six tasks on")
    heldout = _HeldOut.of(examples)
    steps = {
        "omr": lambda: _omr(i2a, heldout, out_dir),
        "amt": lambda: _amt(a2i, heldout, out_dir),
        "m2a": lambda: _audio_task("m2a", i2a, heldout, out_dir, midi=[e["midi"] for e in examples]),
        "i2a": lambda: _audio_task("i2a", i2a, heldout, out_dir, images=[e["image"] for e in examples]),
        "l2i": lambda: _image_task("l2i", a2i, i2a, heldout, out_dir, text=[e["lmx"] for e in examples]),
        "a2i": lambda: _image_task("a2i", a2i, i2a, heldout, out_dir, audio=[a for a, _ in heldout.clips],
                                   sampling_rate=[r for _, r in heldout.clips]),
    }
    results = {}
    with tqdm(total=len(examples) * len(TASK_ORDER), desc="six tasks", disable=not show_progress) as bar:
        for task in TASK_ORDER:
            (out_dir / task).mkdir(parents=True, exist_ok=True)
            results[task] = steps[task]()
            bar.update(len(examples))
    return results


def _omr(i2a: Any, heldout: _HeldOut, out_dir: Path) -> TaskOutputs:
    """OMR: ``.musicxml`` (and the raw ``.lmx``) of every held-out image."""
    outputs = TaskOutputs("omr")
    readings = i2a.read_notation_batch([e["image"] for e in heldout.examples])
    for index, lmx in enumerate(readings):
        path = out_dir / "omr" / f"{index:02d}.musicxml"
        try:
            musicxml = lmx_to_musicxml(lmx)
        except Exception as error:  # noqa: BLE001 - an unrepairable reading still gets its .lmx
            logger.warning("OMR output %02d could not become MusicXML (%s); writing an empty score", index, error)
            musicxml = lmx_to_musicxml("")
        outputs.files += [atomic_write_text(path, musicxml), atomic_write_text(path.with_suffix(".lmx"), lmx + "\n")]
    outputs.rows = heldout.rows("omr", [{"gold": e["lmx"], "pred": lmx} for e, lmx in zip(heldout.examples, readings)])
    outputs.example = {"input": heldout.examples[0]["image"], "output": readings[0]}
    return outputs


def _amt(a2i: Any, heldout: _HeldOut, out_dir: Path) -> TaskOutputs:
    """AMT: ``.mid`` of every held-out recording."""
    outputs = TaskOutputs("amt")
    transcriptions = a2i.transcribe_batch([a for a, _ in heldout.clips], [r for _, r in heldout.clips])
    for index, notes in enumerate(transcriptions):
        outputs.files.append(atomic_write_bytes(out_dir / "amt" / f"{index:02d}.mid", notes_to_midi(notes)))
    outputs.rows = heldout.rows("amt", [{"gold_notes": gold, "pred_notes": notes}
                                        for gold, notes in zip(heldout.gold_notes, transcriptions)])
    outputs.example = {"input": heldout.clips[0], "output": transcriptions[0]}
    return outputs


def _audio_task(task: str, i2a: Any, heldout: _HeldOut, out_dir: Path, **sources: Any) -> TaskOutputs:
    """M2A or I2A: ``.wav`` of every source; its rows hold the audio for the DTW onset F1's transcriber."""
    outputs = TaskOutputs(task)
    generated = i2a.synthesize_batch(**sources)
    for index, (audio, rate) in enumerate(generated):
        outputs.files += write_output(audio, out_dir / task / f"{index:02d}.wav", "audio", sampling_rate=rate)
    outputs.rows = heldout.rows(task, [{"gold_notes": gold, "gold_audio": clip, "pred_audio": output}
                                       for gold, clip, output in zip(heldout.gold_notes, heldout.clips, generated)])
    first_input = heldout.gold_notes[0] if task == "m2a" else heldout.examples[0]["image"]
    outputs.example = {"input": first_input, "output": generated[0]}
    return outputs


def _image_task(task: str, a2i: Any, i2a: Any, heldout: _HeldOut, out_dir: Path, **sources: Any) -> TaskOutputs:
    """L2I or A2I: ``.png`` of every source, read back by I2A's OMR for the token EMD."""
    outputs = TaskOutputs(task)
    images = a2i.render_batch(**sources)
    for index, image in enumerate(images):
        outputs.files += write_output(image, out_dir / task / f"{index:02d}.png", "image")
    readings = i2a.read_notation_batch(images, fit=True)  # a generated image may be wider than I2A reads
    outputs.rows = heldout.rows(task, [{"gold": e["lmx"], "pred": lmx} for e, lmx in zip(heldout.examples, readings)])
    first_input = heldout.examples[0]["lmx"] if task == "l2i" else heldout.clips[0]
    outputs.example = {"input": first_input, "output": images[0]}
    return outputs


def notes_to_midi(notes: Any) -> bytes:
    """``(N, 3)`` notes (onset s, offset s, pitch) -> MIDI bytes (piano)."""
    from ..data._layout import notes_to_midi_bytes  # heavy: datasets

    rows = [{"onset": float(on), "offset": float(max(off, on + 0.01)), "pitch": int(pitch), "program": 0}
            for on, off, pitch in np.asarray(notes, dtype=float).reshape(-1, 3)]
    return notes_to_midi_bytes(rows)


def baseline_rows(examples: Sequence[dict[str, Any]], train: Any, *, seed: int = 0) -> dict[str, list[PredictionRow]]:
    """Trivial-baseline rows on the same held-out ``examples`` (``train``: the training split).

    OMR: always the most frequent training LMX; AMT: always the most frequent training MIDI;
    M2A/I2A: a randomly paired training clip; L2I/A2I: the LMX of a randomly paired other
    held-out excerpt (the paper's random ground-truth pairing). The clips are scored as the
    models' generated audio is, through the scoring's transcriber.
    """
    lmx = constant_lmx(train, seed)
    constant_notes = read_midi_notes(constant_midi(train, seed))
    rows: dict[str, list[PredictionRow]] = {"omr": [], "amt": [], "m2a": [], "i2a": []}
    clips = [decode_audio(train[int(partner)]["audio"]) for partner in random_partners(len(examples), len(train), seed)]
    for index, example in enumerate(examples):
        gold_notes = read_midi_notes(example["midi"])
        rows["omr"].append(_row("omr", index, example, {"gold": example["lmx"], "pred": lmx}, "baseline"))
        rows["amt"].append(_row("amt", index, example, {"gold_notes": gold_notes, "pred_notes": constant_notes}, "baseline"))
        for task in ("m2a", "i2a"):
            fields = {"gold_notes": gold_notes, "gold_audio": decode_audio(example["audio"]),
                      "pred_audio": clips[index]}
            rows[task].append(_row(task, index, example, fields, "baseline"))
    for task in ("l2i", "a2i"):
        rows[task] = paired_rows(list(examples), task, kind="random-pairing", seed=seed, source="baseline")
    return rows


BASELINE_NAMES = {
    "omr": "most frequent training LMX", "amt": "most frequent training MIDI",
    "m2a": "random training clip", "i2a": "random training clip",
    "l2i": "random pairing (ground truth)", "a2i": "random pairing (ground truth)",
}  # fmt: skip


#: Label of an external system's rows (e.g. ``"basic-pitch (peer)"``), beside the trained model and the baseline.
PEER_SUFFIX = " (peer)"


def score_all(model_rows: dict[str, list[PredictionRow]], base_rows: dict[str, list[PredictionRow]], *,
              transcriber: Any = None, omr: Any = None, peer_rows: dict[str, list[PredictionRow]] | None = None,
              dataset: str = "umust-embedded (demo test)") -> list[MethodResult]:
    """Score every task's model and baseline rows with the shared metric code (``transcriber``: audio rows
    without ``pred_notes``, i.e. every generated clip; ``omr``: image rows without ``pred``), and each
    ``peer_rows`` (name -> AMT rows of an external system, e.g. basic-pitch) as one more AMT row."""
    from ..evaluation.scoring import score_rows  # heavy: scipy, mir_eval

    results = []
    for task in TASK_ORDER:
        for method, rows in (("trained", model_rows[task]), (BASELINE_NAMES[task], base_rows[task])):
            results.append(score_rows(rows, task=task, method=method, dataset=dataset, transcriber=transcriber, omr=omr))
        if task == "amt":
            for name, rows in (peer_rows or {}).items():
                results.append(score_rows(rows, task=task, method=name + PEER_SUFFIX, dataset=dataset))
    return results


__all__ = ["TASK_ORDER", "PEER_SUFFIX", "run_tasks", "baseline_rows", "score_all", "notes_to_midi", "SAMPLE_RATE"]
