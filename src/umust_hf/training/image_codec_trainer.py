"""Training loop of the score-image codec (paper Appendix D.1.3) and token baking with shifts.

Loss = ink-weighted L1 reconstruction + ``perceptual_weight`` x weighted feature MSE (OMR-encoder
stand-in, see :mod:`.perceptual`) + the quantiser's commitment loss. Codebooks learn by EMA.

Resolution-adaptive batches: each step draws one crop size from ``crop_sizes`` and sets the batch
size so that every step sees about ``pixels_per_step`` pixels (small crops -> big batches, whole
system heights -> small ones). Training on small crops only leaves artefacts at unseen sizes
(the paper's Figure 11), hence the mixture, which always includes full-height crops.

Plain PyTorch loop (the codec has no Trainer-shaped forward loss), resumable: every
``save_every`` steps the model, optimiser and RNG state go to ``OUT/checkpoint`` atomically;
the final model goes to ``OUT`` with ``save_pretrained`` beside the image processor.
"""

from __future__ import annotations

import logging
import math
import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import UserError
from ..io_utils import atomic_write_json
from ..modeling.configuration_image_codec import UMustImageCodecConfig
from ..modeling.modeling_image_codec import UMustImageCodec
from ..processing.image_processing_umust import UMustImageProcessor, image_shift_variants, to_grayscale
from .codec_loop import TrainingBudget, run_training_steps
from .perceptual import PerceptualLoss, random_conv_features

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "training_state.pt"


@dataclass
class ImageCodecTrainingConfig:
    """Hyper-parameters of :func:`train_image_codec` (saved as ``OUT/training_args.json``)."""

    learning_rate: float = 1e-3
    adam_betas: tuple[float, float] = (0.5, 0.9)
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    #: (height, width) crop sizes, each a multiple of 16, drawn uniformly per step.
    crop_sizes: list[tuple[int, int]] = field(default_factory=lambda: [(64, 64), (128, 128), (192, 256)])
    pixels_per_step: int = 64 * 64 * 8
    max_batch_size: int = 64
    ink_weight: float = 3.0
    perceptual_weight: float = 0.5
    perceptual_layer_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    save_every: int = 200
    log_every: int = 10
    holdout_fraction: float = 0.1


# --------------------------------------------------------------------------- data
def _list_image_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def load_system_images(data_dir: str | os.PathLike, holdout_fraction: float = 0.1) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Normalised `(192, W)` grayscale systems in [0, 1] for training and held-out evaluation.

    ``data_dir`` is an embedded corpus directory (its ``train`` split for training, ``validation``
    or ``test`` held out) or any folder of system/page images (sorted; the last
    ``holdout_fraction`` held out). Every image goes through :class:`UMustImageProcessor`.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"--data {data_dir}: no such directory")
    files = [] if (data_dir / "dataset_dict.json").is_file() else _list_image_files(data_dir)
    if files:
        raw = {"train": [], "heldout": []}
        cut = len(files) - max(1, int(round(holdout_fraction * len(files)))) if len(files) > 1 else len(files)
        for number, path in enumerate(files):
            try:
                with Image.open(path) as image:
                    raw["train" if number < cut else "heldout"].append(to_grayscale(image, str(path)))
            except OSError as error:
                raise UserError(f"{path}: not a readable image ({error})") from None
    else:
        raw = _load_corpus_images(data_dir)
    processor = UMustImageProcessor()
    out = {}
    for split, images in raw.items():
        out[split] = [processor.normalize_system(image)[0] for image in images]
    if not out["train"]:
        raise UserError(f"--data {data_dir}: no training images found")
    return out["train"], out["heldout"]


def _load_corpus_images(data_dir: Path) -> dict[str, list[np.ndarray]]:
    try:
        from ..data.embedded import load_embedded_corpus  # optional: guarded, --data may hold image files only
    except ImportError as error:
        raise UserError(f"--data {data_dir}: no image files, and the embedded corpus loader is unavailable ({error})") from None
    try:
        corpus = load_embedded_corpus(data_dir)
    except UserError as error:
        raise UserError(f"--data {data_dir}: no image files, and {error}") from None
    heldout_split = next((name for name in ("validation", "test") if name in corpus), None)
    if "train" not in corpus or "image" not in corpus["train"].column_names:
        raise UserError(f"--data {data_dir}: the corpus has no train split with an 'image' column")
    train = [to_grayscale(image, f"{data_dir} train image {i}") for i, image in enumerate(corpus["train"]["image"])]
    heldout = []
    if heldout_split is not None:
        heldout = [
            to_grayscale(image, f"{data_dir} {heldout_split} image {i}")
            for i, image in enumerate(corpus[heldout_split]["image"])
        ]
    return {"train": train, "heldout": heldout}


class CropSampler:
    """Random white-padded crops of the training systems, resolution-adaptive batch sizes."""

    def __init__(self, images: list[np.ndarray], args: ImageCodecTrainingConfig, seed: int):
        for height, width in args.crop_sizes:
            if height % 16 or width % 16 or height <= 0 or width <= 0:
                raise UserError(f"crop size {height} x {width} must be positive multiples of 16")
        self.images = images
        self.args = args
        self.rng = random.Random(seed)

    def batch_size(self, height: int, width: int) -> int:
        return max(1, min(self.args.max_batch_size, self.args.pixels_per_step // (height * width)))

    def crop(self, image: np.ndarray, height: int, width: int) -> np.ndarray:
        out = np.ones((height, width), np.float32)
        rows, columns = image.shape
        top = self.rng.randint(0, max(0, rows - height))
        left = self.rng.randint(0, max(0, columns - width))
        piece = image[top : top + height, left : left + width]
        out[: piece.shape[0], : piece.shape[1]] = piece
        return out

    def __call__(self) -> torch.Tensor:
        """One `(B, 1, h, w)` batch in [-1, 1]."""
        height, width = self.rng.choice(self.args.crop_sizes)
        crops = [self.crop(self.rng.choice(self.images), height, width) for _ in range(self.batch_size(height, width))]
        return torch.from_numpy(np.stack(crops)[:, None] * 2.0 - 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.setstate(state["rng"])


# --------------------------------------------------------------------------- loss
def codec_loss(
    model: UMustImageCodec,
    pixel_values: torch.Tensor,
    perceptual: PerceptualLoss | None,
    args: ImageCodecTrainingConfig,
) -> dict[str, torch.Tensor]:
    """All loss terms for one `(B, 1, H, W)` batch; ``"loss"`` is their weighted sum."""
    output = model(pixel_values)
    weights = 1.0 + args.ink_weight * (pixel_values < 0).float()  # dark pixels (ink) count more
    reconstruction = (weights * (output.reconstruction - pixel_values).abs()).sum() / weights.sum()
    terms = {"reconstruction": reconstruction, "commitment": output.quantizer_loss}
    loss = reconstruction + output.quantizer_loss
    if perceptual is not None and args.perceptual_weight > 0:
        terms["perceptual"] = perceptual(output.reconstruction, pixel_values)
        loss = loss + args.perceptual_weight * terms["perceptual"]
    terms["loss"] = loss
    return terms


@torch.no_grad()
def reconstruction_psnr(model: UMustImageCodec, images: list[np.ndarray], max_width: int = 1024) -> float:
    """Mean PSNR (dB, pixels in [0, 1]) of encode -> decode over `(H, W)` systems (width padded to 16)."""
    if not images:
        raise ValueError("no images to evaluate")
    was_training = model.training
    model.eval()
    scores = []
    for image in images:
        image = image[:, :max_width]
        width = -(-image.shape[1] // 16) * 16
        canvas = np.ones((image.shape[0], width), np.float32)
        canvas[:, : image.shape[1]] = image
        pixels = torch.from_numpy(canvas)[None, None] * 2.0 - 1.0
        decoded = model.decode(model.encode(pixels))
        mse = F.mse_loss((decoded + 1.0) / 2.0, (pixels + 1.0) / 2.0).item()
        scores.append(10.0 * math.log10(1.0 / max(mse, 1e-10)))
    model.train(was_training)
    return float(np.mean(scores))


# --------------------------------------------------------------------------- checkpoints
def _save_checkpoint(out_dir: Path, model, optimizer, sampler: CropSampler, step: int, history: list) -> None:
    """Write ``OUT/checkpoint`` atomically (temp dir, then rename)."""
    final = out_dir / CHECKPOINT_DIR
    temp = out_dir / f"{CHECKPOINT_DIR}.tmp"
    old = out_dir / f"{CHECKPOINT_DIR}.old"
    shutil.rmtree(temp, ignore_errors=True)
    model.save_pretrained(temp)
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "sampler": sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "history": history,
        },
        temp / STATE_FILE,
    )
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(temp, final)
    shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, payload: Any) -> None:
    atomic_write_json(path, payload, default=str)


def resolve_codec_config(config: UMustImageCodecConfig | str | None) -> UMustImageCodecConfig:
    """A config object, a preset name (``"cpu"``/``"paper"``) or None (``"cpu"``)."""
    if config is None or config == "cpu":
        return UMustImageCodecConfig.cpu()
    if config == "paper":
        return UMustImageCodecConfig.paper()
    if isinstance(config, UMustImageCodecConfig):
        return config
    raise UserError(f"unknown image codec preset {config!r}; expected 'cpu' or 'paper'")


# --------------------------------------------------------------------------- loop
def train_image_codec(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    max_steps: int | None = None,
    minutes: float | None = None,
    seed: int = 0,
    show_progress: bool = True,
    config: UMustImageCodecConfig | str | None = None,
    training_config: ImageCodecTrainingConfig | None = None,
    perceptual: PerceptualLoss | None = None,
) -> dict[str, Any]:
    """Train (or resume) an image codec on ``data_dir``; save it to ``out_dir``; return a summary.

    Stops after ``max_steps`` optimiser steps or ``minutes`` of wall time, whichever comes first
    (at least one must be given; :class:`~.codec_loop.TrainingBudget`). ``perceptual`` defaults to the random-conv OMR stand-in.
    """
    budget = TrainingBudget.resolve(max_steps, minutes, default_steps=None)
    args = training_config or ImageCodecTrainingConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    np.random.seed(seed)

    train_images, heldout_images = load_system_images(data_dir, args.holdout_fraction)
    checkpoint = out_dir / CHECKPOINT_DIR
    if (checkpoint / STATE_FILE).is_file():
        model = UMustImageCodec.from_pretrained(checkpoint)
        state = torch.load(checkpoint / STATE_FILE, weights_only=False)
        logger.info("resuming from %s at step %d", checkpoint, state["step"])
    else:
        model = UMustImageCodec(resolve_codec_config(config))
        model.reset_codebook_usage()  # seed the codebooks from the first batches
        state = None
    if perceptual is None:
        perceptual = PerceptualLoss(random_conv_features(), args.perceptual_layer_weights)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=args.learning_rate, betas=tuple(args.adam_betas), weight_decay=args.weight_decay
    )
    sampler = CropSampler(train_images, args, seed)
    step, history = 0, []
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        step, history = state["step"], state["history"]

    def train_step(index: int) -> dict[str, float]:
        batch = sampler()
        terms = codec_loss(model, batch, perceptual, args)
        optimizer.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        record = {"step": index + 1, "crop": list(batch.shape[-2:]), "batch": batch.shape[0]}
        record.update({name: round(float(value.detach()), 5) for name, value in terms.items()})
        history.append(record)
        return record

    model.train()
    loop = run_training_steps(
        train_step, start_step=step, budget=budget, description="image codec", show_progress=show_progress,
        checkpoint=lambda at: _save_checkpoint(out_dir, model, optimizer, sampler, at, history),
        checkpoint_every=args.save_every, postfix_every=args.log_every,
        postfix=lambda record: {"loss": f"{record['loss']:.4f}", "rec": f"{record['reconstruction']:.4f}"},
    )
    step = loop.steps

    model.eval()
    model.save_pretrained(out_dir)
    UMustImageProcessor().save_pretrained(out_dir)
    summary = {
        "steps": step,
        "seconds": round(loop.seconds, 1),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_images": len(train_images),
        "heldout_images": len(heldout_images),
        "heldout_psnr_db": reconstruction_psnr(model, heldout_images) if heldout_images else None,
        "first_loss": history[0]["loss"] if history else None,
        "last_loss": history[-1]["loss"] if history else None,
    }
    _write_json(out_dir / "training_args.json", asdict(args))
    _write_json(out_dir / "training_summary.json", summary)
    _write_json(out_dir / "training_log.json", history)
    return summary


# --------------------------------------------------------------------------- baking
@torch.no_grad()
def bake_shift_variant_codes(model: UMustImageCodec, pixel_values: torch.Tensor, batch_size: int = 8) -> torch.LongTensor:
    """Codes of the 32 pixel-shift variants of one `(1, H, W)` system -> `(32, H/16, W/16 + 1, K)`.

    Variant order and shift amounts: :func:`umust_hf.processing.image_processing_umust.image_shift_variants`.
    """
    variants = image_shift_variants(pixel_values, patch_size=model.downsample_factor)
    return torch.cat([model.encode(chunk) for chunk in variants.split(batch_size)], dim=0)


__all__ = [
    "CropSampler",
    "ImageCodecTrainingConfig",
    "bake_shift_variant_codes",
    "codec_loss",
    "load_system_images",
    "reconstruction_psnr",
    "resolve_codec_config",
    "train_image_codec",
]
