"""MusicNet (Thickstun et al., ICLR 2017): 330 classical recordings with aligned note labels.

Layout (Zenodo record 5120004: ``musicnet.tar.gz`` + ``musicnet_metadata.csv`` (+ the
optional ``musicnet_midis.tar.gz``, not read); the same layout is read by
``jthickstun/pytorch_musicnet``)::

    <root>/musicnet_metadata.csv     id, composer, composition, movement, ensemble, source,
                                     transcriber, catalog_name, seconds
    <root>/musicnet/train_data/<id>.wav     44.1 kHz mono
    <root>/musicnet/train_labels/<id>.csv   start_time, end_time (in samples at 44.1 kHz),
                                            instrument (General MIDI program, 1-based), note
                                            (MIDI pitch), start_beat, end_beat, note_value
    <root>/musicnet/test_data/<id>.wav, test_labels/<id>.csv

``root`` may also be the ``musicnet/`` folder itself (the metadata CSV is then looked for in
it and beside it), or the Kaggle mirror's root (``imsparsh/musicnet-dataset``:
``musicnet/musicnet/{train,test}_{data,labels}`` beside ``musicnet_metadata.csv``).
Official splits: ``train`` (320) and ``test`` (10).

Paper Table 1 uses MIDI (△: aligned labels, not a performance MIDI) + audio, so each row
carries the raw ``labels`` table and a ``midi`` file rendered from it (one track per
instrument; times converted from samples to seconds).
"""

from __future__ import annotations

import logging
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
    notes_to_midi_bytes,
    raise_if_missing,
    read_csv_rows,
    require_root,
    skip_corrupt,
)

CORPUS = "MusicNet"
LAYOUT = (
    "<root>/musicnet_metadata.csv and <root>/musicnet/{train,test}_data/<id>.wav + "
    "<root>/musicnet/{train,test}_labels/<id>.csv"
)
#: MusicNet's label times are sample indices at this rate (its README).
LABEL_SAMPLE_RATE = 44100
LABEL_COLUMNS = ("start_time", "end_time", "instrument", "note", "start_beat", "end_beat", "note_value")
METADATA_COLUMNS = ("id", "composer", "composition", "movement", "ensemble", "seconds")
SPLITS = ("train", "test")

logger = logging.getLogger(__name__)

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "composer": datasets.Value("string"),
        "composition": datasets.Value("string"),
        "movement": datasets.Value("string"),
        "ensemble": datasets.Value("string"),
        "seconds": datasets.Value("float64"),
        "audio": audio_feature(),
        "labels": datasets.List(
            {
                "start_time": datasets.Value("int64"),
                "end_time": datasets.Value("int64"),
                "instrument": datasets.Value("int32"),
                "note": datasets.Value("int32"),
                "start_beat": datasets.Value("float64"),
                "end_beat": datasets.Value("float64"),
                "note_value": datasets.Value("string"),
            }
        ),
        "midi": datasets.Value("binary"),
    }
)


def _parse_labels(path: Path) -> list[dict[str, Any]]:
    """The label table as typed rows; ``ValueError`` if a column or value is bad."""
    rows = read_csv_rows(path)
    if rows and (missing := [c for c in LABEL_COLUMNS if c not in rows[0]]):
        raise ValueError(f"missing column(s) {missing}")
    if not rows:
        raise ValueError("no labels")
    return [
        {
            "start_time": int(float(r["start_time"])),
            "end_time": int(float(r["end_time"])),
            "instrument": int(float(r["instrument"])),
            "note": int(float(r["note"])),
            "start_beat": float(r["start_beat"]),
            "end_beat": float(r["end_beat"]),
            "note_value": r["note_value"],
        }
        for r in rows
    ]


def _labels_to_midi(labels: list[dict[str, Any]]) -> bytes:
    notes = [
        {
            "onset": label["start_time"] / LABEL_SAMPLE_RATE,
            "offset": label["end_time"] / LABEL_SAMPLE_RATE,
            "pitch": label["note"],
            "program": min(max(label["instrument"] - 1, 0), 127),
        }
        for label in labels
    ]
    return notes_to_midi_bytes(notes)


def _generate(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        wav, csv_path = Path(item["wav"]), Path(item["csv"])
        reason = check_audio(wav)
        if reason:
            skip_corrupt(wav, reason)
            continue
        try:
            labels = _parse_labels(csv_path)
            midi = _labels_to_midi(labels)
        except (OSError, UnicodeDecodeError, ValueError, KeyError) as error:
            skip_corrupt(csv_path, error)
            continue
        meta = item["meta"]
        yield {
            "id": item["id"],
            "composer": meta.get("composer"),
            "composition": meta.get("composition"),
            "movement": meta.get("movement"),
            "ensemble": meta.get("ensemble"),
            "seconds": float(meta["seconds"]) if meta.get("seconds") else None,
            "audio": {"path": str(wav), "bytes": None},
            "labels": labels,
            "midi": midi,
        }


def _find_layout(root: Path) -> tuple[Path, Path]:
    """(folder holding ``train_data``..., metadata CSV)."""
    levels = [root]  # the Zenodo tarball nests once (musicnet/), the Kaggle mirror twice (musicnet/musicnet/)
    while not (levels[-1] / "train_data").is_dir() and (levels[-1] / "musicnet").is_dir() and len(levels) < 3:
        levels.append(levels[-1] / "musicnet")
    data_root = levels[-1]
    for candidate in (*(level / "musicnet_metadata.csv" for level in levels), root.parent / "musicnet_metadata.csv"):
        if candidate.is_file():
            return data_root, candidate
    raise UserError(f"{CORPUS}: missing metadata table: expected the file {str(root / 'musicnet_metadata.csv')!r} (layout: {LAYOUT})")


def _read_metadata(path: Path) -> dict[str, dict[str, str]]:
    try:
        rows = read_csv_rows(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise UserError(f"{CORPUS}: cannot read the metadata table {str(path)!r}: {error}") from None
    if not rows or "id" not in rows[0]:
        raise UserError(f"{CORPUS}: the metadata table {str(path)!r} has no 'id' column (expected {METADATA_COLUMNS})")
    return {row["id"]: row for row in rows}


def load_musicnet(
    root: str | os.PathLike[str],
    *,
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load MusicNet as a ``DatasetDict`` with its official ``train``/``test`` splits.

    Columns: ``id``, ``composer``, ``composition``, ``movement``, ``ensemble``, ``seconds``
    (from the metadata table), ``audio`` (WAV path, not decoded), ``labels`` (the CSV rows,
    times in samples at 44.1 kHz) and ``midi`` (Standard MIDI File bytes built from the labels).
    """
    path = require_root(root, CORPUS, LAYOUT)
    data_root, metadata_path = _find_layout(path)
    metadata = _read_metadata(metadata_path)
    splits: dict[str, list[dict[str, Any]]] = {}
    for split in SPLITS:
        data_dir, labels_dir = data_root / f"{split}_data", data_root / f"{split}_labels"
        raise_if_missing([data_dir, labels_dir], CORPUS, f"{split} folders are")
        ids = sorted({p.stem for p in data_dir.glob("*.wav")} | {p.stem for p in labels_dir.glob("*.csv")})
        items = [
            {"id": i, "wav": str(data_dir / f"{i}.wav"), "csv": str(labels_dir / f"{i}.csv"), "meta": metadata.get(i, {})}
            for i in ids
        ]
        raise_if_missing(
            (Path(item[key]) for item in items for key in ("wav", "csv")), CORPUS, f"{split} recordings or label files are"
        )
        for item in items:
            if not item["meta"]:
                logger.warning("%s: recording %s has no row in %s", CORPUS, item["id"], metadata_path)
        splits[split] = items
    return build_dataset_dict(
        corpus=CORPUS,
        splits=splits,
        generate=_generate,
        features=FEATURES,
        files_of=lambda item: [Path(item["wav"]), Path(item["csv"]), metadata_path],
        streaming=streaming,
        cache_dir=cache_dir,
    )
