"""Statistical filters of the YTSV pipeline (paper Appendix C.2, step 3).

Each filter is a small pure function that returns ``None`` to keep its input or a short
reason string to drop it. Thresholds are keyword arguments with documented defaults so a
user can tune them; :class:`FilterSummary` counts what each reason removed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

#: Audio duration bounds of a kept segment, seconds (paper: 3-20 s).
MIN_AUDIO_S = 3.0
MAX_AUDIO_S = 20.0
#: Segments whose audio RMS is below this level (dB relative to full scale) are silent.
SILENCE_DBFS = -45.0
#: A slide is blank when less than this fraction of its pixels is ink (darker than 128).
MIN_INK_FRACTION = 0.003
#: A page is dark/inverted when its median intensity is below this (paper: colour-inverted scans).
MIN_MEDIAN_INTENSITY = 128
#: Poor scans: more than this fraction of pixels are mid-grey (64..192), i.e. neither paper nor ink.
MAX_MIDGREY_FRACTION = 0.35
#: Smallest detected staff height in slide pixels that still carries readable music.
MIN_STAFF_PX = 6.0
#: Smallest normalised system width in pixels (a few patches of music).
MIN_SYSTEM_WIDTH_PX = 128
#: Systems must be wider than tall by this factor (before padding) to be a line of music.
MIN_SYSTEM_ASPECT = 1.5
#: Two detected systems overlapping by more than this IoU make the slide's layout unreliable.
MAX_SYSTEM_IOU = 0.3


def audio_duration(seconds: float, *, min_s: float = MIN_AUDIO_S, max_s: float = MAX_AUDIO_S) -> str | None:
    """Drop segments outside ``[min_s, max_s]`` seconds."""
    if seconds < min_s:
        return "audio_too_short"
    if seconds > max_s:
        return "audio_too_long"
    return None


def silent_audio(samples: np.ndarray, *, threshold_dbfs: float = SILENCE_DBFS) -> str | None:
    """Drop segments whose ``(N,)`` float audio in [-1, 1] has RMS below ``threshold_dbfs``."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0:
        return "silent_audio"
    rms = float(np.sqrt(np.mean(samples**2)))
    if rms <= 0 or 20 * np.log10(rms) < threshold_dbfs:
        return "silent_audio"
    return None


def blank_slide(gray: np.ndarray, *, min_ink_fraction: float = MIN_INK_FRACTION) -> str | None:
    """Drop ``(H, W)`` uint8 slides with almost no ink (blank frames, plain title cards)."""
    if float(np.mean(gray < 128)) < min_ink_fraction:
        return "blank_slide"
    return None


def inverted_page(gray: np.ndarray, *, min_median: int = MIN_MEDIAN_INTENSITY) -> str | None:
    """Drop dark or colour-inverted slides: music pages are mostly light paper."""
    if float(np.median(gray)) < min_median:
        return "inverted_or_dark"
    return None


def poor_scan(gray: np.ndarray, *, max_midgrey_fraction: float = MAX_MIDGREY_FRACTION) -> str | None:
    """Drop low-contrast slides (grey paper, heavy noise, photos) by their mid-grey pixel share."""
    midgrey = float(np.mean((gray > 64) & (gray < 192)))
    if midgrey > max_midgrey_fraction:
        return "poor_scan"
    return None


def system_dimensions(
    box: np.ndarray,
    staff_height: float,
    normalised_width: int | None,
    *,
    min_staff_px: float = MIN_STAFF_PX,
    min_width_px: int = MIN_SYSTEM_WIDTH_PX,
    min_aspect: float = MIN_SYSTEM_ASPECT,
) -> str | None:
    """Drop systems with anomalous dimensions: no/tiny staff, too narrow, not wide enough."""
    if staff_height <= 0:
        return "no_staff_detected"
    if staff_height < min_staff_px:
        return "tiny_crop"
    width = float(box[2] - box[0])
    height = float(box[3] - box[1])
    if normalised_width is None or normalised_width < min_width_px:
        return "tiny_crop"
    if height <= 0 or width / height < min_aspect:
        return "anomalous_aspect"
    return None


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two xyxy boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def overlapping_systems(boxes: np.ndarray, *, max_iou: float = MAX_SYSTEM_IOU) -> str | None:
    """Drop slides where any two ``(N, 4)`` system boxes overlap by more than ``max_iou``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if box_iou(boxes[i], boxes[j]) > max_iou:
                return "overlapping_systems"
    return None


def slide_image_filters(gray: np.ndarray) -> str | None:
    """Whole-slide pixel filters in order: blank, inverted/dark, poor scan."""
    return blank_slide(gray) or inverted_page(gray) or poor_scan(gray)


@dataclass
class FilterSummary:
    """Counts of segments (and systems) removed per reason, and of those kept."""

    segments_removed: Counter[str] = field(default_factory=Counter)
    systems_removed: Counter[str] = field(default_factory=Counter)
    segments_kept: int = 0
    systems_kept: int = 0

    def drop_segment(self, reason: str) -> None:
        self.segments_removed[reason] += 1

    def drop_system(self, reason: str) -> None:
        self.systems_removed[reason] += 1

    def update(self, other: FilterSummary) -> None:
        self.segments_removed.update(other.segments_removed)
        self.systems_removed.update(other.systems_removed)
        self.segments_kept += other.segments_kept
        self.systems_kept += other.systems_kept

    def to_dict(self) -> dict:
        return {
            "segments_kept": self.segments_kept,
            "segments_removed": dict(sorted(self.segments_removed.items())),
            "systems_kept": self.systems_kept,
            "systems_removed": dict(sorted(self.systems_removed.items())),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FilterSummary:
        return cls(
            segments_removed=Counter(data.get("segments_removed", {})),
            systems_removed=Counter(data.get("systems_removed", {})),
            segments_kept=int(data.get("segments_kept", 0)),
            systems_kept=int(data.get("systems_kept", 0)),
        )

    def format(self) -> str:
        """Human-readable table for the CLI."""
        lines = [f"segments kept: {self.segments_kept}"]
        lines += [f"  removed ({reason}): {count}" for reason, count in sorted(self.segments_removed.items())]
        lines.append(f"systems kept: {self.systems_kept}")
        lines += [f"  removed ({reason}): {count}" for reason, count in sorted(self.systems_removed.items())]
        return "\n".join(lines)
