"""Slide segmentation of score videos (paper Appendix C.2, step 1).

Frames are sampled at a few fps, downscaled and converted to grayscale. Two signals are
computed between consecutive samples, both as the *share of inked cells* (24 x 24 pixel
blocks holding ink, i.e. dark pixels, in either frame) in which most pixels changed, so
that they depend neither on how much music a slide holds nor on small local changes:

* ``ink_change``: cells whose ink mostly appeared or disappeared (XOR of the binarised
  frames). A slide change replaces the ink of nearly every cell; a moving cursor or a
  highlighted bar touches a column or two of cells, and a translucent highlight does not
  turn paper into ink. A crossfade moves every ink pixel across the binarisation
  threshold near its midpoint, so it also shows up here.
* ``motion``: cells whose grey levels mostly changed by more than ``pixel_threshold``.
  During an animated transition (crossfade, fade through white) it stays high for every
  sample of the transition, which gives the transition's extent.

A transition is a run of samples with ``ink_change`` above ``active_threshold`` or
``motion`` above ``motion_threshold`` (a slow crossfade spreads its ink change over many
samples, but every one of them moves). Fades so slow that consecutive samples barely
differ are found afterwards: where the first and last samples of a stretch without
transitions show different slides, the boundary goes to the sample equally far from both.
A transition is a slide change only if the stable
frames before and after it differ by more than ``slide_threshold`` (so cursor jitter that
returns to the same page is ignored). The boundary is placed at the *midpoint* of the
transition: for a hard cut that is the first frame of the new slide, for a crossfade the
moment both slides are equally visible. Its error is at most half a sampling interval.
When heavy compression hides a fade's faint ends from the run (so its midpoint is off),
the boundary moves to the balance point instead: the time, interpolated between samples,
at which the video is equally far from the stable frames on either side.
Slides shorter than ``min_slide_s`` are dropped (flashes, mid-transition frames).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .media import iter_sampled_frames, probe_video


@dataclass
class SegmentationConfig:
    """Thresholds of :func:`segment_slides` (defaults tuned on synthetic and rendered videos)."""

    #: Frames per second analysed (the video is decoded fully; only these are compared).
    sample_fps: float = 10.0
    #: Width the analysed frames are downscaled to, pixels.
    width: int = 480
    #: Grey level below which a pixel is ink.
    ink_level: int = 160
    #: Grey-level change that counts a pixel as moving. A 2.5 s crossfade sampled at 10 fps
    #: moves black ink by about 10 levels per sample and the thin grey lines of a downscaled
    #: single-staff band by about 5; at 8 such a fade broke into pieces (a false slide change).
    pixel_threshold: int = 5
    #: Side of the square cells changes are counted in, pixels of the analysed frame.
    cell: int = 24
    #: Ink change (share of inked cells replaced) between consecutive samples that makes a
    #: sample part of a transition.
    active_threshold: float = 0.3
    #: Motion share (of inked or moving cells) that marks a sample as part of a transition.
    motion_threshold: float = 0.35
    #: Ink change between the stable frames around a transition that makes it a slide change.
    slide_threshold: float = 0.5
    #: Slides shorter than this are dropped, seconds.
    min_slide_s: float = 1.0
    #: How far outside an animated transition's run the reference frames of its balance
    #: point are taken (within the neighbouring stable stretches), seconds.
    balance_margin_s: float = 0.5


@dataclass
class Slide:
    """One slide: ``[start, end)`` seconds, the frame index that shows it best, and how it began."""

    start: float
    end: float
    frame_index: int
    transition: str  # "start", "cut" or "animated"

    @property
    def duration(self) -> float:
        return self.end - self.start


def _ink(gray: np.ndarray, level: int) -> np.ndarray:
    return gray < level


def _cell_sums(mask: np.ndarray, cell: int) -> np.ndarray:
    """Count true pixels of ``(h, w)`` ``mask`` in ``cell x cell`` blocks -> ``(h // cell, w // cell)``."""
    rows, cols = mask.shape[0] // cell, mask.shape[1] // cell
    blocks = mask[: rows * cell, : cols * cell].reshape(rows, cell, cols, cell)
    return blocks.sum(axis=(1, 3))


def _changed_cell_share(changed: np.ndarray, ink_union: np.ndarray, cell: int, min_ink: int) -> float:
    """Share of the relevant cells in which most pixels changed.

    A cell is relevant when it holds ink in either frame or when pixels in it changed; it
    changed when at least half of its ink (and ``min_ink`` pixels) changed. Counting cells
    rather than pixels keeps a thin moving cursor (a column or two of cells) from looking
    like a slide change. The denominator is at least a tenth of all cells, so on a nearly
    empty slide (a title card) the cursor cannot dominate either.
    """
    union = _cell_sums(ink_union, cell)
    moved = _cell_sums(changed, cell)
    relevant = (union >= min_ink) | (moved >= min_ink)
    if not relevant.any():
        return 0.0
    hit = relevant & (moved >= np.maximum(min_ink, 0.5 * union))
    return float(min(1.0, np.count_nonzero(hit) / max(np.count_nonzero(relevant), 0.1 * union.size)))


def ink_change(a: np.ndarray, b: np.ndarray, *, level: int = 160, cell: int = 24, min_ink: int = 4) -> float:
    """Share of inked cells of ``(h, w)`` uint8 frames ``a``, ``b`` whose ink was replaced (0..1)."""
    ink_a, ink_b = _ink(a, level), _ink(b, level)
    return _changed_cell_share(ink_a ^ ink_b, ink_a | ink_b, cell, min_ink)


def motion(a: np.ndarray, b: np.ndarray, *, level: int = 160, pixel_threshold: int = 5, cell: int = 24, min_ink: int = 4) -> float:
    """Share of inked cells whose grey levels moved by more than ``pixel_threshold`` (0..1)."""
    moved = np.abs(a.astype(np.int16) - b.astype(np.int16)) > pixel_threshold
    return _changed_cell_share(moved, _ink(a, level) | _ink(b, level), cell, min_ink)


def _balance(grays: list[np.ndarray], lo: int, hi: int, level: int) -> np.ndarray:
    """``(hi - lo + 1,)``: how much closer each sample is to sample ``hi`` than to sample ``lo``.

    Mean grey-level distances over the ink of either end: they grow linearly through a
    crossfade (binarised ink flips unevenly), and a cursor crossing the paper weighs little.
    Negative near ``lo``, positive near ``hi``, zero where both slides are equally visible.
    """
    mask = _ink(grays[lo], level) | _ink(grays[hi], level)
    if not mask.any():
        return np.zeros(hi - lo + 1)
    first, last = grays[lo][mask].astype(np.int16), grays[hi][mask].astype(np.int16)
    return np.array(
        [float(np.abs(grays[k][mask] - first).mean()) - float(np.abs(grays[k][mask] - last).mean()) for k in range(lo, hi + 1)]
    )


def _slow_transition(grays: list[np.ndarray], lo: int, hi: int, config: SegmentationConfig) -> int | None:
    """The sample where a transition too slow to show between consecutive samples is half done.

    If the first and last samples of a stretch without detected transitions show different
    slides, the boundary is the sample equally far (:func:`_balance`) from both: the
    midpoint of a linear crossfade. One such transition per stretch is found (a
    limitation: two very slow fades in a row merge).
    """
    level, cell = config.ink_level, config.cell
    if hi - lo < 2 or ink_change(grays[lo], grays[hi], level=level, cell=cell) <= config.slide_threshold:
        return None
    return lo + 1 + int(np.argmin(np.abs(_balance(grays, lo, hi, level)[1:])))


def _animated_boundary(grays: list[np.ndarray], times: list[float], lo: int, hi: int, level: int) -> float | None:
    """Time between samples ``lo`` and ``hi`` (stable frames around an animated transition)
    where the video is equally far from both: the first zero crossing of :func:`_balance`,
    interpolated linearly between samples. ``None`` if it never crosses."""
    balance = _balance(grays, lo, hi, level)
    for j in range(len(balance) - 1):
        if balance[j] < 0 <= balance[j + 1]:
            t0, t1 = times[lo + j], times[lo + j + 1]
            return t0 + (t1 - t0) * float(-balance[j] / (balance[j + 1] - balance[j]))
    return None


def segment_frames(
    frames: Iterable[tuple[int, float, np.ndarray]],
    *,
    duration: float,
    fps: float,
    config: SegmentationConfig | None = None,
) -> list[Slide]:
    """Segment sampled ``(frame_index, time_s, (h, w) uint8 gray)`` frames into slides.

    ``duration`` is the video (or audio) length in seconds, ``fps`` the native frame rate
    (used to place hard cuts exactly when every frame was sampled).
    """
    config = config or SegmentationConfig()
    import cv2  # heavy: cv2

    indices: list[int] = []
    times: list[float] = []
    grays: list[np.ndarray] = []
    for index, time, gray in frames:
        indices.append(index)
        times.append(time)
        grays.append(cv2.GaussianBlur(gray, (3, 3), 0))
    if not grays:
        return []
    n = len(grays)
    stride = indices[1] - indices[0] if n > 1 else 1
    changes = np.zeros(n)
    motions = np.zeros(n)
    for t in range(1, n):
        changes[t] = ink_change(grays[t - 1], grays[t], level=config.ink_level, cell=config.cell)
        motions[t] = motion(grays[t - 1], grays[t], level=config.ink_level, pixel_threshold=config.pixel_threshold, cell=config.cell)

    # a sample is in a transition when its ink was replaced or most of it is moving
    active = (changes > config.active_threshold) | (motions > config.motion_threshold)
    active[0] = False
    boundaries: list[tuple[float, str]] = []
    animated: list[tuple[int, int, int, int]] = []  # (boundary index, first, last, stable span before)
    stable_from = 0  # first sample of the current stable stretch
    stable_spans: list[tuple[int, int]] = []
    t = 1
    while t < n:
        if not active[t]:
            t += 1
            continue
        first = last = t
        while last + 1 < n and active[last + 1]:
            last += 1
        before, after = grays[first - 1], grays[last]
        if ink_change(before, after, level=config.ink_level, cell=config.cell) > config.slide_threshold:
            if first == last:  # hard cut: the new slide starts at sample `first`
                boundary = times[first] - (stride - 1) / (2 * fps)
                kind = "cut"
            else:  # animated: placed below, once the stable stretches on both sides are known
                boundary = (times[first - 1] + times[last]) / 2
                kind = "animated"
                animated.append((len(boundaries), first, last, len(stable_spans)))
            boundaries.append((boundary, kind))
            stable_spans.append((stable_from, first - 1))
            stable_from = last
        t = last + 1
    stable_spans.append((stable_from, n - 1))
    # An animated transition's run midpoint is exact when the run covers the whole fade,
    # but under heavy compression a fade's faint ends can fall out of the run and skew it.
    # The balance point (where the video is equally far from the frames up to
    # `balance_margin_s` outside the run) does not depend on the run's ends but is biased
    # by compression artefacts by up to about a sample. So the midpoint stays unless the
    # balance point lies more than one sample interval away: then the run lost an end.
    margin = max(1, int(round(config.balance_margin_s * fps / stride)))
    interval = stride / fps
    for position, first, last, span in animated:
        lo = max(stable_spans[span][0], first - 1 - margin)
        hi = min(stable_spans[span + 1][1], last + margin)
        balanced = _animated_boundary(grays, times, lo, hi, config.ink_level)
        if balanced is not None and abs(balanced - boundaries[position][0]) > interval:
            boundaries[position] = (balanced, "animated")
    for lo, hi in stable_spans:
        middle = _slow_transition(grays, lo, hi, config)
        if middle is not None:
            boundaries.append((times[middle], "animated"))
    boundaries.sort()

    edges = [(0.0, "start"), *boundaries, (duration, "end")]
    slides = []
    sample_times = np.asarray(times)
    for (start, kind), (end, _) in zip(edges[:-1], edges[1:]):
        if end - start < config.min_slide_s:
            continue
        middle = int(np.argmin(np.abs(sample_times - (start + end) / 2)))
        slides.append(Slide(start=float(start), end=float(end), frame_index=indices[middle], transition=kind))
    return slides


def segment_slides(video_path: str | os.PathLike[str], config: SegmentationConfig | None = None) -> list[Slide]:
    """Slides of a score video file (see the module docstring for the method)."""
    config = config or SegmentationConfig()
    info = probe_video(video_path)
    frames = iter_sampled_frames(video_path, sample_fps=config.sample_fps, width=config.width)
    return segment_frames(frames, duration=info.duration, fps=info.fps, config=config)
