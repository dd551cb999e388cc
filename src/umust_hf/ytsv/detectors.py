"""YOLOv8 detectors for music systems and staff height (paper Appendix C.2, Fig. 9).

Two single-class detectors are trained from scratch (``YOLO("yolov8n.yaml")``; nothing is
downloaded) on labelled pages (:mod:`umust_hf.ytsv.pages`): one finds systems, the other
finds staves, whose box height is the staff height used to normalise each system. Each
page is used twice: as the full page and as a "slide" (a band of one to three systems
letterboxed on a 16:9 canvas), which is what score videos show.

Weights are not shipped; ``umust ytsv --train-detectors`` writes ``system.pt``,
``staff.pt`` and ``metrics.json`` into a directory that :class:`SlideDetector` loads.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from ..io_utils import atomic_write, atomic_write_json
from .pages import LabelledPage, system_band
from .synthetic import page_on_canvas

logger = logging.getLogger(__name__)

DETECTOR_KINDS = ("system", "staff")
#: Default folder for trained detectors (git-ignored with the rest of umust-data/).
DEFAULT_DETECTOR_DIR = Path("umust-data") / "ytsv-detectors"


def _offline_ultralytics():
    """Import ultralytics with downloads, telemetry and font fetching disabled."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    from ultralytics import YOLO  # heavy: ultralytics
    from ultralytics.utils import SETTINGS  # heavy: ultralytics

    try:
        SETTINGS.update({"sync": False})
    except Exception:  # pragma: no cover - settings file not writable
        pass
    return YOLO


def _slide_view(page: LabelledPage, rng: random.Random, size: tuple[int, int] = (1280, 720)) -> LabelledPage | None:
    """A band of 1-3 consecutive systems of ``page`` letterboxed on a white ``size`` canvas."""
    if len(page.system_boxes) == 0:
        return None
    count = rng.randint(1, min(3, len(page.system_boxes)))
    first = rng.randint(0, len(page.system_boxes) - count)
    view = page_on_canvas(system_band(page, first, count), size)
    view.source = page.source + "#slide"
    return view


def _yolo_lines(boxes: np.ndarray, width: int, height: int) -> str:
    lines = []
    for x0, y0, x1, y1 in boxes:
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        lines.append(f"0 {(x0 + x1) / 2 / width:.6f} {(y0 + y1) / 2 / height:.6f} {(x1 - x0) / width:.6f} {(y1 - y0) / height:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def write_yolo_dataset(
    pages: Iterable[LabelledPage], out_dir: str | os.PathLike[str], *, val_fraction: float = 0.2, seed: int = 0, slides: bool = True
) -> dict[str, Path]:
    """Write one YOLO dataset per detector kind: ``out_dir/{system,staff}/{images,labels}/{train,val}``.

    Pages are split by source score (not by page) so held-out pages come from unseen
    pieces. Returns ``{kind: data.yaml path}``.
    """
    out = Path(out_dir)
    pages = list(pages)
    if len(pages) < 2:
        raise UserError(f"need at least 2 labelled pages to train and validate detectors, got {len(pages)}")
    rng = random.Random(seed)
    scores = sorted({p.source.split("#")[0] for p in pages})
    rng.shuffle(scores)
    n_val = max(1, int(round(len(scores) * val_fraction)))
    if n_val >= len(scores):
        n_val = len(scores) - 1 if len(scores) > 1 else 0
    val_scores = set(scores[:n_val])
    items: list[tuple[str, LabelledPage]] = []
    for page in pages:
        split = "val" if page.source.split("#")[0] in val_scores or (not val_scores and not items) else "train"
        items.append((split, page))
        if slides:
            view = _slide_view(page, rng)
            if view is not None:
                items.append((split, view))
    yamls = {}
    for kind in DETECTOR_KINDS:
        root = out / kind
        for split in ("train", "val"):
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        yaml_path = root / "data.yaml"
        yaml_path.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: {kind}\n")
        yamls[kind] = yaml_path
    for index, (split, page) in enumerate(items):
        stem = f"img{index:05d}"
        height, width = page.image.shape
        first_image = None
        for kind in DETECTOR_KINDS:
            root = out / kind
            image_path = root / "images" / split / f"{stem}.png"
            if first_image is None:
                Image.fromarray(page.image).save(image_path)
                first_image = image_path
            else:
                shutil.copyfile(first_image, image_path)
            boxes = page.system_boxes if kind == "system" else page.staff_boxes
            (root / "labels" / split / f"{stem}.txt").write_text(_yolo_lines(boxes, width, height))
    return yamls


@dataclass
class TrainingConfig:
    """Training settings; defaults fit a few CPU minutes per detector."""

    epochs: int = 12
    imgsz: int = 416
    #: Small batches without gradient accumulation (``nbs = batch``): ultralytics otherwise
    #: accumulates to 64 images per step, i.e. about one optimiser step per epoch here.
    batch: int = 4
    warmup_epochs: float = 1.0
    device: str = "cpu"
    seed: int = 0
    model_yaml: str = "yolov8n.yaml"


def train_detector(data_yaml: str | os.PathLike[str], kind: str, out_dir: str | os.PathLike[str], config: TrainingConfig | None = None) -> Path:
    """Train one detector from scratch; returns the path of the copied best weights ``out_dir/{kind}.pt``."""
    config = config or TrainingConfig()
    YOLO = _offline_ultralytics()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = out / "runs"
    model = YOLO(config.model_yaml)
    model.train(
        data=str(data_yaml),
        epochs=config.epochs,
        imgsz=config.imgsz,
        batch=config.batch,
        nbs=config.batch,
        warmup_epochs=config.warmup_epochs,
        device=config.device,
        workers=0,
        amp=False,
        plots=False,
        seed=config.seed,
        deterministic=True,
        project=str(runs.resolve()),
        name=kind,
        exist_ok=True,
        verbose=False,
        pretrained=False,
    )
    weights_dir = runs / kind / "weights"
    best = weights_dir / "best.pt" if (weights_dir / "best.pt").exists() else weights_dir / "last.pt"
    if not best.exists():
        raise RuntimeError(f"ultralytics wrote no weights under {weights_dir}")
    target = out / f"{kind}.pt"
    atomic_write(target, lambda temporary: shutil.copyfile(best, temporary))
    return target


def evaluate_detector(weights: str | os.PathLike[str], data_yaml: str | os.PathLike[str], *, imgsz: int = 640, device: str = "cpu") -> dict[str, float]:
    """Precision, recall, mAP50 and mAP50-95 on the dataset's held-out ``val`` pages."""
    YOLO = _offline_ultralytics()
    model = YOLO(str(weights))
    project = Path(weights).resolve().parent / "runs"  # keep ultralytics from writing ./runs
    metrics = model.val(
        data=str(data_yaml), split="val", imgsz=imgsz, batch=8, device=device, workers=0, plots=False, verbose=False,
        project=str(project), name=f"val-{Path(weights).stem}", exist_ok=True,
    )
    box = metrics.box
    return {"precision": float(box.mp), "recall": float(box.mr), "map50": float(box.map50), "map50_95": float(box.map)}


def train_detectors(
    pages: Iterable[LabelledPage], out_dir: str | os.PathLike[str], config: TrainingConfig | None = None, *, val_fraction: float = 0.2
) -> dict[str, dict[str, float]]:
    """Write the YOLO datasets, train both detectors, evaluate them on held-out pages.

    Writes ``out_dir/{system,staff}.pt`` and ``out_dir/metrics.json``; returns the metrics.
    """
    config = config or TrainingConfig()
    out = Path(out_dir)
    yamls = write_yolo_dataset(pages, out / "dataset", val_fraction=val_fraction, seed=config.seed)
    metrics: dict[str, dict[str, float]] = {}
    for kind in DETECTOR_KINDS:
        weights = train_detector(yamls[kind], kind, out, config)
        metrics[kind] = evaluate_detector(weights, yamls[kind], imgsz=config.imgsz, device=config.device)
        logger.info("%s detector on held-out pages: %s", kind, metrics[kind])
    summary = {
        "metrics": metrics,
        "train_images": len(list((out / "dataset" / "system" / "images" / "train").glob("*.png"))),
        "val_images": len(list((out / "dataset" / "system" / "images" / "val").glob("*.png"))),
        "epochs": config.epochs,
        "imgsz": config.imgsz,
        "model": config.model_yaml,
    }
    atomic_write_json(out / "metrics.json", summary)
    return metrics


class SlideDetector:
    """Trained system and staff detectors applied to one slide.

    ``detect(gray)`` takes an ``(H, W)`` uint8 slide and returns ``(system_boxes (S, 4),
    staff_boxes (T, 4))`` float pixel xyxy.
    """

    def __init__(self, directory: str | os.PathLike[str], *, imgsz: int | None = None, conf: float = 0.25, device: str = "cpu") -> None:
        """``imgsz`` defaults to the training size recorded in ``metrics.json`` (else 640):
        detectors trained at one size miss objects at another."""
        directory = Path(directory)
        missing = [f"{kind}.pt" for kind in DETECTOR_KINDS if not (directory / f"{kind}.pt").exists()]
        if missing:
            raise UserError(
                f"{directory}: no trained detectors ({', '.join(missing)} missing); "
                "train them with `umust ytsv --train-detectors --out DIR` and pass --detectors DIR"
            )
        YOLO = _offline_ultralytics()
        self.models = {kind: YOLO(str(directory / f"{kind}.pt")) for kind in DETECTOR_KINDS}
        if imgsz is None:
            try:
                imgsz = int(json.loads((directory / "metrics.json").read_text())["imgsz"])
            except (OSError, KeyError, ValueError):
                imgsz = 640
        self.imgsz, self.conf, self.device = imgsz, conf, device

    def _boxes(self, kind: str, bgr: np.ndarray) -> np.ndarray:
        result = self.models[kind].predict(bgr, imgsz=self.imgsz, conf=self.conf, device=self.device, verbose=False)[0]
        return result.boxes.xyxy.cpu().numpy().astype(np.float32).reshape(-1, 4)

    def detect(self, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bgr = np.repeat(gray[..., None], 3, axis=2)
        return self._boxes("system", bgr), self._boxes("staff", bgr)
