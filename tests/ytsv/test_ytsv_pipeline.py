"""End-to-end YTSV pipeline on a synthetic score video built from the embedded corpus.

The detector here is a ground-truth oracle: it recognises which corpus slide a frame
shows and returns that slide's known system and staff boxes (the corpus page boxes moved
onto the canvas), swapped in through the pipeline's ``detect`` argument. This isolates
everything around detection (segmentation, audio cutting, filters, normalisation,
dataset writing, resuming); the trained YOLO detectors are exercised in
``test_ytsv_detectors.py`` (slow) and measured by ``benchmarks/bench_ytsv_detectors.py``.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest

from umust_hf import constants
from umust_hf.data.audio_io import decode_audio
from umust_hf.ytsv.media import wav_bytes
from umust_hf.ytsv.metadata import read_metadata
from umust_hf.ytsv.pipeline import dataset_features, run_pipeline
from umust_hf.ytsv.synthetic import build_corpus_video, corpus_slides

from helpers import YTSV_METADATA

FIXTURE = YTSV_METADATA

SIZE = (480, 270)
SR = constants.SAMPLE_RATE
VIDEO_ID = "vidPiano001"  # listed in the fixture metadata


class OracleDetector:
    """Returns the true boxes of whichever known slide a frame is closest to."""

    def __init__(self, slides):
        self.slides = slides
        self.calls = 0

    def __call__(self, gray):
        self.calls += 1
        errors = [np.abs(gray.astype(np.int16) - s.image.astype(np.int16)).mean() for s in self.slides]
        best = self.slides[int(np.argmin(errors))]
        return best.system_boxes.copy(), best.staff_boxes.copy()


@pytest.fixture(scope="module")
def scenario(embedded_corpus_dir, tmp_path_factory):
    """Title card | cut | a corpus band | cut | a band of another piece, colour-inverted | fade | that piece's next band.

    The inverted band is a two-system one, so that it fills most of the canvas (the
    inverted-page filter looks at the whole slide).
    """
    slides = corpus_slides(embedded_corpus_dir, 4)
    tall = slides[2]
    assert tall.page.image.shape[0] > 0.6 * tall.page.image.shape[1] * SIZE[1] / SIZE[0]
    inverted = replace(tall, page=replace(tall.page, image=255 - tall.page.image))
    folder = tmp_path_factory.mktemp("videos")
    video = build_corpus_video(
        folder / f"{VIDEO_ID}.mp4", [slides[0], inverted, slides[3]], ["cut", "cut", "fade"], size=SIZE, embed_audio=False
    )
    (folder / f"{VIDEO_ID}.wav").write_bytes(wav_bytes(video.audio))  # the yt-dlp style sibling audio
    from datasets import load_from_disk

    excerpts = {}
    for split in load_from_disk(str(embedded_corpus_dir)).values():
        for row in split.select_columns(["id", "audio"]):
            excerpts[row["id"]] = decode_audio(row["audio"])[0]
    return video, [video.canvases[1], video.canvases[3]], excerpts


def _staff_line_gap(image: np.ndarray) -> float:
    """Median distance between neighbouring staff lines (rows mostly darker than paper)."""
    rows = np.flatnonzero((image < 200).mean(axis=1) > 0.5)
    groups = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)  # a line may span two rows
    centres = np.array([g.mean() for g in groups if g.size])
    gaps = np.diff(centres)
    return float(np.median(gaps[gaps < constants.STAFF_HEIGHT_PX / 2]))


def test_pipeline_builds_filtered_normalised_dataset_and_resumes(scenario, tmp_path):
    import soundfile
    from datasets import load_from_disk
    from PIL import Image

    video, slides, excerpts = scenario
    detector = OracleDetector(slides)
    metadata = read_metadata(FIXTURE)
    summary = run_pipeline([video.path], tmp_path, detector, metadata=metadata, progress=False)

    # the silent title card and the inverted page are dropped before detection
    assert summary.segments_kept == 2
    assert dict(summary.segments_removed) == {"silent_audio": 1, "inverted_or_dark": 1}
    assert detector.calls == 2  # only segments passing the cheap filters reach detection
    report = json.loads((tmp_path / "summary.json").read_text())
    assert report["segments_removed"] == {"inverted_or_dark": 1, "silent_audio": 1}

    dataset = load_from_disk(str(tmp_path / "dataset"))
    assert dataset.features == dataset_features()
    assert dataset.num_rows == 2
    rows = list(dataset)
    assert [r["segment_index"] for r in rows] == [1, 3]
    for row, index in zip(rows, [1, 3]):
        true_start, true_end = video.slide_spans[index]
        assert abs(row["start"] - true_start) <= 0.1 and abs(row["end"] - true_end) <= 0.11
        assert row["video_id"] == VIDEO_ID and row["composer"] == "Composer A" and row["piano_included"] is True
        samples, rate = soundfile.read(io.BytesIO(row["audio"]["bytes"]), dtype="float32")
        assert rate == SR
        # the segment is the corpus excerpt played under the slide, shifted by the boundary error
        excerpt = excerpts[video.excerpt_ids[index]]
        shift = int(round(true_start * SR)) - int(round(row["start"] * SR))
        head, overlap = max(0, shift), min(len(samples) - max(0, shift), len(excerpt) - max(0, -shift))
        assert overlap > 0.95 * len(excerpt)
        np.testing.assert_allclose(samples[head : head + overlap], excerpt[max(0, -shift) : max(0, -shift) + overlap], atol=1e-4)
        # one normalised image per system of the corpus band, staff lines at the package scale
        assert len(row["images"]) == len(video.canvases[index].system_boxes)
        for picture in row["images"]:
            image = np.asarray(picture.convert("L") if isinstance(picture, Image.Image) else picture)
            assert image.shape[0] == constants.SYSTEM_HEIGHT_PX
            assert abs(_staff_line_gap(image) - constants.STAFF_HEIGHT_PX / 4) <= 1.0

    # a second run resumes: nothing is detected again and the result is the same
    again = OracleDetector(slides)
    summary2 = run_pipeline([video.path], tmp_path, again, metadata=metadata, progress=False)
    assert again.calls == 0
    assert summary2.to_dict() == summary.to_dict()
    assert load_from_disk(str(tmp_path / "dataset")).num_rows == 2

    # removing the done-marker makes the video run again
    (tmp_path / "videos" / f"{VIDEO_ID}.done.json").unlink()
    third = OracleDetector(slides)
    run_pipeline([video.path], tmp_path, third, metadata=metadata, progress=False)
    assert third.calls == 2


def test_unreadable_video_is_reported_and_retried(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 100)
    summary = run_pipeline([broken], tmp_path / "out", OracleDetector([]), progress=False)
    report = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "broken" in report["video_errors"] and "cannot open video" in report["video_errors"]["broken"]
    assert summary.segments_kept == 0
    assert not (tmp_path / "out" / "videos" / "broken.done.json").exists()


def test_cli_requires_inputs_and_detectors(tmp_path, capsys):
    from umust_hf.cli import main

    assert main(["ytsv", "--out", str(tmp_path / "o")]) == 2
    assert "--videos and --metadata are required" in capsys.readouterr().err
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / f"{VIDEO_ID}.mp4").write_bytes(b"")
    code = main(
        ["ytsv", "--videos", str(videos), "--metadata", str(FIXTURE), "--out", str(tmp_path / "o"), "--detectors", str(tmp_path / "none")]
    )
    assert code == 2
    assert "no trained detectors" in capsys.readouterr().err
