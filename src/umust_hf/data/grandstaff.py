"""GrandStaff (Ríos-Vila et al., IJDAR 2023): piano grand-staff systems, kern + rendered images.

Two published layouts are read (which one is detected from the split files present):

1. **GrandStaff-LMX** (the variant the U-MUST paper trains on: image + MusicXML/LMX), made by
   ``ufal/olimpic-icdar24`` (``app/datasets/grandstaff/build.py`` writes ``<base>.lmx`` and
   ``<base>.musicxml`` beside every ``<base>.krn``; ``__main__.py`` ``tar-dataset`` packs the
   composer folders with ``samples.{train,dev,test}.txt``), extracted over ``grandstaff.tgz``::

       <root>/samples.train.txt | samples.dev.txt | samples.test.txt   (lines: <base>, e.g.
                                          beethoven/piano-sonatas/sonata01-1/original_m-0-5)
       <root>/<composer>/<collection>/<piece>/<sample>.krn             **kern, two spines
       <root>/<composer>/<collection>/<piece>/<sample>.jpg             Verovio rendering
       <root>/<composer>/<collection>/<piece>/<sample>_distorted.jpg   camera-like distortion
       <root>/<composer>/<collection>/<piece>/<sample>.lmx / .musicxml (GrandStaff-LMX only)

2. **Sheet Music Transformer release** (``antoniorv6/SMT``: ``Data/GrandStaff/`` holding
   ``grandstaff_dataset/`` and ``partitions_grandstaff/<partition>/{train,val,test}.txt``, the
   lines being paths such as ``grandstaff_dataset/<composer>/.../<sample>.ekrn`` relative to
   the root; its partition script writes ``types/`` (test = original excerpts), ``authors/<a>/``
   and ``excerpts/fold_<k>/``). MusicXML/LMX are present only if GrandStaff-LMX was unpacked
   over it; otherwise those columns are ``None`` and only kern is available.

Uncertain: the exact line format of GrandStaff-LMX's ``samples.*.txt`` (with or without an
extension, with or without a leading ``grandstaff/``) — both are accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets

from ..errors import UserError
from ._layout import (
    build_dataset_dict,
    check_image,
    check_xml,
    raise_if_missing,
    read_list_file,
    read_text,
    require_root,
    skip_corrupt,
    split_name,
)

CORPUS = "GrandStaff"
LAYOUT = (
    "<root>/samples.{train,dev,test}.txt (GrandStaff-LMX) or "
    "<root>/partitions_grandstaff/types/{train,val,test}.txt (SMT release), with "
    "<composer>/<collection>/<piece>/<sample>.{krn,jpg} (+ _distorted.jpg, .lmx, .musicxml)"
)
KERN_EXTENSIONS = (".krn", ".ekrn", ".bekrn")
_STRIP_EXTENSIONS = (*KERN_EXTENSIONS, ".jpg", ".lmx", ".musicxml")

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "composer": datasets.Value("string"),
        "image": datasets.Image(),
        "image_distorted": datasets.Image(),
        "kern": datasets.Value("string"),
        "musicxml": datasets.Value("string"),
        "lmx": datasets.Value("string"),
    }
)


def _item(root: Path, line: str) -> dict[str, str]:
    """Paths of one sample from a split-file line (with or without an extension)."""
    rel = line
    kern_name = ""
    for ext in _STRIP_EXTENSIONS:
        if rel.endswith(ext):
            rel = rel[: -len(ext)]
            if ext in KERN_EXTENSIONS:
                kern_name = line
            break
    first, _, rest = rel.partition("/")
    if first == "grandstaff" and rest and not (root / first).is_dir():
        rel, kern_name = rest, kern_name.partition("/")[2]  # lines written relative to the parent folder
    base = root / rel
    # standard **kern when present; else the file the line names (.ekrn/.bekrn of the SMT release)
    kern = Path(f"{base}.krn")
    if kern_name and not kern.exists():
        kern = root / kern_name
    parts = [p for p in Path(rel).parts if p not in ("grandstaff", "grandstaff_dataset")]
    return {"base": str(base), "kern": str(kern), "id": "/".join(parts), "composer": parts[0] if parts else ""}


def _optional_text(path: Path) -> str | None:
    return read_text(path) if path.is_file() else None


def _generate(items: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    for item in items:
        base, kern_path = item["base"], Path(item["kern"])
        image, distorted = Path(f"{base}.jpg"), Path(f"{base}_distorted.jpg")
        try:
            kern = read_text(kern_path)
        except (OSError, UnicodeDecodeError) as error:
            skip_corrupt(kern_path, error)
            continue
        if not kern.lstrip().startswith("**"):
            skip_corrupt(kern_path, "not a Humdrum **kern file (no exclusive interpretation on the first line)")
            continue
        reason = check_image(image)
        if reason:
            skip_corrupt(image, reason)
            continue
        if distorted.is_file() and (reason := check_image(distorted)):
            skip_corrupt(distorted, reason)
            distorted = None
        try:
            musicxml = _optional_text(Path(f"{base}.musicxml"))
            lmx = _optional_text(Path(f"{base}.lmx"))
        except (OSError, UnicodeDecodeError) as error:
            skip_corrupt(f"{base}.{{lmx,musicxml}}", error)
            continue
        if musicxml is not None and (reason := check_xml(musicxml)):
            skip_corrupt(f"{base}.musicxml", reason)
            continue
        yield {
            "id": item["id"],
            "composer": item["composer"],
            "image": {"path": str(image), "bytes": None},
            "image_distorted": {"path": str(distorted), "bytes": None} if distorted and distorted.is_file() else None,
            "kern": kern,
            "musicxml": musicxml,
            "lmx": lmx.strip() if lmx is not None else None,
        }


def _split_files(root: Path, partition: str) -> dict[str, Path]:
    """The split lists of whichever published layout ``root`` holds."""
    lmx_files = {raw: root / f"samples.{raw}.txt" for raw in ("train", "dev", "test")}
    if any(p.is_file() for p in lmx_files.values()):
        return {raw: p for raw, p in lmx_files.items() if p.is_file()}
    folder = root / "partitions_grandstaff" / partition
    smt_files = {raw: folder / f"{raw}.txt" for raw in ("train", "val", "test")}
    if any(p.is_file() for p in smt_files.values()):
        return {raw: p for raw, p in smt_files.items() if p.is_file()}
    expected = ", ".join(repr(str(p)) for p in [*lmx_files.values(), *smt_files.values()])
    raise UserError(f"{CORPUS}: no split file found: expected some of {expected} (layout: {LAYOUT})")


def load_grandstaff(
    root: str | os.PathLike[str],
    *,
    partition: str = "types",
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load GrandStaff (or GrandStaff-LMX) as a ``DatasetDict`` of train/validation/test.

    Columns: ``id`` (sample path without extension), ``composer``, ``image`` (``.jpg``),
    ``image_distorted`` (``_distorted.jpg`` or ``None``), ``kern``, ``musicxml`` and ``lmx``
    (``None`` without the GrandStaff-LMX annotations). ``partition`` picks the SMT release's
    partition folder (``types``, ``excerpts/fold_0``, ``authors/chopin``...); it is ignored
    for GrandStaff-LMX, whose ``samples.*.txt`` are the split.
    """
    path = require_root(root, CORPUS, LAYOUT)
    splits: dict[str, list[dict[str, str]]] = {}
    for raw, split_file in _split_files(path, partition).items():
        items = [_item(path, line) for line in read_list_file(split_file)]
        raise_if_missing(
            (p for item in items for p in (Path(item["kern"]), Path(f"{item['base']}.jpg"))),
            CORPUS,
            f"sample files (.krn/.jpg) listed in {split_file.name} are",
        )
        splits[split_name(raw, CORPUS)] = items

    def files_of(item: dict[str, str]) -> list[Path]:
        base = item["base"]
        return [Path(item["kern"]), *(Path(f"{base}{s}") for s in (".jpg", "_distorted.jpg", ".musicxml", ".lmx"))]

    return build_dataset_dict(
        corpus=CORPUS,
        splits=splits,
        generate=_generate,
        features=FEATURES,
        files_of=files_of,
        streaming=streaming,
        cache_dir=cache_dir,
        options=partition,
    )
