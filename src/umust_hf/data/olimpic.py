"""OLiMPiC (Mayer et al., ICDAR 2024): pianoform system images with LMX and MusicXML.

Layout (read from ``ufal/olimpic-icdar24``: ``app/datasets/build_dataset_index.py``,
``check_sample_pairing.py``, ``synthetic/finalize.py``, ``scanned/finalize.py``; the
archives ``olimpic-1.0-{synthetic,scanned}.*.tar.gz`` on that repository's *datasets*
release page)::

    olimpic-1.0-synthetic/              (or olimpic-1.0-scanned/)
      samples.train.txt                 one sample base per line: samples/<score_id>/<sample>
      samples.dev.txt                   (the scanned set has only dev and test)
      samples.test.txt
      samples/<score_id>/<sample>.png        one system (grand staff) image
      samples/<score_id>/<sample>.lmx        Linearized MusicXML, one line
      samples/<score_id>/<sample>.musicxml   the same system as a MusicXML score
      vocabulary.txt, statistics.*.yaml      (not read)

Paper Table 1 uses image + MXL (LMX). Split names become ``train``/``validation``/``test``.
The sample file names inside ``samples/<score_id>/`` are not fixed by the loader (any base
listed in a split file is read), so the exact naming of the release does not matter.
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

CORPUS = "OLiMPiC"
LAYOUT = "<root>/samples.{train,dev,test}.txt and <root>/samples/<score_id>/<sample>.{png,lmx,musicxml}"
SPLIT_FILES = ("train", "dev", "test")
EXTENSIONS = (".png", ".lmx", ".musicxml")

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "score_id": datasets.Value("string"),
        "variant": datasets.Value("string"),
        "image": datasets.Image(),
        "lmx": datasets.Value("string"),
        "musicxml": datasets.Value("string"),
    }
)


def _variant(root: Path) -> str:
    """``synthetic`` or ``scanned`` from the release folder's name (``unknown`` otherwise)."""
    name = root.name.lower()
    for variant in ("scanned", "synthetic"):
        if variant in name:
            return variant
    return "unknown"


def _generate(items: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    for item in items:
        base = Path(item["base"])
        png, lmx_path, xml_path = (Path(f"{base}{ext}") for ext in EXTENSIONS)
        reason = check_image(png)
        if reason:
            skip_corrupt(png, reason)
            continue
        try:
            lmx = read_text(lmx_path).strip()
            musicxml = read_text(xml_path)
        except (OSError, UnicodeDecodeError) as error:
            skip_corrupt(f"{base}.{{lmx,musicxml}}", error)
            continue
        if not lmx:
            skip_corrupt(lmx_path, "empty LMX")
            continue
        reason = check_xml(musicxml)
        if reason:
            skip_corrupt(xml_path, reason)
            continue
        yield {
            "id": item["id"],
            "score_id": item["score_id"],
            "variant": item["variant"],
            "image": {"path": str(png), "bytes": None},
            "lmx": lmx,
            "musicxml": musicxml,
        }


def load_olimpic(
    root: str | os.PathLike[str],
    *,
    streaming: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load one OLiMPiC release folder (synthetic or scanned) as a ``DatasetDict``.

    Columns: ``id`` (``<score_id>/<sample>``), ``score_id``, ``variant`` (``synthetic`` /
    ``scanned``, from the folder name), ``image`` (PNG system), ``lmx``, ``musicxml``.
    Splits: those whose ``samples.<split>.txt`` exists (``dev`` -> ``validation``).
    """
    path = require_root(root, CORPUS, LAYOUT)
    variant = _variant(path)
    splits: dict[str, list[dict[str, str]]] = {}
    for raw in SPLIT_FILES:
        split_file = path / f"samples.{raw}.txt"
        if not split_file.is_file():
            continue
        items = []
        for line in read_list_file(split_file):
            rel = line[: -len(ext)] if (ext := next((e for e in EXTENSIONS if line.endswith(e)), "")) else line
            base = path / rel
            parts = Path(rel).parts
            sample_id = "/".join(parts[1:]) if parts and parts[0] == "samples" else rel
            score_id = parts[-2] if len(parts) >= 2 else ""
            items.append({"base": str(base), "id": sample_id, "score_id": score_id, "variant": variant})
        raise_if_missing(
            (Path(f"{item['base']}{ext}") for item in items for ext in EXTENSIONS),
            CORPUS,
            f"sample files listed in {split_file.name} are",
        )
        splits[split_name(raw, CORPUS)] = items
    if not splits:
        expected = ", ".join(repr(str(path / f"samples.{raw}.txt")) for raw in SPLIT_FILES)
        releases = sorted(p.name for p in path.iterdir() if p.is_dir() and (p / "samples").is_dir())
        hint = f"; pass one release folder instead: {', '.join(repr(str(path / r)) for r in releases)}" if releases else ""
        raise UserError(f"{CORPUS}: no split file found: expected at least one of {expected} (layout: {LAYOUT}){hint}")
    logging.getLogger(__name__).info("%s %s: %s", CORPUS, variant, {k: len(v) for k, v in splits.items()})
    return build_dataset_dict(
        corpus=CORPUS,
        splits=splits,
        generate=_generate,
        features=FEATURES,
        files_of=lambda item: [Path(f"{item['base']}{ext}") for ext in EXTENSIONS],
        streaming=streaming,
        cache_dir=cache_dir,
    )
