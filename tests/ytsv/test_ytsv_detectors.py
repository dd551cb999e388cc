"""Labelled pages, the YOLO dataset writer, and (slow) detector training + the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from umust_hf.errors import UserError
from umust_hf.ytsv.detectors import DETECTOR_KINDS, SlideDetector, write_yolo_dataset
from umust_hf.ytsv.pages import load_page_directory, load_pages, render_score_pages, save_page_directory

from helpers import YTSV_METADATA

FIXTURE = YTSV_METADATA


@pytest.fixture(scope="module")
def pages():
    from music21 import corpus

    found = []
    for work in ("bwv66.6", "bwv1.6", "bwv10.7"):
        found += render_score_pages(corpus.getWork(work), scale=40, max_pages=1)
    return found


def test_staff_boxes_sit_on_staff_lines(pages):
    for page in pages:
        assert len(page.staff_boxes) >= 2 * len(page.system_boxes) >= 2
        for x0, y0, x1, y1 in page.staff_boxes.astype(int):
            # top and bottom staff lines (thin, anti-aliased grey): across most of the box width
            for y in (y0, y1):
                band = page.image[max(0, y - 1) : y + 2, x0:x1]
                assert (band < 230).any(axis=0).mean() > 0.8
            # exactly five line-like row groups between them
            profile = (page.image[y0 - 1 : y1 + 2, x0:x1] < 230).mean(axis=1) > 0.8
            assert np.count_nonzero(np.diff(np.concatenate([[0], profile.astype(int)])) == 1) == 5


def test_system_boxes_contain_their_staves_and_do_not_overlap(pages):
    from umust_hf.ytsv.filters import overlapping_systems

    for page in pages:
        assert overlapping_systems(page.system_boxes, max_iou=0.0) is None
        centres_y = (page.staff_boxes[:, 1] + page.staff_boxes[:, 3]) / 2
        inside = [(centres_y > s[1]) & (centres_y < s[3]) for s in page.system_boxes]
        assert sum(int(m.sum()) for m in inside) == len(page.staff_boxes)  # each staff in exactly one system
        assert all(m.sum() == inside[0].sum() for m in inside)


def test_yolo_dataset_labels_match_boxes(pages, tmp_path):
    yamls = write_yolo_dataset(pages, tmp_path, val_fraction=0.34, seed=0)
    assert set(yamls) == set(DETECTOR_KINDS)
    for kind in DETECTOR_KINDS:
        root = tmp_path / kind
        train = sorted((root / "images" / "train").glob("*.png"))
        val = sorted((root / "images" / "val").glob("*.png"))
        assert train and val
        for image in train + val:
            label = root / "labels" / image.parent.name / f"{image.stem}.txt"
            rows = np.loadtxt(label, ndmin=2)
            assert rows.shape[1] == 5 and (rows[:, 0] == 0).all()
            assert ((rows[:, 1:] > 0) & (rows[:, 1:] <= 1)).all()
        assert f"0: {kind}" in yamls[kind].read_text()
    # held-out pages come from a score not used for training (slide views follow their page)
    page_rows = {p.source.split("#")[0] for p in pages}
    assert len(page_rows) == 3
    staff_labels = sum(len(np.loadtxt(p, ndmin=2)) for p in (tmp_path / "staff" / "labels").rglob("*.txt"))
    system_labels = sum(len(np.loadtxt(p, ndmin=2)) for p in (tmp_path / "system" / "labels").rglob("*.txt"))
    assert staff_labels > system_labels


def test_page_directory_round_trip_and_errors(pages, tmp_path):
    assert save_page_directory(pages[:2], tmp_path / "pages") == 2
    loaded = list(load_pages(tmp_path / "pages"))
    assert len(loaded) == 2
    np.testing.assert_array_equal(loaded[0].image, pages[0].image)
    np.testing.assert_allclose(loaded[1].staff_boxes, pages[1].staff_boxes)
    with pytest.raises(UserError, match="does not exist"):
        list(load_page_directory(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no page JSON files"):
        list(load_page_directory(tmp_path / "empty"))
    (tmp_path / "pages" / "page00000.json").write_text("{}")
    with pytest.raises(UserError, match="page00000.json: not a page box file"):
        list(load_page_directory(tmp_path / "pages"))


def test_missing_detectors_are_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="system.pt, staff.pt missing"):
        SlideDetector(tmp_path)


@pytest.mark.slow
def test_train_detectors_on_corpus_pages_then_run_the_cli(embedded_corpus_dir, tmp_path):
    """One epoch on the test corpus's pages through the CLI, then a corpus video through
    ``umust ytsv``: checks the training/evaluation/inference plumbing, not accuracy."""
    from umust_hf.cli import main
    from umust_hf.ytsv.synthetic import build_corpus_video, corpus_slides, fit_on_canvas

    detectors = tmp_path / "detectors"
    train = ["ytsv", "--train-detectors", "--corpus", str(embedded_corpus_dir), "--out", str(detectors), "--epochs", "1", "--imgsz", "160"]
    assert main(train) == 0
    saved = json.loads((detectors / "metrics.json").read_text())
    metrics = saved["metrics"]
    assert set(metrics) == set(DETECTOR_KINDS)
    for values in metrics.values():
        assert set(values) == {"precision", "recall", "map50", "map50_95"}
        assert all(0.0 <= v <= 1.0 for v in values.values())
    assert saved["epochs"] == 1 and saved["imgsz"] == 160 and saved["val_images"] > 0

    slides = corpus_slides(embedded_corpus_dir, 1)
    detector = SlideDetector(detectors)
    systems, staves = detector.detect(fit_on_canvas(slides[0].page.image, (320, 180)))
    assert systems.ndim == 2 and systems.shape[1] == 4 and staves.shape[1] == 4

    videos = tmp_path / "videos"
    build_corpus_video(videos / "vidPiano001.mp4", slides, ["cut"], size=(320, 180))
    out = tmp_path / "out"
    args = ["ytsv", "--videos", str(videos), "--metadata", str(FIXTURE), "--out", str(out), "--detectors", str(detectors), "--no-progress"]
    assert main(args) == 0
    report = json.loads((out / "summary.json").read_text())
    assert report["videos"] == 1 and report["video_errors"] == {}
    # the title card and the one music slide: the title is always dropped as silent
    assert report["segments_kept"] + sum(report["segments_removed"].values()) == 2
    assert report["segments_removed"].get("silent_audio") == 1
    assert (out / "videos" / "vidPiano001.done.json").exists()
    # filtering by category leaves nothing to do for a piano video
    assert main([*args[:-1], "--category", "string quartet", "--no-progress"]) == 0
