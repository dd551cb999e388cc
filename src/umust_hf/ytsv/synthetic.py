"""Synthetic score videos from the embedded corpus, with known slide boundaries (tests, benchmarks).

A video is a silent title card followed by slides cut from the embedded corpus's rendered
pages (bands of consecutive systems, as score videos show them), each shown while an
excerpt of the same piece plays. Slides are letterboxed onto a white canvas and joined by
hard cuts or linear crossfades; an optional dark cursor sweeps across each slide like a
score-following video's. The true boundary of a crossfade is its midpoint, the same
convention :mod:`umust_hf.ytsv.slides` uses.

Pairing pages with audio: a corpus page row and an excerpt row share ``piece_id``; the
pages engrave the piece's first ``PAGE_MEASURES`` measures, so the excerpts with
``end_measure <= PAGE_MEASURES`` are the ones printed on them. The corpus does not record
which measures each system holds, so the k-th band of a piece's pages is paired with the
piece's k-th printed excerpt (score order): same piece and order, not measure-exact.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import constants
from ..data.audio_io import decode_audio
from ..data.embedded import load_embedded_corpus
from ..data.embedded.pieces import PAGE_MEASURES
from ..errors import UserError
from .media import write_video
from .pages import LabelledPage, load_embedded_corpus_pages, system_band


@dataclass
class SyntheticVideo:
    """A written synthetic video and its ground truth.

    ``boundaries``: true slide-change times, seconds (``len(slides) - 1``).
    ``slide_spans``: ``[start, end)`` seconds of every slide. ``audio``: the ``(N,)``
    float32 44.1 kHz track (also when it was not muxed into the file).
    """

    path: Path
    boundaries: list[float]
    slide_spans: list[tuple[float, float]]
    duration: float
    audio: np.ndarray | None = None
    transitions: list[str] = field(default_factory=list)


@dataclass
class CorpusSlide:
    """A band of systems of one corpus page and the excerpt of the same piece played under it.

    ``page``: the band with its true boxes (slide pixels, before letterboxing).
    ``audio``: ``(N,)`` float32 samples at ``constants.SAMPLE_RATE``.
    """

    page: LabelledPage
    piece_id: str
    excerpt_id: str
    audio: np.ndarray


@dataclass
class CorpusVideo(SyntheticVideo):
    """A corpus video: index 0 is the title card, then one entry per :class:`CorpusSlide`.

    ``canvases``: each slide as shown, boxes moved onto the canvas (``None`` for the title
    card). ``excerpt_ids``: the excerpt played under each slide (``None`` for the title).
    ``audio_spans``: ``[start, end)`` samples of each excerpt's audio in the track.
    """

    canvases: list[LabelledPage | None] = field(default_factory=list)
    excerpt_ids: list[str | None] = field(default_factory=list)
    audio_spans: list[tuple[int, int] | None] = field(default_factory=list)


def canvas_geometry(shape: tuple[int, int], size: tuple[int, int]) -> tuple[float, int, int, int, int]:
    """Where an ``(h, w)`` image lands when fitted into ``size = (W, H)``: ``(scale, left, top, new_w, new_h)``."""
    width, height = size
    scale = min(width / shape[1], height / shape[0])
    new_w, new_h = max(1, int(shape[1] * scale)), max(1, int(shape[0] * scale))
    return scale, (width - new_w) // 2, (height - new_h) // 2, new_w, new_h


def fit_on_canvas(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``(h, w)`` uint8 ``image`` to fit ``size = (W, H)`` and centre it on white."""
    import cv2  # heavy: cv2

    _, left, top, new_w, new_h = canvas_geometry(image.shape, size)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.full((size[1], size[0]), 255, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def fit_boxes(boxes: np.ndarray, shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Move ``(N, 4)`` xyxy boxes of an ``(h, w)`` image to where :func:`fit_on_canvas` puts it."""
    scale, left, top, _, _ = canvas_geometry(shape, size)
    return (np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * scale + [left, top, left, top]).astype(np.float32)


def page_on_canvas(page: LabelledPage, size: tuple[int, int]) -> LabelledPage:
    """A :class:`LabelledPage` fitted on a white ``size`` canvas, boxes moved along."""
    return LabelledPage(
        image=fit_on_canvas(page.image, size),
        system_boxes=fit_boxes(page.system_boxes, page.image.shape, size),
        staff_boxes=fit_boxes(page.staff_boxes, page.image.shape, size),
        source=page.source,
    )


def title_card(size: tuple[int, int], text: str = "Title of the piece") -> np.ndarray:
    """A white ``(H, W)`` card with one short line of text, like a video's opening slide."""
    import cv2  # heavy: cv2

    width, height = size
    card = np.full((height, width), 255, dtype=np.uint8)
    cv2.putText(card, text, (width // 8, height // 2), cv2.FONT_HERSHEY_SIMPLEX, width / 900, 0, 1, cv2.LINE_AA)
    return card


def _printed_excerpts(corpus) -> dict[str, list[tuple[int, str, str, int]]]:
    """``piece_id -> [(start_measure, excerpt id, split, row)]`` of the excerpts printed on the pages, in score order.

    ``corpus`` is the excerpt ``DatasetDict``; audio is left on disk until a slide needs it.
    """
    by_piece: dict[str, list[tuple[int, str, str, int]]] = {}
    for name, split in corpus.items():
        rows = split.select_columns(["id", "piece_id", "start_measure", "end_measure"])
        for index, row in enumerate(rows):
            if row["end_measure"] <= PAGE_MEASURES:
                by_piece.setdefault(row["piece_id"], []).append((row["start_measure"], row["id"], name, index))
    for excerpts in by_piece.values():
        excerpts.sort(key=lambda item: item[0])
    return by_piece


def corpus_slides(
    corpus_dir: str | os.PathLike[str], count: int, *, systems_per_slide: int = 2, per_piece: int = 2
) -> list[CorpusSlide]:
    """``count`` slides from a built embedded corpus (``umust build-corpus --out DIR``).

    Pieces are taken in ``piece_id`` order; each gives up to ``per_piece`` slides, bands of
    ``systems_per_slide`` consecutive systems of its pages paired with its printed excerpts
    in score order (see the module docstring). Raises :class:`UserError` when the corpus
    holds fewer such slides.
    """
    if count < 1 or systems_per_slide < 1 or per_piece < 1:
        raise ValueError("count, systems_per_slide and per_piece must be positive")
    root = Path(corpus_dir)
    corpus = load_embedded_corpus(root)
    excerpts = _printed_excerpts(corpus)
    bands: dict[str, list[LabelledPage]] = {}
    for page in load_embedded_corpus_pages(root):
        piece_id = page.source.rpartition("#page")[0]
        for first in range(0, len(page.system_boxes), systems_per_slide):
            bands.setdefault(piece_id, []).append(system_band(page, first, min(systems_per_slide, len(page.system_boxes) - first)))
    slides: list[CorpusSlide] = []
    for piece_id in sorted(bands):
        for band, (_, excerpt_id, split, index) in list(zip(bands[piece_id], excerpts.get(piece_id, [])))[:per_piece]:
            audio, rate = decode_audio(corpus[split].select_columns(["audio"])[index]["audio"])
            if rate != constants.SAMPLE_RATE:
                raise UserError(f"{root}: excerpt {excerpt_id} is at {rate} Hz, expected {constants.SAMPLE_RATE}")
            slides.append(CorpusSlide(page=band, piece_id=piece_id, excerpt_id=excerpt_id, audio=audio.astype(np.float32)))
            if len(slides) == count:
                return slides
    raise UserError(f"{root}: only {len(slides)} page bands with printed excerpts, {count} slides asked for")


def build_synthetic_video(
    path: str | os.PathLike[str],
    slides: Sequence[np.ndarray],
    durations: Sequence[float],
    transitions: Sequence[str],
    *,
    fps: float = 10.0,
    size: tuple[int, int] = (320, 180),
    fade_s: float = 1.0,
    cursor: bool | Sequence[bool] = True,
    audio: np.ndarray | None = None,
    embed_audio: bool = True,
) -> SyntheticVideo:
    """Write a video of ``slides`` (``(h, w)`` uint8 images) shown for ``durations`` seconds.

    ``transitions[k]`` (``"cut"`` or ``"fade"``) joins slide k and k+1. ``cursor`` (one
    flag, or one per slide) sweeps a thin dark bar across the slide. With ``audio``
    (``(N,)`` float at 44.1 kHz), it is muxed into the video when ``embed_audio``, and
    always returned in the result so callers can also write it beside the video.
    """
    if len(slides) != len(durations) or len(transitions) != len(slides) - 1:
        raise ValueError("need one duration per slide and one transition between consecutive slides")
    unknown = set(transitions) - {"cut", "fade"}
    if unknown:
        raise ValueError(f"unknown transitions {sorted(unknown)}; use 'cut' or 'fade'")
    canvases = [fit_on_canvas(s, size) for s in slides]
    cursors = [cursor] * len(slides) if isinstance(cursor, bool) else list(cursor)
    boundaries = list(np.cumsum(durations)[:-1].astype(float))
    total = float(sum(durations))
    starts = [0.0, *boundaries]
    spans = [(s, s + d) for s, d in zip(starts, durations)]
    frame_count = int(round(total * fps))
    width, height = size

    def frame_at(i: int) -> np.ndarray:
        t = i / fps + 1e-9  # a boundary that is a whole frame time belongs to the new slide
        k = int(np.searchsorted(boundaries, t, side="right"))
        frame = canvases[k].astype(np.float32)
        for j, (b, kind) in enumerate(zip(boundaries, transitions)):
            if kind == "fade" and b - fade_s / 2 <= t < b + fade_s / 2:
                alpha = (t - (b - fade_s / 2)) / fade_s
                frame = (1 - alpha) * canvases[j] + alpha * canvases[j + 1]
        frame = frame.astype(np.uint8)
        if cursors[k]:
            start, end = spans[k]
            x = int((t - start) / max(end - start, 1e-6) * (width - 4))
            frame[height // 4 : 3 * height // 4, x : x + 1] = 60
        return frame

    write_video((frame_at(i) for i in range(frame_count)), path, fps=fps, size=size, audio=audio if embed_audio else None)
    return SyntheticVideo(
        path=Path(path), boundaries=boundaries, slide_spans=spans, duration=total, audio=audio, transitions=list(transitions)
    )


def build_corpus_video(
    path: str | os.PathLike[str],
    slides: Sequence[CorpusSlide],
    transitions: Sequence[str],
    *,
    title_s: float = 3.0,
    fps: float = 10.0,
    size: tuple[int, int] = (480, 270),
    fade_s: float = 1.0,
    cursor: bool = True,
    embed_audio: bool = True,
) -> CorpusVideo:
    """A score video: a silent ``title_s`` title card, then ``slides`` with their excerpts' audio.

    ``transitions`` has one entry per slide (``"cut"`` or ``"fade"`` into it, the first one
    out of the title card). Each slide lasts its excerpt rounded up to whole frames, so hard
    cuts fall on frame times; the excerpt audio starts exactly at its slide's start and is
    followed by silence up to the next boundary. The cursor runs over music slides only.
    """
    if len(transitions) != len(slides):
        raise ValueError("need one transition into each slide (the first one out of the title card)")
    sr = constants.SAMPLE_RATE
    title_s = math.ceil(title_s * fps - 1e-9) / fps
    durations = [title_s] + [math.ceil(len(s.audio) / sr * fps - 1e-9) / fps for s in slides]
    starts = np.round(np.cumsum([0.0, *durations]) * sr).astype(int)
    track = np.zeros(int(starts[-1]), dtype=np.float32)
    spans: list[tuple[int, int] | None] = [None]
    for slide, start in zip(slides, starts[1:]):
        track[start : start + len(slide.audio)] = slide.audio
        spans.append((int(start), int(start) + len(slide.audio)))
    canvases = [page_on_canvas(s.page, size) for s in slides]
    video = build_synthetic_video(
        path,
        [title_card(size), *(c.image for c in canvases)],
        durations,
        list(transitions),
        fps=fps,
        size=size,
        fade_s=fade_s,
        cursor=[False] + [cursor] * len(slides),
        audio=track,
        embed_audio=embed_audio,
    )
    return CorpusVideo(
        **vars(video),
        canvases=[None, *canvases],
        excerpt_ids=[None, *(s.excerpt_id for s in slides)],
        audio_spans=spans,
    )
