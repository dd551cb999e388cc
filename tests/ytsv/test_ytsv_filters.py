"""YTSV filters on crafted bad inputs, and system normalisation by staff height."""

from __future__ import annotations

import numpy as np
import pytest

from umust_hf import constants
from umust_hf.ytsv import filters
from umust_hf.ytsv.systems import crop_systems, normalise_system, order_boxes, staff_height_for

SR = constants.SAMPLE_RATE


def _staff_page(line_gap: int = 10, systems: int = 2, width: int = 600, seed: int = 0) -> tuple[np.ndarray, list, list]:
    """A white page with ``systems`` five-line staves and some noteheads.

    Returns ``(image (H, W) uint8, system boxes, staff boxes)``.
    """
    rng = np.random.default_rng(seed)
    height = systems * 14 * line_gap
    page = np.full((height, width), 255, dtype=np.uint8)
    system_boxes, staff_boxes = [], []
    for s in range(systems):
        top = s * 14 * line_gap + 5 * line_gap
        thickness = max(1, line_gap // 5)
        for k in range(5):
            page[top + k * line_gap : top + k * line_gap + thickness, 20 : width - 20] = 0
        for x in rng.integers(40, width - 40, size=25):
            y = top + int(rng.integers(0, 9)) * line_gap // 2
            page[y - line_gap // 2 : y + line_gap // 2, x : x + line_gap] = 0
        staff_boxes.append([20, top, width - 20, top + 4 * line_gap + thickness])
        system_boxes.append([20, top - 2 * line_gap, width - 20, top + 6 * line_gap])
    return page, system_boxes, staff_boxes


def _tone(seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_good_page_passes_every_slide_filter():
    page, _, _ = _staff_page()
    assert filters.slide_image_filters(page) is None


def test_inverted_page_is_removed():
    page, _, _ = _staff_page()
    assert filters.inverted_page(255 - page) == "inverted_or_dark"
    assert filters.slide_image_filters(255 - page) == "inverted_or_dark"
    assert filters.inverted_page(page) is None


def test_blank_slide_is_removed():
    blank = np.full((360, 640), 250, dtype=np.uint8)
    assert filters.blank_slide(blank) == "blank_slide"
    assert filters.slide_image_filters(blank) == "blank_slide"


def test_poor_scan_is_removed():
    page, _, _ = _staff_page()
    rng = np.random.default_rng(1)
    grey_noisy = np.clip(page.astype(np.int16) // 2 + 64 + rng.integers(-30, 30, page.shape), 0, 255).astype(np.uint8)
    assert filters.inverted_page(grey_noisy) is None  # light enough, so only the scan filter catches it
    assert filters.poor_scan(grey_noisy) == "poor_scan"
    assert filters.poor_scan(page) is None


def test_silent_audio_is_removed():
    assert filters.silent_audio(np.zeros(SR * 4, dtype=np.float32)) == "silent_audio"
    hiss = np.random.default_rng(0).normal(0, 1e-4, SR * 4)  # about -80 dBFS
    assert filters.silent_audio(hiss) == "silent_audio"
    assert filters.silent_audio(np.zeros(0)) == "silent_audio"
    assert filters.silent_audio(_tone(4.0)) is None


@pytest.mark.parametrize(("seconds", "reason"), [(2.9, "audio_too_short"), (3.0, None), (20.0, None), (20.5, "audio_too_long")])
def test_audio_duration_bounds(seconds, reason):
    assert filters.audio_duration(seconds) == reason


def test_tiny_crop_and_anomalous_dimensions():
    box = np.array([0, 0, 600, 80], dtype=np.float32)
    assert filters.system_dimensions(box, staff_height=40, normalised_width=480) is None
    assert filters.system_dimensions(box, staff_height=3, normalised_width=480) == "tiny_crop"
    assert filters.system_dimensions(np.array([0, 0, 30, 80]), staff_height=40, normalised_width=24) == "tiny_crop"
    assert filters.system_dimensions(np.array([0, 0, 300, 40]), staff_height=40, normalised_width=100) == "tiny_crop"
    assert filters.system_dimensions(np.array([0, 0, 800, 700]), staff_height=40, normalised_width=640) == "anomalous_aspect"
    assert filters.system_dimensions(box, staff_height=0, normalised_width=None) == "no_staff_detected"


def test_overlapping_systems():
    apart = np.array([[0, 0, 100, 20], [0, 30, 100, 50]])
    assert filters.overlapping_systems(apart) is None
    overlapping = np.array([[0, 0, 100, 20], [0, 5, 100, 25]])
    assert filters.box_iou(overlapping[0], overlapping[1]) == pytest.approx(15 / 25)
    assert filters.overlapping_systems(overlapping) == "overlapping_systems"


def test_summary_counts_and_round_trips():
    summary = filters.FilterSummary()
    for reason in ["silent_audio", "silent_audio", "blank_slide"]:
        summary.drop_segment(reason)
    summary.drop_system("tiny_crop")
    summary.segments_kept, summary.systems_kept = 3, 7
    other = filters.FilterSummary.from_dict(summary.to_dict())
    other.update(summary)
    assert other.to_dict() == {
        "segments_kept": 6,
        "segments_removed": {"blank_slide": 2, "silent_audio": 4},
        "systems_kept": 14,
        "systems_removed": {"tiny_crop": 2},
    }
    assert "removed (silent_audio): 4" in other.format()


def _staff_line_rows(image: np.ndarray) -> np.ndarray:
    return np.flatnonzero((image < 192).mean(axis=1) > 0.6)


@pytest.mark.parametrize("line_gap", [6, 10, 17])
def test_normalised_staff_height_and_system_height(line_gap):
    page, systems, staves = _staff_page(line_gap=line_gap)
    staff_height = staves[0][3] - staves[0][1]
    out = normalise_system(page, np.array(systems[0], dtype=np.float32), staff_height=staff_height)
    assert out.shape[0] == constants.SYSTEM_HEIGHT_PX
    rows = _staff_line_rows(out)
    assert abs((rows.max() + 1 - rows.min()) - constants.STAFF_HEIGHT_PX) <= 2
    # the staff sits in the middle of the padded image
    assert abs((rows.max() + rows.min()) / 2 - constants.SYSTEM_HEIGHT_PX / 2) <= 4
    # the width follows the same scale as the staff (the aspect ratio is kept)
    measured_staff = rows.max() + 1 - rows.min()
    expected_width = (systems[0][2] - systems[0][0]) * measured_staff / staff_height
    assert abs(out.shape[1] - expected_width) <= 0.04 * expected_width


def test_crop_systems_assigns_staves_in_reading_order():
    page, systems, staves = _staff_page(line_gap=10, systems=2)
    shuffled = np.array(systems[::-1], dtype=np.float32)
    crops = crop_systems(page, shuffled, np.array(staves, dtype=np.float32))
    assert [c.box[1] for c in crops] == sorted(c.box[1] for c in crops)
    assert all(c.staff_height == 42 and c.image is not None for c in crops)  # 4 gaps + line thickness
    # a system with no staff inside gets no image (the filters then drop it)
    lonely = crop_systems(page, np.array([[0, 0, 50, 10]], dtype=np.float32), np.array(staves, dtype=np.float32))
    assert lonely[0].staff_height == 0 and lonely[0].image is None
    assert staff_height_for(np.array(systems[1]), np.zeros((0, 4))) == 0.0
    assert order_boxes(np.zeros((0, 4))).shape == (0, 4)
