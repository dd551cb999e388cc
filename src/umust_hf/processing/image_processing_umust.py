"""Score image processor: pages or systems -> normalised grayscale system crops for the RQ-VAE.

Steps per input image (any PIL mode, NumPy or torch array, any size):

1. grayscale in [0, 1] (transparent pixels composited onto white);
2. optional split into systems: ``system_boxes`` given by the caller, or a ``detector`` callable
   (the YOLO system detector of :mod:`umust_hf.ytsv`); without either the image is one system;
3. staff height estimated from the horizontal projection of dark pixels (staff-line runs grouped
   into five-line staves) and the crop rescaled so that a staff measures ``staff_height`` pixels
   (top line to bottom line);
4. crop (centred on the staves) or pad with white to ``system_height`` rows, pad the width with
   white to a multiple of ``patch_size``, batch with white padding to the widest system.

Output pixel values are in [-1, 1] with white = 1 (what :class:`UMustImageCodec` expects).

Token-sequence helpers live here as well: the RQ-VAE grid ``(rows, columns, K)`` of one system
is read column by column (all rows of column 0 top to bottom, then column 1, ...), so the
sequence runs left to right through the music; systems are joined with a SEP bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from transformers import AutoImageProcessor
from transformers.image_processing_backends import TorchvisionBackend
from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import ImagesKwargs

from ..constants import PATCH_SIZE, STAFF_HEIGHT_PX, SYSTEM_HEIGHT_PX
from ..errors import UserError
from ..modeling.configuration_image_codec import UMustImageCodecConfig
from ..modeling.vocabulary_umust import EOS_ID, PAD_ID, SEP_ID, Modality, UnifiedVocabulary

#: A box ``(x0, y0, x1, y1)`` in pixels of the input image.
Box = tuple[float, float, float, float]
#: ``detector(gray_page (H, W) float in [0, 1]) -> boxes of the systems on the page``.
SystemDetector = Callable[[np.ndarray], Sequence[Box]]

def sep_bundle(num_codebooks: int) -> np.ndarray:
    """`(1, num_codebooks)` row put between two systems: SEP at codebook 0, PAD at the others (like EOS)."""
    row = np.full((1, num_codebooks), PAD_ID, dtype=np.int64)
    row[0, 0] = SEP_ID
    return row


# --------------------------------------------------------------------------- grayscale
def to_grayscale(image: Any, where: str = "image") -> np.ndarray:
    """Any PIL image / array / tensor -> `(H, W)` float32 in [0, 1], alpha composited onto white.

    Arrays may be `(H, W)`, `(H, W, C)` or `(C, H, W)` with C in {1, 2, 3, 4}; integer arrays are
    scaled by their dtype's maximum, float arrays must already lie in [0, 1].
    """
    if isinstance(image, Image.Image):
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(canvas, rgba)
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(image, dtype=np.float64)
            peak = 65535.0 if array.max(initial=0) > 255 else 255.0
            gray = array / peak
        else:
            gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
        return _check_size(gray.astype(np.float32), where)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise UserError(f"{where}: expected a PIL image, NumPy array or torch tensor, got {type(image).__name__}")
    array = image
    if array.ndim == 3 and array.shape[0] in (1, 2, 3, 4) and array.shape[-1] not in (1, 2, 3, 4):
        array = np.moveaxis(array, 0, -1)  # channels first -> last
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 2, 3, 4):
        raise UserError(f"{where}: expected an array of shape (H, W), (H, W, C) or (C, H, W), got {image.shape}")
    if array.dtype == np.bool_:
        values = array.astype(np.float32)
    elif np.issubdtype(array.dtype, np.integer):
        values = array.astype(np.float32) / float(np.iinfo(array.dtype).max)
    else:
        values = array.astype(np.float32)
        if array.size and (np.nanmin(values) < 0.0 or np.nanmax(values) > 1.0 or np.isnan(values).any()):
            raise UserError(f"{where}: float pixel values must lie in [0, 1]")
    channels = values.shape[-1]
    alpha = values[..., -1:] if channels in (2, 4) else None
    color = values[..., :3] if channels >= 3 else values[..., :1]
    gray = color @ np.array([0.299, 0.587, 0.114], np.float32) if color.shape[-1] == 3 else color[..., 0]
    if alpha is not None:
        gray = gray * alpha[..., 0] + (1.0 - alpha[..., 0])
    return _check_size(gray.astype(np.float32), where)


def _check_size(gray: np.ndarray, where: str) -> np.ndarray:
    if gray.ndim != 2 or gray.shape[0] == 0 or gray.shape[1] == 0:
        raise UserError(f"{where}: the image is empty (size {gray.shape[::-1]})")
    return gray


# --------------------------------------------------------------------------- staff lines
@dataclass(frozen=True)
class Staff:
    """One five-line staff: rows of its top and bottom line centres (pixels)."""

    top: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


def find_staves(gray: np.ndarray, dark_threshold: float = 0.8, min_coverage: float = 0.3) -> list[Staff]:
    """Find five-line staves in a `(H, W)` grayscale image.

    A pixel is dark below ``dark_threshold`` (high, because thin anti-aliased lines render
    gray). Rows whose share of dark pixels reaches ``min_coverage`` and half the busiest row are
    staff-line rows; adjacent ones merge into one line; five consecutive lines with nearly equal
    gaps form a staff. Returns staves from top to bottom (empty if none is found).
    """
    dark = gray < dark_threshold
    projection = dark.mean(axis=1)
    peak = float(projection.max(initial=0.0))
    if peak < min_coverage:
        return []
    is_line = projection >= max(min_coverage, 0.5 * peak)
    centres: list[float] = []
    start = None
    for row, flag in enumerate(np.append(is_line, False)):
        if flag and start is None:
            start = row
        elif not flag and start is not None:
            centres.append((start + row - 1) / 2.0)
            start = None
    staves: list[Staff] = []
    index = 0
    while index + 5 <= len(centres):
        gaps = np.diff(centres[index : index + 5])
        if gaps.min() >= 2.0 and gaps.max() <= 1.25 * gaps.min():
            staves.append(Staff(centres[index], centres[index + 4]))
            index += 5
        else:
            index += 1
    return staves


def estimate_staff_height(gray: np.ndarray) -> float | None:
    """Median staff height (top line to bottom line, pixels) of `(H, W)` grayscale, or None."""
    staves = find_staves(gray)
    if not staves:
        return None
    return float(np.median([staff.height for staff in staves]))


# --------------------------------------------------------------------------- geometry
def _resize(gray: np.ndarray, scale: float) -> np.ndarray:
    height, width = gray.shape
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    tensor = torch.from_numpy(np.ascontiguousarray(gray))[None, None]
    resized = F.interpolate(tensor, size=size, mode="bilinear", antialias=scale < 1.0, align_corners=False)
    return resized[0, 0].clamp(0.0, 1.0).numpy()


def _fit_height(gray: np.ndarray, height: int, centre: float | None) -> np.ndarray:
    """Pad (centred) or crop (window centred on ``centre``) `(h, W)` to exactly `(height, W)` with white."""
    rows, width = gray.shape
    if rows <= height:
        top = (height - rows) // 2
        out = np.ones((height, width), np.float32)
        out[top : top + rows] = gray
        return out
    centre = rows / 2.0 if centre is None else centre
    top = int(round(centre - height / 2.0))
    top = min(max(top, 0), rows - height)
    return gray[top : top + height]


def _ink_centre(gray: np.ndarray) -> float | None:
    rows = np.nonzero((gray < 0.5).any(axis=1))[0]
    return None if rows.size == 0 else (rows[0] + rows[-1]) / 2.0


# --------------------------------------------------------------------------- processor
class UMustImageProcessorKwargs(ImagesKwargs, total=False):
    """Settings of :class:`UMustImageProcessor` (saved in ``preprocessor_config.json``)."""

    staff_height: int
    system_height: int
    patch_size: int
    normalize_staff_height: bool
    staff_height_tolerance: float


class UMustImageProcessor(TorchvisionBackend):
    r"""Page or system images -> `pixel_values (B, 1, system_height, W_max)` in [-1, 1] plus masks.

    Returns a `BatchFeature` with
      - `pixel_values` `(B, 1, H, W_max)` float32, white = 1, black = -1;
      - `pixel_mask` `(B, H, W_max)` int64, 1 on real pixels, 0 on width padding;
      - `patch_mask` `(B, H/16, W_max/16)` int64, the same per RQ-VAE token;
      - `image_index` `(B,)` int64, which input image each system came from;
      - `scale` `(B,)` float32, the resize factor applied to each system.
    """

    valid_kwargs = UMustImageProcessorKwargs
    model_input_names = ["pixel_values", "pixel_mask"]
    staff_height = STAFF_HEIGHT_PX
    system_height = SYSTEM_HEIGHT_PX
    patch_size = PATCH_SIZE
    normalize_staff_height = True
    staff_height_tolerance = 0.05
    do_convert_rgb = False

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        if self.system_height % self.patch_size:
            raise ValueError(f"system_height {self.system_height} must be a multiple of patch_size {self.patch_size}")

    # ------------------------------------------------------------- single system
    def normalize_system(self, gray: np.ndarray) -> tuple[np.ndarray, float]:
        """`(h, w)` grayscale system -> `(system_height, w')` grayscale and the scale applied."""
        scale = 1.0
        staves = find_staves(gray)
        if self.normalize_staff_height and staves:
            ratio = self.staff_height / float(np.median([staff.height for staff in staves]))
            if abs(ratio - 1.0) > self.staff_height_tolerance:
                scale = ratio
                gray = _resize(gray, scale)
        # centre the window on the staves (measured before resizing: thin lines blur when shrunk)
        centre = (staves[0].top + staves[-1].bottom) / 2.0 * scale if staves else _ink_centre(gray)
        gray = _fit_height(gray, self.system_height, centre)
        return gray, scale

    def split_systems(
        self, gray: np.ndarray, boxes: Sequence[Box] | None, where: str
    ) -> list[np.ndarray]:
        """Crop the systems given by ``boxes`` (reading order: top to bottom), or the whole image."""
        if boxes is None:
            return [gray]
        if len(boxes) == 0:
            raise UserError(f"{where}: no system boxes (the detector found no system on this page)")
        height, width = gray.shape
        crops = []
        for number, box in enumerate(sorted(boxes, key=lambda b: (b[1], b[0]))):
            if len(box) != 4:
                raise UserError(f"{where}: system box {number} must be (x0, y0, x1, y1), got {box}")
            x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
            x1, y1 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
            if x1 <= x0 or y1 <= y0:
                raise UserError(f"{where}: system box {number} {tuple(box)} is empty inside a {width} x {height} image")
            crops.append(gray[y0:y1, x0:x1])
        return crops

    # ------------------------------------------------------------------ batch
    def preprocess(  # type: ignore[override]
        self,
        images: Any,
        system_boxes: Sequence[Sequence[Box] | None] | None = None,
        detector: SystemDetector | None = None,
        return_tensors: str | None = "pt",
        **kwargs: Any,
    ) -> BatchFeature:
        """Normalise one image or a list of images (pages or systems) into a padded batch of systems."""
        if isinstance(images, (list, tuple)):
            images = list(images)
        else:
            images = [images]
        if not images:
            raise UserError("no images given: pass at least one page or system image")
        if system_boxes is not None and len(system_boxes) != len(images):
            raise UserError(f"system_boxes has {len(system_boxes)} entries for {len(images)} images")
        if kwargs:
            unknown = ", ".join(sorted(kwargs))
            raise TypeError(f"UMustImageProcessor got unexpected arguments: {unknown}")
        systems, image_index, scales = [], [], []
        for number, image in enumerate(images):
            where = f"image {number}"
            gray = to_grayscale(image, where)
            boxes = system_boxes[number] if system_boxes is not None else (detector(gray) if detector else None)
            for crop in self.split_systems(gray, boxes, where):
                system, scale = self.normalize_system(crop)
                systems.append(system)
                image_index.append(number)
                scales.append(scale)
        return self._batch(systems, image_index, scales)

    def _batch(self, systems: list[np.ndarray], image_index: list[int], scales: list[float]) -> BatchFeature:
        patch = self.patch_size
        widths = [system.shape[1] for system in systems]
        padded_width = -(-max(widths) // patch) * patch
        pixels = np.ones((len(systems), 1, self.system_height, padded_width), np.float32)
        pixel_mask = np.zeros((len(systems), self.system_height, padded_width), np.int64)
        for row, (system, width) in enumerate(zip(systems, widths)):
            pixels[row, 0, :, :width] = system
            pixel_mask[row, :, :width] = 1
        columns = -(-np.asarray(widths) // patch)  # a patch counts if any of its pixels is real
        patch_mask = (np.arange(padded_width // patch)[None, :] < columns[:, None]).astype(np.int64)
        patch_mask = np.repeat(patch_mask[:, None, :], self.system_height // patch, axis=1)
        data = {
            "pixel_values": torch.from_numpy(pixels * 2.0 - 1.0),
            "pixel_mask": torch.from_numpy(pixel_mask),
            "patch_mask": torch.from_numpy(patch_mask),
            "image_index": torch.tensor(image_index, dtype=torch.int64),
            "scale": torch.tensor(scales, dtype=torch.float32),
        }
        return BatchFeature(data=data, tensor_type=None)

    def postprocess(self, pixel_values: torch.Tensor, patch_mask: torch.Tensor | None = None) -> list[Any]:
        """`(B, 1, H, W)` pixels in [-1, 1] -> grayscale PIL images (width padding removed if masked)."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 1:
            raise ValueError(f"pixel_values must have shape (B, 1, H, W), got {tuple(pixel_values.shape)}")
        out = []
        for row in range(pixel_values.shape[0]):
            image = ((pixel_values[row, 0].detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round()
            if patch_mask is not None:
                columns = int(patch_mask[row].reshape(-1, patch_mask.shape[-1]).max(dim=0).values.sum())
                image = image[:, : columns * self.patch_size]
            out.append(Image.fromarray(image.to(torch.uint8).numpy(), mode="L"))
        return out


# --------------------------------------------------------------------------- augmentation
#: Pixel shifts of the paper's 32 token variants (Appendix D.1.4): 4 vertical x 8 horizontal
#: phases spread evenly over one 16-pixel patch (the paper gives the counts, not the amounts).
VERTICAL_SHIFTS: tuple[int, ...] = (0, 4, 8, 12)
HORIZONTAL_SHIFTS: tuple[int, ...] = (0, 2, 4, 6, 8, 10, 12, 14)


def image_shift_variants(
    pixel_values: torch.Tensor,
    vertical: Sequence[int] = VERTICAL_SHIFTS,
    horizontal: Sequence[int] = HORIZONTAL_SHIFTS,
    patch_size: int = PATCH_SIZE,
) -> torch.Tensor:
    """`(1, H, W)` or `(C, H, W)` system in [-1, 1] -> `(len(vertical) * len(horizontal), C, H, W + patch)`.

    Variant ``i * len(horizontal) + j`` moves the content down by ``vertical[i]`` and right by
    ``horizontal[j]`` pixels on a white canvas. The height stays fixed (the bottom ``vertical[i]``
    rows, normally blank margin, fall off); the canvas is one patch wider so no music is lost.
    """
    if pixel_values.ndim != 3:
        raise ValueError(f"expected one system of shape (C, H, W), got {tuple(pixel_values.shape)}")
    channels, height, width = pixel_values.shape
    if max(vertical, default=0) >= height or max(horizontal, default=0) > patch_size:
        raise ValueError("shifts must be smaller than the image height and at most one patch wide")
    variants = pixel_values.new_ones((len(vertical) * len(horizontal), channels, height, width + patch_size))
    for i, dy in enumerate(vertical):
        for j, dx in enumerate(horizontal):
            variants[i * len(horizontal) + j, :, dy:, dx : dx + width] = pixel_values[:, : height - dy]
    return variants


# --------------------------------------------------------------------------- token order
def flatten_codes(codes: Any) -> np.ndarray:
    """`(rows, columns, K)` codes -> `(rows * columns, K)`, column by column (top to bottom, then right)."""
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise ValueError(f"codes must have shape (rows, columns, K), got {codes.shape}")
    return codes.transpose(1, 0, 2).reshape(-1, codes.shape[-1])


def unflatten_codes(flat: Any, rows: int) -> np.ndarray:
    """Inverse of :func:`flatten_codes`: `(L, K)` -> `(rows, L / rows, K)`."""
    flat = np.asarray(flat)
    if flat.ndim != 2:
        raise ValueError(f"flattened codes must have shape (L, K), got {flat.shape}")
    if rows < 1 or len(flat) % rows:
        raise ValueError(f"{len(flat)} token bundles do not fill whole columns of {rows} rows")
    return flat.reshape(len(flat) // rows, rows, flat.shape[-1]).transpose(1, 0, 2)


def systems_to_bundle(systems: Sequence[Any], vocabulary: UnifiedVocabulary) -> np.ndarray:
    """Codes of several systems, each `(rows, columns, K)` -> one `(L, K)` unified-id bundle with SEP rows."""
    if not systems:
        raise ValueError("no systems to join")
    parts: list[np.ndarray] = []
    for number, codes in enumerate(systems):
        if number:
            parts.append(sep_bundle(vocabulary.num_codebooks))
        parts.append(vocabulary.to_bundle(flatten_codes(codes), Modality.IMAGE))
    return np.concatenate(parts, axis=0)


def bundle_to_systems(bundle: Any, vocabulary: UnifiedVocabulary, rows: int) -> list[np.ndarray]:
    """Inverse of :func:`systems_to_bundle`: split at SEP rows, drop trailing EOS/PAD rows, unflatten."""
    bundle = np.asarray(bundle, dtype=np.int64)
    if bundle.ndim != 2 or bundle.shape[1] != vocabulary.num_codebooks:
        raise ValueError(f"a bundle must have shape (L, {vocabulary.num_codebooks}), got {bundle.shape}")
    heads = bundle[:, 0]
    stop = np.nonzero((heads == EOS_ID) | (heads == PAD_ID))[0]
    if stop.size:
        bundle = bundle[: stop[0]]
        heads = heads[: stop[0]]
    cuts = np.nonzero(heads == SEP_ID)[0]
    pieces = np.split(bundle, cuts)
    systems = []
    for number, piece in enumerate(pieces):
        piece = piece[1:] if number else piece  # drop the SEP row itself
        systems.append(unflatten_codes(vocabulary.from_bundle(piece, Modality.IMAGE), rows))
    return systems


__all__ = [
    "Staff",
    "UMustImageProcessor",
    "bundle_to_systems",
    "estimate_staff_height",
    "find_staves",
    "image_shift_variants",
    "flatten_codes",
    "sep_bundle",
    "systems_to_bundle",
    "to_grayscale",
    "unflatten_codes",
]


def register() -> None:
    """Make ``AutoImageProcessor`` resolve ``UMustImageProcessor`` (by class name and codec config); idempotent."""
    AutoImageProcessor.register(
        UMustImageCodecConfig, image_processor_classes={"torchvision": UMustImageProcessor}, exist_ok=True
    )
