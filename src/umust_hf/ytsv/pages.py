"""Score pages with known system and staff boxes: the detectors' training material.

The paper's hand-labelled boxes are not public, so the detectors learn from engraved pages
whose boxes are known exactly. Any iterable of :class:`LabelledPage` can feed
:func:`umust_hf.ytsv.detectors.write_yolo_dataset`; :func:`render_music21_pages` is a
self-contained source (Verovio engraving of music21 corpus files),
:func:`load_embedded_corpus_pages` reads the page Dataset of a built embedded corpus
(``umust build-corpus``), and :func:`load_page_directory` reads ``PNG + JSON`` pairs
written by :func:`save_page_directory`. :func:`load_pages` picks the right reader.
"""

from __future__ import annotations

import json
import os
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.embedded import load_embedded_pages
from ..data.embedded.rendering import rasterize_svg
from ..errors import UserError
from ..io_utils import atomic_write_json

_SVG_NS = "{http://www.w3.org/2000/svg}"
_LINE_RE = re.compile(r"M\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)\s*L\s*(-?\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?)")
#: Verovio page geometry (in tenths of a pixel at scale 100): A4-like portrait pages.
_PAGE_WIDTH = 2100
_PAGE_HEIGHT = 2970
_MARGIN = 50


@dataclass
class LabelledPage:
    """One page image and its boxes.

    ``image``: ``(H, W)`` uint8 grayscale, white background. ``system_boxes``: ``(S, 4)``
    float pixel ``x0, y0, x1, y1`` from top to bottom. ``staff_boxes``: ``(T, 4)`` float
    pixel boxes from the top to the bottom staff line of every staff.
    """

    image: np.ndarray
    system_boxes: np.ndarray
    staff_boxes: np.ndarray
    source: str = ""


def system_band(page: LabelledPage, first: int, count: int, *, margin: int = 10) -> LabelledPage:
    """Systems ``first .. first + count - 1`` of ``page`` cut out as their own page, boxes shifted.

    Staves whose centre falls outside the band are dropped.
    """
    systems = page.system_boxes
    top = max(0, int(systems[first, 1]) - margin)
    bottom = min(page.image.shape[0], int(np.ceil(systems[first + count - 1, 3])) + margin)
    shift = np.asarray([0, top, 0, top], dtype=np.float32)
    staff_centre = (page.staff_boxes[:, 1] + page.staff_boxes[:, 3]) / 2
    staves = page.staff_boxes[(staff_centre > top) & (staff_centre < bottom)]
    return LabelledPage(
        image=page.image[top:bottom],
        system_boxes=(systems[first : first + count] - shift).astype(np.float32),
        staff_boxes=(staves - shift).astype(np.float32),
        source=f"{page.source}#systems{first}-{first + count - 1}",
    )


def _class_of(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def _strip_text(root: ET.Element) -> None:
    """Drop ``<text>`` elements: the rasteriser skips system fonts, so text would render as nothing or boxes."""
    for parent in root.iter():
        for child in list(parent):
            if child.tag == f"{_SVG_NS}text":
                parent.remove(child)


def _staff_lines(staff: ET.Element) -> list[tuple[float, float, float]]:
    """Horizontal staff lines drawn directly inside a ``g.staff`` as ``(x0, x1, y)``."""
    lines = []
    for path in staff.findall(f"{_SVG_NS}path"):
        match = _LINE_RE.match(path.get("d", ""))
        if match is None:
            continue
        x0, y0, x1, y1 = (float(v) for v in match.groups())
        if abs(y0 - y1) < 1e-6 and x1 > x0:
            lines.append((x0, x1, y0))
    return lines


def _boxes_from_svg(root: ET.Element) -> list[list[list[float]]]:
    """Staff boxes (SVG units) grouped by system: ``[[x0, y0, x1, y1] per staff] per system``.

    Verovio draws staff lines per measure; the i-th ``g.staff`` of every measure of a
    system is the same staff, so their lines are merged by index.
    """
    systems: list[list[list[float]]] = []
    for system in root.iter(f"{_SVG_NS}g"):
        if "system" not in _class_of(system):
            continue
        per_index: dict[int, list[float]] = {}
        for measure in system.iter(f"{_SVG_NS}g"):
            if "measure" not in _class_of(measure):
                continue
            staves = [c for c in measure if c.tag == f"{_SVG_NS}g" and "staff" in _class_of(c)]
            for index, staff in enumerate(staves):
                lines = _staff_lines(staff)
                if len(lines) < 2:
                    continue
                box = [min(l[0] for l in lines), min(l[2] for l in lines), max(l[1] for l in lines), max(l[2] for l in lines)]
                old = per_index.get(index)
                per_index[index] = box if old is None else [min(old[0], box[0]), min(old[1], box[1]), max(old[2], box[2]), max(old[3], box[3])]
        if per_index:
            systems.append([per_index[i] for i in sorted(per_index)])
    return systems


def _system_boxes_from_ink(image: np.ndarray, staff_groups: list[np.ndarray]) -> np.ndarray:
    """System boxes: staff extent horizontally, ink extent vertically within the system's band.

    The band of a system runs halfway to the neighbouring systems' outer staff lines, so
    ledger lines, stems and slurs are included but the neighbours are not.
    """
    height = image.shape[0]
    ink = image < 128
    tops = [g[:, 1].min() for g in staff_groups]
    bottoms = [g[:, 3].max() for g in staff_groups]
    boxes = []
    for i, group in enumerate(staff_groups):
        x0, x1 = group[:, 0].min(), group[:, 2].max()
        band_top = 0.0 if i == 0 else (bottoms[i - 1] + tops[i]) / 2
        band_bottom = float(height) if i == len(staff_groups) - 1 else (bottoms[i] + tops[i + 1]) / 2
        lo, hi = int(band_top), int(np.ceil(band_bottom))
        rows = np.flatnonzero(ink[lo:hi, int(x0) : int(np.ceil(x1)) + 1].any(axis=1))
        y0 = min(tops[i], lo + rows[0]) if rows.size else tops[i]
        y1 = max(bottoms[i], lo + rows[-1] + 1) if rows.size else bottoms[i]
        boxes.append([x0, y0, x1, y1])
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def _rasterise(svg: str, width_px: int) -> np.ndarray:
    """SVG -> ``(H, W)`` uint8 grayscale on white (the embedded corpus's rasteriser)."""
    return rasterize_svg(svg, width=width_px)


def render_score_pages(
    path: str | os.PathLike[str], *, scale: int = 40, width_px: int | None = None, max_pages: int | None = None
) -> list[LabelledPage]:
    """Engrave a score file (MusicXML, kern, ABC, MEI...) with Verovio into labelled pages.

    ``scale`` is Verovio's zoom (percent); the staff height in pixels is about
    ``0.72 * scale`` at the default width. Titles and text are left out.
    """
    import verovio  # heavy: verovio

    toolkit = verovio.toolkit()
    toolkit.setOptions(
        {
            "pageWidth": _PAGE_WIDTH,
            "pageHeight": _PAGE_HEIGHT,
            "pageMarginLeft": _MARGIN,
            "pageMarginRight": _MARGIN,
            "pageMarginTop": _MARGIN,
            "pageMarginBottom": _MARGIN,
            "scale": scale,
            "header": "none",
            "footer": "none",
            "breaks": "auto",
            "adjustPageHeight": True,
        }
    )
    if not toolkit.loadFile(str(path)):
        raise UserError(f"{path}: Verovio could not read this score")
    pages = []
    count = toolkit.getPageCount()
    for number in range(1, count + 1 if max_pages is None else min(count, max_pages) + 1):
        root = ET.fromstring(toolkit.renderToSVG(number))
        _strip_text(root)
        inner = next(e for e in root.iter(f"{_SVG_NS}svg") if "definition-scale" in _class_of(e))
        view_width = float(inner.get("viewBox", "0 0 1 1").split()[2])
        margin = next(e for e in inner.iter(f"{_SVG_NS}g") if "page-margin" in _class_of(e))
        tx, ty = (float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", margin.get("transform", "translate(0,0)"))[:2])
        out_width = width_px or int(float(root.get("width", "0px").rstrip("px")))
        image = _rasterise(ET.tostring(root, encoding="unicode"), out_width)
        factor = image.shape[1] / view_width
        groups = _boxes_from_svg(root)
        staff_groups = [(np.asarray(g, dtype=np.float32) + [tx, ty, tx, ty]) * factor for g in groups]
        if not staff_groups:
            continue
        pages.append(
            LabelledPage(
                image=image,
                system_boxes=_system_boxes_from_ink(image, staff_groups),
                staff_boxes=np.concatenate(staff_groups).astype(np.float32),
                source=f"{Path(path).name}#page{number}",
            )
        )
    return pages


def music21_score_paths(limit: int, *, seed: int = 0, suffixes: Sequence[str] = (".mxl", ".xml", ".krn")) -> list[Path]:
    """``limit`` score files from music21's bundled corpus, a deterministic shuffle."""
    import music21  # heavy: music21

    root = Path(music21.__file__).parent / "corpus"
    paths = sorted(p for p in root.rglob("*") if p.suffix in suffixes)
    random.Random(seed).shuffle(paths)
    return paths[:limit]


def render_music21_pages(
    num_scores: int, *, seed: int = 0, scales: Sequence[int] = (30, 40, 50), max_pages_per_score: int = 2
) -> Iterator[LabelledPage]:
    """Labelled pages engraved from ``num_scores`` music21 corpus files at varied staff sizes.

    Files Verovio cannot engrave are skipped.
    """
    rng = random.Random(seed)
    for path in music21_score_paths(num_scores, seed=seed):
        try:
            yield from render_score_pages(path, scale=rng.choice(list(scales)), max_pages=max_pages_per_score)
        except (UserError, StopIteration, ValueError):
            continue


def save_page_directory(pages: Sequence[LabelledPage] | Iterator[LabelledPage], directory: str | os.PathLike[str]) -> int:
    """Write pages as ``NAME.png`` + ``NAME.json`` (``system_boxes``, ``staff_boxes``, ``source``)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, page in enumerate(pages):
        stem = f"page{index:05d}"
        Image.fromarray(page.image).save(out / f"{stem}.png")
        meta = {"system_boxes": page.system_boxes.tolist(), "staff_boxes": page.staff_boxes.tolist(), "source": page.source}
        atomic_write_json(out / f"{stem}.json", meta, indent=None)
        count += 1
    return count


def load_page_directory(directory: str | os.PathLike[str]) -> Iterator[LabelledPage]:
    """Read ``NAME.png`` + ``NAME.json`` pairs (see :func:`save_page_directory`), sorted by name."""
    root = Path(directory)
    if not root.is_dir():
        raise UserError(f"{root}: corpus page directory does not exist")
    metas = sorted(root.rglob("*.json"))
    if not metas:
        raise UserError(f"{root}: no page JSON files (NAME.json with system_boxes/staff_boxes beside NAME.png)")
    for meta_path in metas:
        image_path = meta_path.with_suffix(".png")
        if not image_path.exists():
            continue
        try:
            meta = json.loads(meta_path.read_text())
            systems = np.asarray(meta["system_boxes"], dtype=np.float32).reshape(-1, 4)
            staves = np.asarray(meta["staff_boxes"], dtype=np.float32).reshape(-1, 4)
        except (KeyError, ValueError, json.JSONDecodeError) as error:
            raise UserError(f"{meta_path}: not a page box file ({error})") from error
        image = np.asarray(Image.open(image_path).convert("L"))
        yield LabelledPage(image=image, system_boxes=systems, staff_boxes=staves, source=str(meta.get("source", image_path.name)))


def load_embedded_corpus_pages(directory: str | os.PathLike[str]) -> Iterator[LabelledPage]:
    """Pages of a built embedded corpus (``DIR/pages``: image, system_boxes, staff_boxes per page)."""
    for row in load_embedded_pages(directory):
        yield LabelledPage(
            image=np.asarray(row["image"].convert("L")),
            system_boxes=np.asarray(row["system_boxes"], dtype=np.float32).reshape(-1, 4),
            staff_boxes=np.asarray(row["staff_boxes"], dtype=np.float32).reshape(-1, 4),
            source=f"{row['piece_id']}#page{row['page_index']}",
        )


def load_pages(directory: str | os.PathLike[str]) -> Iterator[LabelledPage]:
    """Labelled pages from a built embedded corpus folder or a ``PNG + JSON`` page folder."""
    root = Path(directory)
    if (root / "pages" / "dataset_info.json").is_file():
        return load_embedded_corpus_pages(root)
    return load_page_directory(root)
