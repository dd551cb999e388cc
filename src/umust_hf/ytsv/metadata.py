"""The published YTSV metadata CSV (paper Appendix C.1, Table 8): reading and filtering.

Columns: YT Id, Title of Video, User, Duration, Composer Full Name, Title of Piece, Opus
Number, Instrumentation, Category, Piano Included, String Included, Wind Included, Voice
Included, Year, Staff Count. Each row becomes a :class:`VideoMetadata` with typed fields
(duration in seconds, booleans, optional year, staff counts as two integers). The
published file has a few quirks this reader accepts: durations under a minute written as
plain seconds (``"49"``), years written as floats (``"1920.0"``) and 40 empty staff counts.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import UserError

CSV_COLUMNS = (
    "YT Id",
    "Title of Video",
    "User",
    "Duration",
    "Composer Full Name",
    "Title of Piece",
    "Opus Number",
    "Instrumentation",
    "Category",
    "Piano Included",
    "String Included",
    "Wind Included",
    "Voice Included",
    "Year",
    "Staff Count",
)


@dataclass(frozen=True)
class VideoMetadata:
    """One video's metadata; field names are the dataset's column names."""

    video_id: str
    video_title: str
    user: str
    duration_s: float
    composer: str
    piece_title: str
    opus: str
    instrumentation: str
    category: str
    piano_included: bool
    string_included: bool
    wind_included: bool
    voice_included: bool
    year: int | None
    staff_count: str
    melody_staves: int | None
    piano_staves: int | None

    def as_columns(self) -> dict:
        return asdict(self)


def parse_duration(text: str) -> float:
    """``"MM:SS"``, ``"H:MM:SS"`` or plain ``"SS"`` (videos under a minute) -> seconds."""
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"duration {text!r} is not MM:SS, H:MM:SS or seconds")
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return float(seconds)


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes"):
        return True
    if value in ("false", "0", "no", ""):
        return False
    raise ValueError(f"{text!r} is not True/False")


def parse_staff_count(text: str) -> tuple[int | None, int | None]:
    """``"1-2"`` -> ``(1, 2)`` (melody staves, piano staves); empty or malformed -> ``(None, None)``."""
    parts = text.strip().split("-")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None, None


def parse_year(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(float(text))
    except ValueError:
        return None


def _row_to_metadata(row: dict[str, str]) -> VideoMetadata:
    melody, piano = parse_staff_count(row["Staff Count"] or "")
    return VideoMetadata(
        video_id=row["YT Id"].strip(),
        video_title=row["Title of Video"] or "",
        user=row["User"] or "",
        duration_s=parse_duration(row["Duration"] or ""),
        composer=row["Composer Full Name"] or "",
        piece_title=row["Title of Piece"] or "",
        opus=row["Opus Number"] or "",
        instrumentation=(row["Instrumentation"] or "").strip(),
        category=(row["Category"] or "").strip(),
        piano_included=parse_bool(row["Piano Included"] or ""),
        string_included=parse_bool(row["String Included"] or ""),
        wind_included=parse_bool(row["Wind Included"] or ""),
        voice_included=parse_bool(row["Voice Included"] or ""),
        year=parse_year(row["Year"] or ""),
        staff_count=(row["Staff Count"] or "").strip(),
        melody_staves=melody,
        piano_staves=piano,
    )


def read_metadata(path: str | os.PathLike[str]) -> dict[str, VideoMetadata]:
    """Read the metadata CSV into ``{video_id: VideoMetadata}``.

    Raises :class:`UserError` naming the file and line for a missing column or a bad value.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: metadata CSV not found")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: not a YTSV metadata CSV (missing columns: {', '.join(missing)})")
        records: dict[str, VideoMetadata] = {}
        for row in reader:
            try:
                record = _row_to_metadata(row)
            except (ValueError, AttributeError) as error:
                raise UserError(f"{path}, line {reader.line_num}: {error}") from error
            if not record.video_id:
                raise UserError(f"{path}, line {reader.line_num}: empty 'YT Id'")
            records[record.video_id] = record
    return records


def filter_metadata(
    records: Iterable[VideoMetadata],
    *,
    categories: Sequence[str] | None = None,
    instrumentations: Sequence[str] | None = None,
    piano_included: bool | None = None,
    string_included: bool | None = None,
    wind_included: bool | None = None,
    voice_included: bool | None = None,
    staff_counts: Sequence[str] | None = None,
    composers: Sequence[str] | None = None,
    max_duration_s: float | None = None,
) -> list[VideoMetadata]:
    """Keep the records matching every given criterion (case-insensitive for text fields)."""

    def lowered(values: Sequence[str] | None) -> set[str] | None:
        return None if values is None else {v.strip().lower() for v in values}

    wanted_categories, wanted_instr = lowered(categories), lowered(instrumentations)
    wanted_composers, wanted_staves = lowered(composers), lowered(staff_counts)
    flags = {"piano_included": piano_included, "string_included": string_included, "wind_included": wind_included, "voice_included": voice_included}
    kept = []
    for record in records:
        if wanted_categories is not None and record.category.lower() not in wanted_categories:
            continue
        if wanted_instr is not None and record.instrumentation.lower() not in wanted_instr:
            continue
        if wanted_composers is not None and record.composer.lower() not in wanted_composers:
            continue
        if wanted_staves is not None and record.staff_count.lower() not in wanted_staves:
            continue
        if any(value is not None and getattr(record, name) != value for name, value in flags.items()):
            continue
        if max_duration_s is not None and record.duration_s > max_duration_s:
            continue
        kept.append(record)
    return kept


def metadata_features() -> dict:
    """``datasets`` feature types of the metadata columns."""
    from datasets import Value  # heavy: datasets

    types = {
        "duration_s": Value("float32"),
        "piano_included": Value("bool"),
        "string_included": Value("bool"),
        "wind_included": Value("bool"),
        "voice_included": Value("bool"),
        "year": Value("int32"),
        "melody_staves": Value("int32"),
        "piano_staves": Value("int32"),
    }
    return {f.name: types.get(f.name, Value("string")) for f in fields(VideoMetadata)}
