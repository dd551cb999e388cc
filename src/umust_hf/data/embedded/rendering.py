"""Verovio SVG -> (resvg) grayscale PNG at a fixed staff height, system crops and page boxes.

Scale: verovio draws staff lines as ``<path d="M x y L x2 y">`` inside ``g.staff``; the
distance from top to bottom line, in SVG user units, fixes the raster scale so that it
becomes exactly :data:`~umust_hf.constants.STAFF_HEIGHT_PX` pixels. The SVG is shifted
by a fraction of a pixel so that staff lines fall on pixel centres (crisp lines).
"""

from __future__ import annotations

import functools
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ...constants import STAFF_HEIGHT_PX, SYSTEM_HEIGHT_PX
from .reduction import ScoreSkipped

SVG_NS = "{http://www.w3.org/2000/svg}"
#: Widest system image kept, in pixels.
MAX_SYSTEM_WIDTH_PX = 1600
#: Ink beyond the window that may be cut off (fermatas, extreme ledger lines), in pixels.
MAX_CLIPPED_PX = 16
#: White margin left and right of the ink in a system crop, in pixels.
SIDE_MARGIN_PX = 8
#: Pixel value below which a pixel counts as ink.
INK_THRESHOLD = 200
#: Verovio options shared by system and page renderings: no header, footer, titles or
#: measure numbers (text glyphs), slightly thicker staff lines than the default.
BASE_OPTIONS = {
    "header": "none",
    "footer": "none",
    "mnumInterval": 0,
    "staffLineWidth": 0.2,
    "svgViewBox": False,
    "pageMarginLeft": 50,
    "pageMarginRight": 50,
    "pageMarginTop": 50,
    "pageMarginBottom": 50,
    "scale": 100,
}
#: Measure-number groups (text, absent from LMX); verovio puts no nested ``<g>`` inside.
_MEASURE_NUMBER = re.compile(r'<g [^>]*class="mNum[^"]*"[^>]*>.*?</g>', re.S)
_PATH_LINE = re.compile(r"M\s*(-?[\d.]+)\s+(-?[\d.]+)\s*L\s*(-?[\d.]+)\s+(-?[\d.]+)")


@dataclass
class StaffLines:
    """Staff geometry in SVG user units (inside the page-margin group)."""

    system: int  # index of the system on the page
    staff: int  # index of the staff within the system (0 = top)
    x0: float
    x1: float
    top: float  # y of the top line
    bottom: float  # y of the bottom line


@functools.lru_cache(maxsize=1)
def _toolkit():
    import verovio  # heavy: verovio

    verovio.enableLog(verovio.LOG_OFF)
    return verovio.toolkit()


def _svg_pages(musicxml: bytes, options: dict) -> list[str]:
    toolkit = _toolkit()
    toolkit.resetOptions()
    toolkit.setOptions({**BASE_OPTIONS, **options})
    if not toolkit.loadData(musicxml.decode("utf-8")):
        raise ScoreSkipped("verovio could not load the MusicXML")
    pages = [_MEASURE_NUMBER.sub("", toolkit.renderToSVG(page)) for page in range(1, toolkit.getPageCount() + 1)]
    if not pages:
        raise ScoreSkipped("verovio rendered no page")
    return pages


def staff_lines(svg: str) -> tuple[list[StaffLines], tuple[float, float], tuple[float, float]]:
    """Staves of each system, the page-margin offset and the viewBox size (user units).

    A staff spans several measures (one ``g.staff`` per measure); they are merged by
    their position within the system.
    """
    root = ET.fromstring(svg)
    inner = root.find(f"{SVG_NS}svg")
    if inner is None or "viewBox" not in inner.attrib:
        raise ScoreSkipped("unexpected verovio SVG (no definition-scale viewBox)")
    view = [float(v) for v in inner.get("viewBox", "").split()]
    margin = inner.find(f"{SVG_NS}g")
    offset = (0.0, 0.0)
    if margin is not None and margin.get("class") == "page-margin":
        match = re.search(r"translate\(\s*(-?[\d.]+)[ ,]+(-?[\d.]+)\s*\)", margin.get("transform", ""))
        if match:
            offset = (float(match.group(1)), float(match.group(2)))
    result: list[StaffLines] = []
    systems = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "system"]
    for system_index, system in enumerate(systems):
        merged: dict[int, list[float]] = {}
        for measure in (g for g in system.iter(f"{SVG_NS}g") if (g.get("class") or "").split()[:1] == ["measure"]):
            staves = [g for g in measure if g.tag == f"{SVG_NS}g" and g.get("class") == "staff"]
            for staff_index, staff in enumerate(staves):
                lines = []
                for path in staff.findall(f"{SVG_NS}path"):
                    match = _PATH_LINE.match(path.get("d", ""))
                    if match and match.group(2) == match.group(4):
                        lines.append((float(match.group(1)), float(match.group(3)), float(match.group(2))))
                if len(lines) < 2:
                    continue
                x0 = min(line[0] for line in lines)
                x1 = max(line[1] for line in lines)
                top = min(line[2] for line in lines)
                bottom = max(line[2] for line in lines)
                box = merged.setdefault(staff_index, [x0, x1, top, bottom])
                box[0], box[1] = min(box[0], x0), max(box[1], x1)
        for staff_index in sorted(merged):
            x0, x1, top, bottom = merged[staff_index]
            result.append(StaffLines(system_index, staff_index, x0, x1, top, bottom))
    if not result:
        raise ScoreSkipped("no staff lines found in the rendering")
    return result, offset, (view[2], view[3])


def _rasterize(svg: str, pixels_per_unit: float, view_size: tuple[float, float], dy_units: float = 0.0) -> np.ndarray:
    """Grayscale uint8 array ``(H, W)`` of the whole SVG at ``pixels_per_unit``.

    resvg (Rust) is about 3x faster than cairosvg here. System fonts are skipped: the
    renderings must carry no text (titles, lyrics and measure numbers are removed
    upstream), and music symbols are SMuFL glyph paths, not text.
    """
    if dy_units:
        svg = re.sub(
            r'(class="page-margin" transform="translate\(\s*-?[\d.]+[ ,]+)(-?[\d.]+)',
            lambda m: f"{m.group(1)}{float(m.group(2)) + dy_units:.4f}",
            svg,
            count=1,
        )
    width = max(1, round(view_size[0] * pixels_per_unit))
    height = max(1, round(view_size[1] * pixels_per_unit))
    try:
        return rasterize_svg(svg, width=width, height=height)
    except ValueError as error:
        raise ScoreSkipped(f"SVG rasterisation failed: {error}") from error


def rasterize_svg(svg: str, *, width: int | None = None, height: int | None = None) -> np.ndarray:
    """Grayscale uint8 ``(H, W)`` rendering of an SVG on white, with resvg (a wheel, no system library).

    Give ``width`` alone to keep the aspect ratio. Raises ``ValueError`` for an unreadable SVG.
    """
    import resvg_py  # heavy: resvg_py

    png = resvg_py.svg_to_bytes(svg_string=svg, width=width, height=height, background="#ffffff",
                                skip_system_fonts=True)
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("L"))


def _scale_and_shift(lines: list[StaffLines], offset_y: float) -> tuple[float, float]:
    """Pixels per SVG unit, and the vertical shift (units) that puts staff lines on pixel centres."""
    heights = [s.bottom - s.top for s in lines if s.bottom > s.top]
    if not heights:
        raise ScoreSkipped("degenerate staff lines")
    pixels_per_unit = STAFF_HEIGHT_PX / float(np.median(heights))
    top_px = (lines[0].top + offset_y) * pixels_per_unit
    shift_px = (np.floor(top_px) + 0.5) - top_px
    return pixels_per_unit, shift_px / pixels_per_unit


def render_system(musicxml: bytes, *, max_width: int = MAX_SYSTEM_WIDTH_PX) -> Image.Image:
    """One-system rendering of an excerpt: mode "L", height SYSTEM_HEIGHT_PX, staff height STAFF_HEIGHT_PX.

    The staves are centred vertically; if ink (ledger lines, high notes) would be cut,
    the window moves to keep it; ink taller than the window by at most MAX_CLIPPED_PX is
    centred and clipped. Raises :class:`ScoreSkipped` when the ink is taller
    than the window, wider than ``max_width``, or does not fit one system.
    """
    pages = _svg_pages(musicxml, {"breaks": "none", "adjustPageWidth": True, "adjustPageHeight": True, "pageWidth": 100000})
    if len(pages) != 1:
        raise ScoreSkipped(f"excerpt rendered on {len(pages)} pages")
    svg = pages[0]
    lines, (offset_x, offset_y), view = staff_lines(svg)
    if len({s.system for s in lines}) != 1:
        raise ScoreSkipped("excerpt rendered as more than one system")
    pixels_per_unit, dy = _scale_and_shift(lines, offset_y)
    pixels = _rasterize(svg, pixels_per_unit, view, dy)
    top = round((lines[0].top + offset_y + dy) * pixels_per_unit - 0.5)
    bottom = round((lines[-1].bottom + offset_y + dy) * pixels_per_unit - 0.5)
    ink_rows = np.flatnonzero((pixels < INK_THRESHOLD).any(axis=1))
    ink_cols = np.flatnonzero((pixels < INK_THRESHOLD).any(axis=0))
    if ink_rows.size == 0:
        raise ScoreSkipped("empty rendering")
    ink_top, ink_bottom = int(ink_rows[0]), int(ink_rows[-1])
    ink_height = ink_bottom - ink_top + 1
    if ink_height > SYSTEM_HEIGHT_PX + MAX_CLIPPED_PX:
        raise ScoreSkipped(f"system ink is {ink_height} px tall, more than {SYSTEM_HEIGHT_PX} + {MAX_CLIPPED_PX} px")
    if ink_height > SYSTEM_HEIGHT_PX:
        window_top = (ink_top + ink_bottom + 1) // 2 - SYSTEM_HEIGHT_PX // 2
    else:
        window_top = (top + bottom) // 2 - SYSTEM_HEIGHT_PX // 2
        window_top = min(window_top, ink_top)
        window_top = max(window_top, ink_bottom + 1 - SYSTEM_HEIGHT_PX)
    if window_top > top or window_top + SYSTEM_HEIGHT_PX <= bottom:
        raise ScoreSkipped("staves do not fit the system window")
    left = max(0, int(ink_cols[0]) - SIDE_MARGIN_PX)
    right = min(pixels.shape[1], int(ink_cols[-1]) + 1 + SIDE_MARGIN_PX)
    if right - left > max_width:
        raise ScoreSkipped(f"system is {right - left} px wide, more than {max_width} px")
    padded = np.full((SYSTEM_HEIGHT_PX, right - left), 255, dtype=np.uint8)
    source_top = max(window_top, 0)
    source_bottom = min(window_top + SYSTEM_HEIGHT_PX, pixels.shape[0])
    padded[source_top - window_top : source_bottom - window_top] = pixels[source_top:source_bottom, left:right]
    return Image.fromarray(padded, mode="L")


@dataclass
class PageRendering:
    """One page at the system scale; boxes are ``[x0, y0, x1, y1]`` pixel coordinates (x1, y1 exclusive)."""

    image: Image.Image
    system_boxes: list[list[int]]
    staff_boxes: list[list[int]]


def render_pages(musicxml: bytes, *, max_pages: int = 2, page_width: int = 2100, page_height: int = 2970) -> list[PageRendering]:
    """Normal page layout (A4 proportions) of a whole piece with exact system and staff boxes.

    Staff boxes span the staff lines (top line to bottom line, first to last x). System
    boxes span the system's staves horizontally and all of its ink vertically, limited
    to the band between the emptiest rows of the gaps to the neighbouring systems.
    """
    pages = _svg_pages(musicxml, {"breaks": "auto", "pageWidth": page_width, "pageHeight": page_height, "adjustPageHeight": False})
    results: list[PageRendering] = []
    for svg in pages[:max_pages]:
        lines, (offset_x, offset_y), view = staff_lines(svg)
        pixels_per_unit, dy = _scale_and_shift(lines, offset_y)
        pixels = _rasterize(svg, pixels_per_unit, view, dy)
        ink = pixels < INK_THRESHOLD

        def px(value: float, offset: float) -> int:
            return int(round((value + offset) * pixels_per_unit - 0.5))

        staff_boxes = [[px(s.x0, offset_x), px(s.top, offset_y + dy), px(s.x1, offset_x) + 1, px(s.bottom, offset_y + dy) + 1] for s in lines]
        systems = sorted({s.system for s in lines})
        spans = []
        for system in systems:
            members = [b for b, s in zip(staff_boxes, lines) if s.system == system]
            spans.append((min(b[0] for b in members), min(b[1] for b in members), max(b[2] for b in members), max(b[3] for b in members)))
        # split the page between neighbouring systems at the emptiest row of the gap
        splits = [0]
        for (x0, _, x1, y1), (nx0, ny0, nx1, _) in zip(spans, spans[1:]):
            counts = ink[y1:ny0, min(x0, nx0) : max(x1, nx1)].sum(axis=1)
            middle = (y1 + ny0) / 2
            rows = np.arange(y1, ny0)
            splits.append(int(rows[np.lexsort((np.abs(rows - middle), counts))[0]]) if rows.size else y1)
        splits.append(pixels.shape[0])
        system_boxes = []
        for index, (x0, y0, x1, y1) in enumerate(spans):
            upper, lower = splits[index], splits[index + 1]
            rows = np.flatnonzero(ink[upper:lower, x0:x1].any(axis=1))
            top = upper + int(rows[0]) if rows.size else y0
            bottom = upper + int(rows[-1]) + 1 if rows.size else y1
            cols = np.flatnonzero(ink[top:bottom, :].any(axis=0))
            left = min(x0, int(cols[0])) if cols.size else x0
            right = max(x1, int(cols[-1]) + 1) if cols.size else x1
            system_boxes.append([left, min(top, y0), right, max(bottom, y1)])
        results.append(PageRendering(Image.fromarray(pixels, mode="L"), system_boxes, staff_boxes))
    return results
