"""Cut a slide into normalised system images.

Detected system boxes are assigned their staves (the staff detector's boxes whose centre
lies inside); the median staff box height is the system's staff height. Each crop is
rescaled so that this height becomes ``constants.STAFF_HEIGHT_PX`` and then handed to the
package's score image processor (:class:`UMustImageProcessor`), which owns the one
normalisation of system images (refinement from staff lines, padding/cropping to
``constants.SYSTEM_HEIGHT_PX`` rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .. import constants


@dataclass
class SystemCrop:
    """One system of a slide.

    ``box``: pixel ``x0, y0, x1, y1`` in the slide. ``staff_height``: detected staff
    height in slide pixels (0 when no staff was found). ``image``: the normalised
    ``(SYSTEM_HEIGHT_PX, W)`` uint8 grayscale crop, or ``None`` when it could not be made.
    """

    box: np.ndarray
    staff_height: float
    image: np.ndarray | None = None


def to_grayscale(frame: np.ndarray) -> np.ndarray:
    """``(H, W)`` or ``(H, W, 3)`` BGR/RGB uint8 -> ``(H, W)`` uint8 (channel mean)."""
    if frame.ndim == 2:
        return frame.astype(np.uint8, copy=False)
    return frame[..., :3].mean(axis=2).round().astype(np.uint8)


def order_boxes(boxes: np.ndarray) -> np.ndarray:
    """Sort ``(N, 4)`` xyxy boxes in reading order: top to bottom, then left to right."""
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return boxes
    order = np.lexsort((boxes[:, 0], (boxes[:, 1] + boxes[:, 3]) / 2))
    return boxes[order]


def staff_height_for(system_box: np.ndarray, staff_boxes: np.ndarray) -> float:
    """Median height of the staff boxes whose centre lies in ``system_box`` (0 if none)."""
    staff_boxes = np.asarray(staff_boxes, dtype=np.float32).reshape(-1, 4)
    if len(staff_boxes) == 0:
        return 0.0
    cx = (staff_boxes[:, 0] + staff_boxes[:, 2]) / 2
    cy = (staff_boxes[:, 1] + staff_boxes[:, 3]) / 2
    x0, y0, x1, y1 = system_box
    inside = (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)
    if not inside.any():
        return 0.0
    return float(np.median(staff_boxes[inside, 3] - staff_boxes[inside, 1]))


@lru_cache(maxsize=1)
def _image_processor():
    from ..processing.image_processing_umust import UMustImageProcessor  # heavy: torch, transformers

    return UMustImageProcessor()


def normalise_system(
    gray: np.ndarray,
    box: np.ndarray,
    staff_height: float,
    *,
    target_staff_px: int = constants.STAFF_HEIGHT_PX,
) -> np.ndarray:
    """Crop ``box`` from ``(H, W)`` uint8 ``gray`` and normalise it as the score image processor does.

    The crop is first scaled by the *detected* staff height (``target_staff_px /
    staff_height``, robust on blurry video frames); then
    :meth:`UMustImageProcessor.normalize_system` refines the scale where it finds five-line
    staves (more than 5 % off) and pads/crops around the staves to ``SYSTEM_HEIGHT_PX``
    rows, so YTSV systems match every other system image of the package.
    Returns ``(SYSTEM_HEIGHT_PX, W')`` uint8.
    """
    import cv2  # heavy: cv2

    if staff_height <= 0:
        raise ValueError("staff height must be positive")
    height, width = gray.shape
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty crop box {box!r}")
    crop = gray[y0:y1, x0:x1]
    scale = target_staff_px / staff_height
    size = (max(1, int(round(crop.shape[1] * scale))), max(1, int(round(crop.shape[0] * scale))))
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    system, _ = _image_processor().normalize_system(resized.astype(np.float32) / 255.0)
    return np.clip(np.round(system * 255.0), 0, 255).astype(np.uint8)


def crop_systems(gray: np.ndarray, system_boxes: np.ndarray, staff_boxes: np.ndarray) -> list[SystemCrop]:
    """Systems of one slide in reading order, each with its staff height and normalised image.

    Systems without a detected staff keep ``image=None`` so the filters can count them.
    """
    crops = []
    for box in order_boxes(system_boxes):
        staff_height = staff_height_for(box, staff_boxes)
        image = None
        if staff_height > 0:
            try:
                image = normalise_system(gray, box, staff_height)
            except ValueError:
                image = None
        crops.append(SystemCrop(box=box, staff_height=staff_height, image=image))
    return crops
