"""Checks and helpers shared by the public-corpus loaders (GrandStaff, OLiMPiC, MusicNet,
MAESTRO, Slakh2100, BPSD).

Every loader follows the same contract, kept here so it is written once:

* a missing root, a missing metadata/split file, or a file that a split list or a metadata
  table names but that is absent, is a :class:`~umust_hf.errors.UserError` naming the
  expected path (the corpus is *incomplete*: silently training on part of it would be wrong);
* a file that exists but cannot be read (truncated WAV/FLAC, broken MIDI, unreadable image,
  malformed XML/kern/YAML/CSV) is *corrupt*: it is skipped and a warning names it;
* rows are produced by a generator; :func:`build_dataset_dict` turns per-split item lists
  into a ``DatasetDict`` (Arrow cache keyed by the files' sizes and mtimes, so an edited
  corpus is never served stale) or, with ``streaming=True``, an ``IterableDatasetDict``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets
import mido
from PIL import Image

from ..errors import UserError

logger = logging.getLogger("umust_hf.data")

#: Bump when a loader's row contents change, so cached Arrow files are rebuilt.
_LAYOUT_VERSION = "1"

#: How many missing paths an error message lists before summarising the rest.
_MAX_LISTED = 5

#: Split names as the corpora spell them -> Hugging Face's conventional names.
SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "dev": "validation",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
    "omitted": "omitted",
}

# --------------------------------------------------------------------------- paths


def require_root(root: str | os.PathLike[str], corpus: str, layout_hint: str) -> Path:
    """The corpus root as a resolved path; a clear error if it is not a directory."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise UserError(
            f"{corpus} root {str(path)!r} is not a directory; expected the extracted corpus "
            f"with this layout: {layout_hint}"
        )
    return path.resolve()


def descend_to(root: Path, pattern: str, has_layout: Callable[[Path], bool]) -> Path:
    """``root`` if it holds the corpus layout, else the one subfolder matching ``pattern`` that
    does (users often pass the folder they extracted the archive into)."""
    if has_layout(root):
        return root
    found = [p for p in sorted(root.glob(pattern)) if p.is_dir() and has_layout(p)]
    return found[0] if len(found) == 1 else root


def require_dir(path: Path, corpus: str, what: str) -> Path:
    """``path`` itself; a clear error naming it if it is not a directory."""
    if not path.is_dir():
        raise UserError(f"{corpus}: missing {what}: expected the directory {str(path)!r}")
    return path


def raise_if_missing(paths: Iterable[Path], corpus: str, what: str) -> None:
    """Raise one error listing the first few of ``paths`` that do not exist (the corpus is incomplete)."""
    missing = [p for p in paths if not p.exists()]
    if not missing:
        return
    listed = ", ".join(repr(str(p)) for p in missing[:_MAX_LISTED])
    more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
    raise UserError(f"{corpus} is incomplete: {len(missing)} {what} missing: {listed}{more}")


def read_list_file(path: Path) -> list[str]:
    """Non-empty, stripped lines of a split list (``samples.train.txt``, ``train.txt``)."""
    with open(path, encoding="utf-8") as file:
        return [line.strip() for line in file if line.strip()]


def split_name(name: str, corpus: str) -> str:
    """The Hugging Face split name for a corpus's own split name (``dev`` -> ``validation``)."""
    try:
        return SPLIT_ALIASES[name.strip().lower()]
    except KeyError:
        raise UserError(
            f"{corpus}: unknown split {name!r}; expected one of {sorted(set(SPLIT_ALIASES))}"
        ) from None


# --------------------------------------------------------------------------- corrupt files


def skip_corrupt(path: Path | str, reason: object) -> None:
    """Log that a corrupt file is skipped (one warning naming the file and the cause)."""
    logger.warning("skipping corrupt file %s: %s", path, reason)


def check_audio(path: Path) -> str | None:
    """``None`` if ``path`` is a readable, non-empty audio file (WAV/FLAC), else the reason.

    Reads the header and the last block, so a truncated file is caught without decoding
    the whole recording.
    """
    import soundfile as sf  # heavy: soundfile

    try:
        info = sf.info(str(path))
        if info.frames <= 0:
            return "no audio frames"
        with sf.SoundFile(str(path)) as handle:
            handle.seek(max(0, info.frames - 64))
            tail = handle.read(64)
        if len(tail) == 0:
            return "truncated audio"
    except Exception as error:  # soundfile raises RuntimeError/LibsndfileError/ValueError
        return f"unreadable audio ({error})"
    return None


def check_midi_bytes(data: bytes) -> str | None:
    """``None`` if ``data`` parses as a Standard MIDI File with at least one note, else the reason."""
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as error:  # mido raises OSError/EOFError/ValueError/KeyError on bad files
        return f"unreadable MIDI ({error})"
    if not any(msg.type == "note_on" for track in midi.tracks for msg in track):
        return "MIDI file has no notes"
    return None


def check_image(path: Path) -> str | None:
    """``None`` if ``path`` is a decodable image, else the reason."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as error:  # PIL raises OSError/SyntaxError/ValueError on bad files
        return f"unreadable image ({error})"
    return None


def check_xml(text: str) -> str | None:
    """``None`` if ``text`` is well-formed XML, else the reason."""
    try:
        ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as error:
        return f"malformed XML ({error})"
    return None


def read_text(path: Path) -> str:
    """A UTF-8 text file (raises ``UnicodeDecodeError``/``OSError`` for the caller to report)."""
    return path.read_text(encoding="utf-8")


def read_csv_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a CSV file with a header, keys stripped and lower-cased; ``ValueError`` if empty."""
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file, delimiter=delimiter)
        if not reader.fieldnames:
            raise ValueError("no header row")
        rows = []
        for row in reader:
            if None in row:  # csv puts the surplus fields of a row under the key None
                raise ValueError(f"line {reader.line_num} has more fields than the header")
            rows.append({k.strip().lower(): (v or "").strip() for k, v in row.items()})
    return rows


# --------------------------------------------------------------------------- MIDI from notes


def notes_to_midi_bytes(notes: Sequence[Mapping[str, Any]], velocity: int = 80) -> bytes:
    """A Standard MIDI File (bytes) holding ``notes`` (``onset``/``offset`` in s, ``pitch``,
    ``program`` 0-127, or -1 for drums), one instrument track per program.

    Used for the corpora whose MIDI is an aligned note table (paper Table 1, MIDI "△":
    MusicNet labels, BPSD note annotations), so every loader hands the processor MIDI.
    ``ValueError`` for a pitch outside 0-127 or a negative or non-finite time.
    """
    import pretty_midi  # heavy: pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    instruments: dict[int, pretty_midi.Instrument] = {}
    for note in notes:
        program = int(note["program"])
        instrument = instruments.get(program)
        if instrument is None:
            instrument = pretty_midi.Instrument(program=max(program, 0), is_drum=program < 0)
            instruments[program] = instrument
        onset, offset, pitch = float(note["onset"]), float(note["offset"]), int(note["pitch"])
        if not 0 <= pitch <= 127:
            raise ValueError(f"MIDI pitch {pitch} outside 0-127")
        if not (math.isfinite(onset) and math.isfinite(offset)) or onset < 0:
            raise ValueError(f"bad note time {onset}-{offset} s")
        if offset <= onset:
            offset = onset + 0.01
        instrument.notes.append(
            pretty_midi.Note(velocity=velocity, pitch=pitch, start=onset, end=offset)
        )
    midi.instruments.extend(instruments[p] for p in sorted(instruments))
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


# --------------------------------------------------------------------------- datasets


def audio_feature() -> datasets.Audio:
    """Audio stored as a path, not decoded (decoding needs torchcodec; the processor loads it)."""
    return datasets.Audio(decode=False)


#: Arrow storage of an ``Audio`` feature: what a row holds before the column is cast.
AUDIO_STORAGE = {"bytes": datasets.Value("binary"), "path": datasets.Value("string")}


def _storage_features(features: datasets.Features) -> tuple[datasets.Features, list[str]]:
    """``features`` with top-level ``Audio`` columns as their plain storage struct, and those columns.

    ``datasets`` 5 needs torchcodec to *encode* any ``Audio`` value (even a path), so rows are
    written with the storage struct and the column is cast to ``Audio(decode=False)`` after
    (a metadata-only cast). Without torchcodec a streaming split keeps the struct.
    """
    columns = [name for name, feature in features.items() if isinstance(feature, datasets.Audio)]
    if not columns or datasets.config.TORCHCODEC_AVAILABLE:
        return features, []
    return datasets.Features({k: (AUDIO_STORAGE if k in columns else v) for k, v in features.items()}), columns


def files_fingerprint(corpus: str, split: str, paths: Iterable[Path], extra: str = "") -> str:
    """A cache key for a split: corpus, split, options, and every file's path, size and mtime."""
    digest = hashlib.sha256(f"{corpus}\0{split}\0{extra}".encode())
    for path in paths:
        try:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{path}\0missing\n".encode())
    return digest.hexdigest()[:32]


def build_dataset_dict(
    *,
    corpus: str,
    splits: Mapping[str, Sequence[Any]],
    generate: Callable[..., Iterator[dict[str, Any]]],
    features: datasets.Features,
    files_of: Callable[[Any], Iterable[Path]],
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    options: str = "",
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """One (Iterable)Dataset per split from ``generate(items=[...])``.

    ``files_of(item)`` lists the files an item reads; their sizes and mtimes key the Arrow
    cache so that a changed corpus is re-read. Splits with no items are left out.
    """
    storage, audio_columns = _storage_features(features)
    if streaming:
        return datasets.IterableDatasetDict(
            {
                name: datasets.IterableDataset.from_generator(
                    generate, features=storage, gen_kwargs={"items": list(items)}
                )
                for name, items in splits.items()
                if items
            }
        )
    out = {}
    for name, items in splits.items():
        if not items:
            continue
        fingerprint = files_fingerprint(
            corpus,
            name,
            (path for item in items for path in files_of(item)),
            f"{options}\0{features!r}\0{_LAYOUT_VERSION}",
        )
        try:
            dataset = datasets.Dataset.from_generator(
                generate,
                features=storage,
                gen_kwargs={"items": list(items)},
                cache_dir=str(cache_dir) if cache_dir is not None else None,
                fingerprint=fingerprint,
                split=datasets.NamedSplit(name),
            )
        except ValueError as error:  # every file of the split was corrupt: the builder wrote nothing
            if "corresponds to no data" not in str(error):
                raise
            logger.warning("%s: every sample of the %s split was skipped; the split is empty", corpus, name)
            dataset = datasets.Dataset.from_dict(
                {column: [] for column in storage}, features=storage, split=datasets.NamedSplit(name)
            )
        for column in audio_columns:
            dataset = dataset.cast_column(column, features[column])
        out[name] = dataset
    return datasets.DatasetDict(out)
