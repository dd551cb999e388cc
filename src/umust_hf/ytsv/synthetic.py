"""Synthetic score videos with known slide boundaries, for tests and benchmarks.

Slides (grayscale page images) are letterboxed onto a white canvas and joined by hard cuts
or linear crossfades; an optional dark cursor sweeps across each slide like a
score-following video's. The true boundary of a crossfade is its midpoint, the same
convention :mod:`umust_hf.ytsv.slides` uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from umust_hf import constants


@dataclass
class SyntheticVideo:
    """A written synthetic video and its ground truth."""

    path: Path
    boundaries: list[float]
    slide_spans: list[tuple[float, float]]
    duration: float
    audio: np.ndarray | None = None
    transitions: list[str] = field(default_factory=list)


def canvas_geometry(shape: tuple[int, int], size: tuple[int, int]) -> tuple[float, int, int, int, int]:
    """Where an ``(h, w)`` image lands when fitted into ``size = (W, H)``: ``(scale, left, top, new_w, new_h)``."""
    width, height = size
    scale = min(width / shape[1], height / shape[0])
    new_w, new_h = max(1, int(shape[1] * scale)), max(1, int(shape[0] * scale))
    return scale, (width - new_w) // 2, (height - new_h) // 2, new_w, new_h


def fit_on_canvas(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``(h, w)`` uint8 ``image`` to fit ``size = (W, H)`` and centre it on white."""
    import cv2

    _, left, top, new_w, new_h = canvas_geometry(image.shape, size)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    canvas = np.full((size[1], size[0]), 255, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    return canvas


def fit_boxes(boxes: np.ndarray, shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Move ``(N, 4)`` xyxy boxes of an ``(h, w)`` image to where :func:`fit_on_canvas` puts it."""
    scale, left, top, _, _ = canvas_geometry(shape, size)
    return (np.asarray(boxes, dtype=np.float32).reshape(-1, 4) * scale + [left, top, left, top]).astype(np.float32)


def page_on_canvas(page, size: tuple[int, int]):
    """A :class:`~umust_hf.ytsv.pages.LabelledPage` fitted on a white ``size`` canvas, boxes moved along."""
    from umust_hf.ytsv.pages import LabelledPage

    return LabelledPage(
        image=fit_on_canvas(page.image, size),
        system_boxes=fit_boxes(page.system_boxes, page.image.shape, size),
        staff_boxes=fit_boxes(page.staff_boxes, page.image.shape, size),
        source=page.source,
    )


def title_card(size: tuple[int, int], text: str = "Title of the piece") -> np.ndarray:
    """A white ``(H, W)`` card with one short line of text, like a video's opening slide."""
    import cv2

    width, height = size
    card = np.full((height, width), 255, dtype=np.uint8)
    cv2.putText(card, text, (width // 8, height // 2), cv2.FONT_HERSHEY_SIMPLEX, width / 900, 0, 1, cv2.LINE_AA)
    return card


def tone_audio(duration: float, *, seed: int, sampling_rate: int = constants.SAMPLE_RATE, amplitude: float = 0.3) -> np.ndarray:
    """``(N,)`` float32 sequence of decaying random piano-range tones (a stand-in performance)."""
    rng = np.random.default_rng(seed)
    n = int(round(duration * sampling_rate))
    out = np.zeros(n, dtype=np.float32)
    note_len = int(0.25 * sampling_rate)
    envelope = np.exp(-np.arange(note_len) / (0.08 * sampling_rate)).astype(np.float32)
    for start in range(0, n, note_len):
        freq = 220.0 * 2 ** (rng.integers(0, 24) / 12)
        length = min(note_len, n - start)
        phase = 2 * np.pi * freq * np.arange(length) / sampling_rate
        out[start : start + length] += amplitude * envelope[:length] * np.sin(phase).astype(np.float32)
    return out


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
    """Write a video of ``slides`` shown for ``durations`` seconds.

    ``transitions[k]`` (``"cut"`` or ``"fade"``) joins slide k and k+1. ``cursor`` (one
    flag, or one per slide) sweeps a thin dark bar across the slide. With ``audio``
    (``(N,)`` float at 44.1 kHz), it is muxed into the video when ``embed_audio``, and
    always returned in the result so callers can also write it beside the video.
    """
    from umust_hf.ytsv.media import write_video

    if len(slides) != len(durations) or len(transitions) != len(slides) - 1:
        raise ValueError("need one duration per slide and one transition between consecutive slides")
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
