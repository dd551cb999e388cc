"""BPSD, the Beethoven Piano Sonata Dataset (Zeitler, Weiß, Arifi-Müller & Müller, TISMIR 7(1), 2024):
the first movements of the 32 sonatas, each as a MusicXML score and 11 aligned recordings.

Layout (the Zenodo archive ``Beethoven_Piano_Sonata_Dataset_v2``; the paths are the ones the
authors' scripts ``groupmm/BPSD_scripts`` read and write: ``01_audio_modifications``
-> ``1_Audio``, ``04_xml_to_csv`` -> ``2_Annotations/ann_score_note``, ``05_audio_score_sync``
-> ``2_Annotations/ann_audio_note``, ``03``/``05`` read ``ann_audio_measure``)::

    <root>/0_RawData/score_xml_unfolded/Beethoven_<piece>.xml      score, repeats unfolded
                                                                    (performance order)
    <root>/0_RawData/score_xml_repetitions/Beethoven_<piece>.xml   printed order (not read)
    <root>/1_Audio/Beethoven_<piece>_<performer>.wav               22.05 kHz mono
    <root>/2_Annotations/ann_audio_note/Beethoven_<piece>_<performer>.csv
        ';'-separated: start; end (s); start_meas; end_meas; pitch (MIDI); pitchname;
        timesig; articulation
    <root>/2_Annotations/ann_audio_measure/Beethoven_<piece>_<performer>.csv
        ';'-separated measure positions in the recording (columns read by name:
        ``measure`` and ``time``; optional)

``<piece>`` is e.g. ``Op002No1-01``, ``<performer>`` a code such as ``WK64`` (Kempff 1964).
Paper Table 1 uses image + MXL + MIDI (△: the aligned note table) + audio. BPSD ships no
system images (the paper's came from detecting systems on score pages); ``umust bake`` cuts
each recording into windows of whole measures (:func:`measure_windows`) and renders each
window's score excerpt as one system. BPSD has **no official split**: every performance is
in ``train`` unless its piece is named in ``test_pieces``.

Uncertain: the column names of ``ann_audio_measure`` (taken from the scripts, not the
archive), and whether every release carries ``0_RawData`` (the v2 archive does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import datasets

from ..errors import UserError
from ._layout import (
    audio_feature,
    build_dataset_dict,
    check_audio,
    check_xml,
    descend_to,
    notes_to_midi_bytes,
    raise_if_missing,
    read_csv_rows,
    read_text,
    require_dir,
    require_root,
    skip_corrupt,
)

CORPUS = "BPSD"
LAYOUT = (
    "<root>/0_RawData/score_xml_unfolded/Beethoven_<piece>.xml, <root>/1_Audio/Beethoven_<piece>_<performer>.wav, "
    "<root>/2_Annotations/ann_audio_note/Beethoven_<piece>_<performer>.csv"
)
SCORE_DIR = Path("0_RawData") / "score_xml_unfolded"
AUDIO_DIR = Path("1_Audio")
NOTE_DIR = Path("2_Annotations") / "ann_audio_note"
MEASURE_DIR = Path("2_Annotations") / "ann_audio_measure"
NOTE_COLUMNS = ("start", "end", "start_meas", "end_meas", "pitch", "pitchname", "timesig", "articulation")

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "piece": datasets.Value("string"),
        "performer": datasets.Value("string"),
        "musicxml": datasets.Value("string"),
        "audio": audio_feature(),
        "notes": datasets.List(
            {
                "start": datasets.Value("float64"),
                "end": datasets.Value("float64"),
                "start_meas": datasets.Value("float64"),
                "end_meas": datasets.Value("float64"),
                "pitch": datasets.Value("int32"),
                "pitchname": datasets.Value("string"),
                "timesig": datasets.Value("string"),
                "articulation": datasets.Value("string"),
            }
        ),
        "measures": datasets.List({"measure": datasets.Value("float64"), "time": datasets.Value("float64")}),
        "midi": datasets.Value("binary"),
    }
)


def _parse_notes(path: Path) -> list[dict[str, Any]]:
    rows = read_csv_rows(path, delimiter=";")
    if not rows:
        raise ValueError("no notes")
    if missing := [c for c in ("start", "end", "pitch") if c not in rows[0]]:
        raise ValueError(f"missing column(s) {missing}")
    return [
        {
            "start": float(r["start"]),
            "end": float(r["end"]),
            "start_meas": float(r["start_meas"]) if r.get("start_meas") else None,
            "end_meas": float(r["end_meas"]) if r.get("end_meas") else None,
            "pitch": int(float(r["pitch"])),
            "pitchname": r.get("pitchname"),
            "timesig": r.get("timesig"),
            "articulation": r.get("articulation"),
        }
        for r in rows
    ]


def _parse_measures(path: Path) -> list[dict[str, float]]:
    rows = read_csv_rows(path, delimiter=";")
    if rows and "measure" in rows[0]:
        time_key = "time" if "time" in rows[0] else "start"
        return [{"measure": float(r["measure"]), "time": float(r[time_key])} for r in rows]
    raise ValueError("no 'measure' column")


def _generate(items: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    for item in items:
        wav, note_csv, score = Path(item["audio"]), Path(item["notes"]), Path(item["score"])
        if reason := check_audio(wav):
            skip_corrupt(wav, reason)
            continue
        try:
            notes = _parse_notes(note_csv)
            midi = notes_to_midi_bytes([{"onset": n["start"], "offset": n["end"], "pitch": n["pitch"], "program": 0} for n in notes])
        except (OSError, UnicodeDecodeError, ValueError, KeyError) as error:
            skip_corrupt(note_csv, error)
            continue
        try:
            musicxml = read_text(score)
        except (OSError, UnicodeDecodeError) as error:
            skip_corrupt(score, error)
            continue
        if reason := check_xml(musicxml):
            skip_corrupt(score, reason)
            continue
        measures: list[dict[str, float]] = []
        measure_csv = Path(item["measures"])
        if measure_csv.is_file():
            try:
                measures = _parse_measures(measure_csv)
            except (OSError, UnicodeDecodeError, ValueError, KeyError) as error:
                skip_corrupt(measure_csv, error)
        yield {
            "id": item["id"],
            "piece": item["piece"],
            "performer": item["performer"],
            "musicxml": musicxml,
            "audio": {"path": str(wav), "bytes": None},
            "notes": notes,
            "measures": measures,
            "midi": midi,
        }


def measure_windows(
    measures: Sequence[dict[str, float]], duration: float, *, max_seconds: float, max_measures: int
) -> list[tuple[int, int, float, float]]:
    """Windows of whole measures for excerpting: ``(first, stop, start_s, end_s)`` with ``first``/``stop``
    indices into ``measures`` (sorted by time), at most ``max_measures`` measures and ``max_seconds`` long.

    A measure ends where the next one starts (the last one at ``duration``). A single measure
    longer than ``max_seconds`` gives no window (the excerpt would not fit one segment).
    """
    marks = sorted(measures, key=lambda m: m["time"])
    starts = [float(m["time"]) for m in marks]
    ends = [*starts[1:], float(duration)]
    windows, first = [], 0
    while first < len(marks):
        stop = first + 1
        while stop < len(marks) and stop + 1 - first <= max_measures and ends[stop] - starts[first] <= max_seconds:
            stop += 1
        if ends[stop - 1] - starts[first] <= max_seconds and ends[stop - 1] > starts[first]:
            windows.append((first, stop, starts[first], ends[stop - 1]))
        first = stop
    return windows


def score_measure_index(measure: float, has_pickup: bool) -> int:
    """Position in the unfolded score of BPSD measure ``measure``: BPSD numbers an upbeat 0 and
    the first full measure 1 (``04_xml_to_csv``: "subtract 1 measure (Auftakt)")."""
    return int(round(measure)) - (0 if has_pickup else 1)


def load_bpsd(
    root: str | os.PathLike[str],
    *,
    test_pieces: Sequence[str] = (),
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load BPSD as a ``DatasetDict``: one row per (piece, performer) recording.

    Columns: ``id`` (``Beethoven_<piece>_<performer>``), ``piece`` (``Beethoven_<piece>``),
    ``performer``, ``musicxml`` (unfolded score), ``audio`` (WAV path, not decoded), ``notes``
    (aligned note table), ``measures`` (aligned measure positions, may be empty) and ``midi``
    (bytes built from ``notes``). Splits: ``train``, and ``test`` for the pieces in
    ``test_pieces`` (``Op002No3-01`` or ``Beethoven_Op002No3-01``).
    """
    path = descend_to(require_root(root, CORPUS, LAYOUT), "*", lambda p: (p / AUDIO_DIR).is_dir())
    audio_dir = require_dir(path / AUDIO_DIR, CORPUS, "recordings folder")
    require_dir(path / NOTE_DIR, CORPUS, "aligned note annotations folder")
    require_dir(path / SCORE_DIR, CORPUS, "unfolded MusicXML scores folder")
    wanted = {p if p.startswith("Beethoven_") else f"Beethoven_{p}" for p in test_pieces}
    splits: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
    for wav in sorted(audio_dir.glob("*.wav")):
        piece, _, performer = wav.stem.rpartition("_")
        if not piece:
            continue
        item = {
            "id": wav.stem,
            "piece": piece,
            "performer": performer,
            "audio": str(wav),
            "notes": str(path / NOTE_DIR / f"{wav.stem}.csv"),
            "measures": str(path / MEASURE_DIR / f"{wav.stem}.csv"),
            "score": str(path / SCORE_DIR / f"{piece}.xml"),
        }
        splits["test" if piece in wanted else "train"].append(item)
    all_items = [item for items in splits.values() for item in items]
    if not all_items:
        raise UserError(f"{CORPUS}: no recordings found: expected files like {str(audio_dir / 'Beethoven_<piece>_<performer>.wav')!r}")
    unknown = wanted - {item["piece"] for item in all_items}
    if unknown:
        raise UserError(f"{CORPUS}: test_pieces names pieces with no recording in {str(audio_dir)!r}: {sorted(unknown)}")
    raise_if_missing(
        (Path(item[key]) for item in all_items for key in ("notes", "score")),
        CORPUS,
        "note annotations or scores of recordings in 1_Audio are",
    )
    return build_dataset_dict(
        corpus=CORPUS,
        splits=splits,
        generate=_generate,
        features=FEATURES,
        files_of=lambda item: [Path(item[k]) for k in ("audio", "notes", "measures", "score")],
        streaming=streaming,
        cache_dir=cache_dir,
        options=",".join(sorted(wanted)),
    )
