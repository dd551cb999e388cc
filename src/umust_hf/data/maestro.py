"""MAESTRO v3.0.0 (Hawthorne et al., ICLR 2019): ~200 h of piano audio with aligned performance MIDI.

Layout (the dataset page magenta.tensorflow.org/datasets/maestro and the archive
``maestro-v3.0.0.zip``; ``maestro-v3.0.0-midi.zip`` is the same without ``.wav``)::

    maestro-v3.0.0/
      maestro-v3.0.0.csv     canonical_composer, canonical_title, split (train/validation/test),
                             year, midi_filename, audio_filename, duration
      maestro-v3.0.0.json    the same table, column-oriented ({column: {row: value}})
      2004/ ... 2018/        <name>.midi and <name>.wav (44.1 or 48 kHz stereo), paths as in the table

The table's ``split`` column is the official split. Paper Table 1 uses MIDI + audio; with
``audio=False`` a MIDI-only download is read too. Older versions (v1/v2: ``maestro-v2.0.0.csv``)
have the same columns and are picked up when no v3 table is present.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from ..errors import UserError
from ._layout import (
    audio_feature,
    build_dataset_dict,
    check_audio,
    check_midi_bytes,
    descend_to,
    raise_if_missing,
    read_csv_rows,
    require_root,
    skip_corrupt,
    split_name,
)

CORPUS = "MAESTRO"
LAYOUT = "<root>/maestro-v3.0.0.csv (or .json) and <root>/<year>/<name>.{midi,wav} as listed in it"
COLUMNS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename", "audio_filename", "duration")

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "canonical_composer": datasets.Value("string"),
        "canonical_title": datasets.Value("string"),
        "year": datasets.Value("int32"),
        "duration": datasets.Value("float64"),
        "midi": datasets.Value("binary"),
        "audio": audio_feature(),
    }
)


def _metadata_file(root: Path) -> Path:
    """The newest ``maestro-v*.csv`` (preferred) or ``.json`` table in ``root``."""
    for pattern in ("maestro-v*.csv", "maestro-v*.json"):
        found = sorted(root.glob(pattern))
        if found:
            return found[-1]
    raise UserError(f"{CORPUS}: missing metadata table: expected the file {str(root / 'maestro-v3.0.0.csv')!r} (layout: {LAYOUT})")


def _read_table(path: Path) -> list[dict[str, str]]:
    """Rows of the CSV table, or of the JSON table (column- or record-oriented)."""
    try:
        if path.suffix == ".csv":
            rows = read_csv_rows(path)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                keys = sorted(next(iter(data.values())), key=int)
                rows = [{column: str(data[column][k]) for column in data} for k in keys]
            else:
                rows = [{k: str(v) for k, v in record.items()} for record in data]
    except (OSError, UnicodeDecodeError, ValueError, StopIteration, KeyError, TypeError) as error:
        raise UserError(f"{CORPUS}: cannot read the metadata table {str(path)!r}: {error}") from None
    if not rows:
        raise UserError(f"{CORPUS}: the metadata table {str(path)!r} is empty")
    missing = [c for c in COLUMNS if c not in rows[0]]
    if missing:
        raise UserError(f"{CORPUS}: the metadata table {str(path)!r} lacks the column(s) {missing}")
    return rows


def _generate(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        midi_path = Path(item["midi"])
        try:
            midi = midi_path.read_bytes()
        except OSError as error:
            skip_corrupt(midi_path, error)
            continue
        reason = check_midi_bytes(midi)
        if reason:
            skip_corrupt(midi_path, reason)
            continue
        audio = None
        if item["audio"]:
            audio_path = Path(item["audio"])
            reason = check_audio(audio_path)
            if reason:
                skip_corrupt(audio_path, reason)
                continue
            audio = {"path": str(audio_path), "bytes": None}
        row = item["row"]
        yield {
            "id": item["id"],
            "canonical_composer": row["canonical_composer"],
            "canonical_title": row["canonical_title"],
            "year": int(float(row["year"])),
            "duration": float(row["duration"]),
            "midi": midi,
            "audio": audio,
        }


def load_maestro(
    root: str | os.PathLike[str],
    *,
    audio: bool = True,
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load MAESTRO as a ``DatasetDict`` of its official ``train``/``validation``/``test`` splits.

    Columns: ``id`` (file name without extension), ``canonical_composer``, ``canonical_title``,
    ``year``, ``duration`` (s), ``midi`` (file bytes), ``audio`` (WAV path, not decoded;
    ``None`` with ``audio=False``). ``streaming=True`` yields ``IterableDataset`` splits.
    """
    path = descend_to(require_root(root, CORPUS, LAYOUT), "maestro-v*", lambda p: any(p.glob("maestro-v*.[cj]s*")))
    table = _metadata_file(path)
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    for row in _read_table(table):
        items = splits.setdefault(split_name(row["split"], CORPUS), [])
        items.append(
            {
                "id": Path(row["midi_filename"]).stem,
                "midi": str(path / row["midi_filename"]),
                "audio": str(path / row["audio_filename"]) if audio else "",
                "row": row,
            }
        )
    all_items = [item for items in splits.values() for item in items]
    raise_if_missing((Path(item["midi"]) for item in all_items), CORPUS, f"MIDI files listed in {table.name} are")
    if audio:
        raise_if_missing(
            (Path(item["audio"]) for item in all_items),
            CORPUS,
            f"audio files listed in {table.name} are (pass audio=False for the MIDI-only download)",
        )
    return build_dataset_dict(
        corpus=CORPUS,
        splits=splits,
        generate=_generate,
        features=FEATURES,
        files_of=lambda item: [Path(item["midi"]), *([Path(item["audio"])] if item["audio"] else []), table],
        streaming=streaming,
        cache_dir=cache_dir,
        options=f"audio={audio}",
    )
