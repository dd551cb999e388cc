"""Score videos -> an HF Dataset of (system images, audio segment, metadata) rows.

One video at a time: segment slides, cut the audio at the slide times, drop segments by
the filters, detect and normalise systems, and save the video's rows as its own Dataset
under ``OUT/videos/VIDEO_ID`` followed by a done-marker ``OUT/videos/VIDEO_ID.done.json``
(with the video's filter summary). A rerun skips videos with a marker, so an interrupted
run resumes where it stopped; all writes are atomic. :func:`merge_video_datasets` joins
the per-video datasets into ``OUT/dataset``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from .. import constants
from ..errors import UserError
from ..io_utils import atomic_write_json
from . import filters
from .media import load_video_audio, read_frames, wav_bytes
from .metadata import VideoMetadata, metadata_features
from .slides import SegmentationConfig, segment_slides
from .systems import crop_systems

logger = logging.getLogger(__name__)

#: ``detect(gray (H, W) uint8) -> (system_boxes (S, 4), staff_boxes (T, 4))``
Detect = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class PipelineConfig:
    """Settings of :func:`process_video` (filters use their module defaults unless set here)."""

    segmentation: SegmentationConfig = field(default_factory=SegmentationConfig)
    min_audio_s: float = filters.MIN_AUDIO_S
    max_audio_s: float = filters.MAX_AUDIO_S
    silence_dbfs: float = filters.SILENCE_DBFS
    max_system_iou: float = filters.MAX_SYSTEM_IOU
    sampling_rate: int = constants.SAMPLE_RATE


def dataset_features():
    """Features of the YTSV dataset: segment fields, system images, audio bytes, metadata."""
    from datasets import Audio, Features, Image, List, Value  # heavy: datasets

    return Features(
        {
            "video_id": Value("string"),
            "segment_index": Value("int32"),
            "start": Value("float32"),
            "end": Value("float32"),
            "images": List(Image()),
            "audio": Audio(sampling_rate=constants.SAMPLE_RATE, decode=False),
            **{name: kind for name, kind in metadata_features().items() if name != "video_id"},
        }
    )


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _empty_metadata() -> dict:
    return {name: None for name in metadata_features() if name != "video_id"}


def process_video(
    video_path: str | os.PathLike[str],
    detect: Detect,
    *,
    metadata: VideoMetadata | None = None,
    config: PipelineConfig | None = None,
) -> tuple[list[dict], filters.FilterSummary]:
    """Rows of one score video and the summary of what the filters removed.

    Segment filters run in this order: audio duration, silent audio, blank slide,
    inverted/dark slide, poor scan, no systems, overlapping systems; then each system is
    checked for anomalous dimensions and a segment left without systems is dropped.
    """
    config = config or PipelineConfig()
    video_path = Path(video_path)
    video_id = video_path.stem
    summary = filters.FilterSummary()
    slides = segment_slides(video_path, config.segmentation)
    audio, _ = load_video_audio(video_path, sampling_rate=config.sampling_rate)
    frames = read_frames(video_path, [s.frame_index for s in slides])
    columns = metadata.as_columns() if metadata is not None else _empty_metadata()
    columns.pop("video_id", None)
    rows = []
    sr = config.sampling_rate
    for index, slide in enumerate(slides):
        segment = audio[int(round(slide.start * sr)) : int(round(slide.end * sr))]
        gray = frames.get(slide.frame_index)
        reason = (
            filters.audio_duration(len(segment) / sr, min_s=config.min_audio_s, max_s=config.max_audio_s)
            or filters.silent_audio(segment, threshold_dbfs=config.silence_dbfs)
            or (filters.slide_image_filters(gray) if gray is not None else "unreadable_frame")
        )
        if reason is None:
            system_boxes, staff_boxes = detect(gray)
            if len(system_boxes) == 0:
                reason = "no_systems"
            else:
                reason = filters.overlapping_systems(system_boxes, max_iou=config.max_system_iou)
        if reason is not None:
            summary.drop_segment(reason)
            continue
        images = []
        for crop in crop_systems(gray, system_boxes, staff_boxes):
            width = None if crop.image is None else crop.image.shape[1]
            system_reason = filters.system_dimensions(crop.box, crop.staff_height, width)
            if system_reason is not None or crop.image is None:
                summary.drop_system(system_reason or "unnormalisable")
                continue
            images.append({"bytes": _png(crop.image), "path": None})
        if not images:
            summary.drop_segment("no_valid_systems")
            continue
        summary.segments_kept += 1
        summary.systems_kept += len(images)
        rows.append(
            {
                "video_id": video_id,
                "segment_index": index,
                "start": slide.start,
                "end": slide.end,
                "images": images,
                "audio": {"bytes": wav_bytes(segment, sr), "path": f"{video_id}_{index:04d}.wav"},
                **columns,
            }
        )
    return rows, summary


def _replace_dir(source: Path, target: Path) -> None:
    """Move directory ``source`` to ``target``, replacing an old ``target`` (near-atomically)."""
    trash = None
    if target.exists():
        trash = target.with_name(f".{target.name}.old")
        if trash.exists():
            shutil.rmtree(trash)
        os.replace(target, trash)
    os.replace(source, target)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _write_json(path: Path, data: dict) -> None:
    atomic_write_json(path, data)


def save_video_rows(rows: list[dict], summary: filters.FilterSummary, out_dir: Path, video_id: str) -> None:
    """Save one video's rows as a Dataset, then its done-marker (the marker comes last)."""
    from datasets import Dataset, Value  # heavy: datasets

    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    if rows:
        scratch = Path(tempfile.mkdtemp(dir=videos, prefix=f".{video_id}."))
        try:
            # datasets 5 imports torchcodec to encode any Audio value, even ready-made bytes:
            # write the column's storage struct, then cast (an Arrow-level cast, no codec).
            features = dataset_features()
            storage = features.copy()
            storage["audio"] = {"bytes": Value("binary"), "path": Value("string")}
            dataset = Dataset.from_list(rows, features=storage).cast_column("audio", features["audio"])
            dataset.save_to_disk(str(scratch / "data"))
            _replace_dir(scratch / "data", videos / video_id)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    _write_json(videos / f"{video_id}.done.json", {"video_id": video_id, "rows": len(rows), "summary": summary.to_dict()})


def merge_video_datasets(out_dir: str | os.PathLike[str]):
    """Concatenate every finished video's Dataset into ``OUT/dataset``; returns it (or ``None``)."""
    from datasets import concatenate_datasets, load_from_disk  # heavy: datasets

    out = Path(out_dir)
    parts = []
    for marker in sorted((out / "videos").glob("*.done.json")):
        video_dir = out / "videos" / marker.name[: -len(".done.json")]
        if video_dir.is_dir():
            parts.append(load_from_disk(str(video_dir)))
    if not parts:
        return None
    merged = concatenate_datasets(parts)
    scratch = Path(tempfile.mkdtemp(dir=out, prefix=".dataset."))
    try:
        merged.save_to_disk(str(scratch / "data"))
        _replace_dir(scratch / "data", out / "dataset")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return load_from_disk(str(out / "dataset"))


def run_pipeline(
    videos: Sequence[Path],
    out_dir: str | os.PathLike[str],
    detect: Detect,
    *,
    metadata: dict[str, VideoMetadata] | None = None,
    config: PipelineConfig | None = None,
    progress: bool = True,
) -> filters.FilterSummary:
    """Process ``videos`` (skipping finished ones), merge the dataset, write ``OUT/summary.json``.

    A video that cannot be read is logged, counted as ``video_error`` and retried on the
    next run (it gets no marker).
    """
    from tqdm.auto import tqdm  # heavy: tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    total = filters.FilterSummary()
    errors: dict[str, str] = {}
    resumed = 0
    for video in tqdm(list(videos), desc="ytsv videos", unit="video", disable=not progress):
        video_id = video.stem
        marker = out / "videos" / f"{video_id}.done.json"
        if marker.exists():
            total.update(filters.FilterSummary.from_dict(json.loads(marker.read_text())["summary"]))
            resumed += 1
            continue
        try:
            rows, summary = process_video(video, detect, metadata=(metadata or {}).get(video_id), config=config)
        except UserError as error:
            logger.warning("skipping %s: %s", video, error)
            errors[video_id] = str(error)
            continue
        save_video_rows(rows, summary, out, video_id)
        total.update(summary)
    merge_video_datasets(out)
    report = {"videos": len(videos), "resumed": resumed, "video_errors": errors, **total.to_dict()}
    _write_json(out / "summary.json", report)
    return total
