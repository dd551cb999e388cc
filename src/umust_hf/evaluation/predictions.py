"""Prediction files: JSON Lines with one gold/predicted pair per line, for any task.

Each line is an object with ``"task"`` (omr, amt, m2a, i2a, l2i, a2i; may be omitted when
the caller names the task), an optional ``"id"`` and the task's fields:

========  =====================================================================
task      fields
========  =====================================================================
omr       ``gold``, ``pred``: LMX strings
amt       ``gold_notes``, ``pred_notes``: lists of ``[onset_s, offset_s, midi_pitch]``
i2a, m2a  ``gold_notes``/``pred_notes`` (transcriptions, or the reference MIDI's notes)
          and/or ``gold_audio``/``pred_audio`` (audio file paths, relative to the
          JSONL file); notes give the F1 columns (audio without notes is
          transcribed: ``umust evaluate --transcriber basic-pitch|DIR``),
          audio gives FAD
a2i, l2i  ``gold``: LMX; ``pred``: LMX read back from the generated image by OMR,
          or ``pred_image`` (a path) read by ``umust evaluate --omr-reader DIR``
========  =====================================================================
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.audio_io import decode_audio
from ..data.tasks import REPORT_ORDER
from ..errors import UserError
from ..io_utils import atomic_write_text
from .notes import as_note_array

TASK_NAMES = REPORT_ORDER


@dataclass
class PredictionRow:
    """One gold/prediction pair and where it came from (for error messages)."""

    task: str
    fields: dict[str, Any]
    source: str  # "FILE:LINE"
    base_dir: Path

    @property
    def id(self) -> str:
        return str(self.fields.get("id", self.source))

    def has(self, key: str) -> bool:
        return self.fields.get(key) is not None

    def text(self, key: str) -> str:
        value = self.fields.get(key)
        if isinstance(value, list):
            value = " ".join(map(str, value))
        if not isinstance(value, str):
            raise UserError(f"{self.source}: {self.task} row needs {key!r} as an LMX string")
        return value

    def notes(self, key: str) -> np.ndarray:
        if key not in self.fields:
            raise UserError(f"{self.source}: {self.task} row needs {key!r} (a list of [onset, offset, pitch])")
        try:
            return as_note_array(self.fields[key], name=key)
        except (TypeError, ValueError, KeyError) as error:
            raise UserError(f"{self.source}: bad {key!r}: {error}") from None

    def path(self, key: str) -> Path:
        value = self.fields.get(key)
        if not isinstance(value, str):
            raise UserError(f"{self.source}: {self.task} row needs {key!r} as a file path")
        path = Path(value)
        path = path if path.is_absolute() else self.base_dir / path
        if not path.is_file():
            raise UserError(f"{self.source}: {key} file not found: {path}")
        return path

    def audio(self, key: str) -> tuple[np.ndarray, int]:
        """Mono float32 audio ``(samples,)`` and its sample rate, from a file path (JSONL rows)
        or an in-memory dataset cell (``{"bytes": ..., "path": ...}`` or bytes)."""
        value = self.fields.get(key)
        if isinstance(value, tuple) and len(value) == 2:  # (samples, sample_rate) from a model run
            return np.asarray(value[0], dtype=np.float32), int(value[1])
        source = self.path(key) if isinstance(value, str) or value is None else value
        try:
            return decode_audio(source)
        except UserError as error:
            raise UserError(f"{self.source}: cannot read {key}: {error}") from None


def read_predictions(path: str | Path, *, task: str | None = None) -> list[PredictionRow]:
    """Read a predictions JSONL file; ``task`` fills in (or filters) the rows' task.

    Raises:
        UserError: naming the file and line for a missing file, bad JSON, a row that is
            not an object, or an unknown task.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"predictions file not found: {path}")
    rows: list[PredictionRow] = []
    with path.open(encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            source = f"{path}:{number}"
            try:
                fields = json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{source}: not valid JSON ({error.msg})") from None
            if not isinstance(fields, dict):
                raise UserError(f"{source}: each line must be a JSON object")
            row_task = fields.get("task", task)
            if row_task is None:
                raise UserError(f'{source}: row has no "task" field; add one or pass --task')
            if row_task not in TASK_NAMES:
                raise UserError(f"{source}: unknown task {row_task!r}; expected one of {', '.join(TASK_NAMES)}")
            if task is not None and row_task != task:
                continue
            rows.append(PredictionRow(row_task, fields, source, path.parent))
    return rows


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)) and value and hasattr(value[0], "pitch"):  # note objects
        return as_note_array(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_predictions(rows: list[PredictionRow], path: str | Path) -> Path:
    """Save rows as a predictions JSONL that :func:`read_predictions` reads back.

    Notes become ``[onset, offset, pitch]`` lists; in-memory audio (model outputs, dataset
    cells) is written as 16-bit WAV files in ``<name>_audio/`` beside the JSONL and referred
    to by relative path. The JSONL is written atomically.
    """

    import soundfile  # heavy: soundfile

    path = Path(path)
    audio_dir = path.parent / f"{path.stem}_audio"
    lines = []
    for number, row in enumerate(rows):
        fields: dict[str, Any] = {"task": row.task}
        for key, value in row.fields.items():
            if key.endswith("_audio") and value is not None and not isinstance(value, str):
                audio, rate = row.audio(key)
                audio_dir.mkdir(parents=True, exist_ok=True)
                target = audio_dir / f"{number:05d}_{row.task}_{key}.wav"
                soundfile.write(str(target), audio, rate, subtype="PCM_16")
                value = str(target.relative_to(path.parent))
            fields[key] = _json_value(value)
        lines.append(json.dumps(fields))
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path
