"""UMustImageProcessor: grayscale conversion, staff-height normalisation, batching, token order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from umust_hf.constants import PATCH_SIZE, STAFF_HEIGHT_PX, SYSTEM_HEIGHT_PX
from umust_hf.errors import UserError
from umust_hf.modeling.vocabulary_umust import EOS_ID, PAD_ID, SEP_ID, UnifiedVocabulary
from umust_hf.processing.image_processing_umust import (
    HORIZONTAL_SHIFTS,
    VERTICAL_SHIFTS,
    UMustImageProcessor,
    bundle_to_systems,
    estimate_staff_height,
    find_staves,
    flatten_codes,
    image_shift_variants,
    systems_to_bundle,
    to_grayscale,
    unflatten_codes,
)

from helpers import notehead_system


# ------------------------------------------------------------------ grayscale
def test_grayscale_composites_transparency_onto_white():
    rgba = np.zeros((10, 12, 4), np.uint8)  # fully transparent black
    rgba[2:4, 2:4] = (0, 0, 0, 255)  # one opaque black square
    for image in (Image.fromarray(rgba, "RGBA"), rgba, torch.from_numpy(rgba).permute(2, 0, 1)):
        gray = to_grayscale(image)
        assert gray.shape == (10, 12)
        assert gray[0, 0] == pytest.approx(1.0)
        assert gray[2, 2] == pytest.approx(0.0)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGB", (9, 7), (255, 0, 0)),
        Image.new("P", (9, 7)),
        Image.new("1", (9, 7), 1),
        Image.new("I;16", (9, 7), 65535),
        np.full((7, 9), 0.5, np.float32),
        np.zeros((3, 7, 9), np.uint16),
        np.ones((7, 9), bool),
    ],
)
def test_grayscale_accepts_any_mode(image):
    gray = to_grayscale(image)
    assert gray.shape == (7, 9) and gray.dtype == np.float32
    assert 0.0 <= gray.min() <= gray.max() <= 1.0


def test_grayscale_values_are_right():
    assert to_grayscale(Image.new("RGB", (2, 2), (255, 0, 0)))[0, 0] == pytest.approx(76 / 255, abs=1e-3)
    assert to_grayscale(Image.new("I;16", (2, 2), 65535))[0, 0] == pytest.approx(1.0)
    assert to_grayscale(np.full((2, 2), 128, np.uint8))[0, 0] == pytest.approx(128 / 255)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((0, 5), np.uint8), "empty"),
        (Image.new("L", (0, 4)), "empty"),
        (np.full((4, 4), 2.0, np.float32), r"\[0, 1\]"),
        (np.zeros((5, 6, 7), np.uint8), "shape"),
        ("not an image", "expected a PIL image"),
    ],
)
def test_grayscale_rejects_bad_input(bad, message):
    with pytest.raises(UserError, match=message):
        to_grayscale(bad, "image 3")


# ------------------------------------------------------------------ staves
@pytest.mark.parametrize("spacing, thickness", [(8, 1), (12, 2), (5, 1), (20, 3)])
def test_staff_height_estimate(spacing, thickness):
    image = notehead_system(height=400, width=300, spacing=spacing, tops=(60, 60 + 10 * spacing), thickness=thickness)
    staves = find_staves(image / 255.0)
    assert len(staves) == 2
    assert estimate_staff_height(image / 255.0) == pytest.approx(4 * spacing, abs=0.01)


def test_no_staff_found_on_blank_or_text():
    assert find_staves(np.ones((50, 50), np.float32)) == []
    assert estimate_staff_height(np.ones((50, 50), np.float32)) is None


# ------------------------------------------------------------------ processor
def test_corpus_sized_system_passes_through_unchanged():
    image = notehead_system()  # 192 px tall, staff height 32 px, width 200
    out = UMustImageProcessor()(Image.fromarray(image))
    assert out["pixel_values"].shape == (1, 1, SYSTEM_HEIGHT_PX, 208)
    expected = torch.from_numpy(image / 255.0 * 2.0 - 1.0).float()
    assert torch.equal(out["pixel_values"][0, 0, :, :200], expected)
    assert torch.all(out["pixel_values"][0, 0, :, 200:] == 1.0)  # white width padding
    assert out["scale"].tolist() == [1.0]


@pytest.mark.parametrize("height, width, spacing", [(77, 150, 4), (333, 517, 12), (1000, 161, 25), (5, 3, 8)])
def test_odd_sizes_are_normalised(height, width, spacing):
    thickness = max(1, spacing // 6)  # printed line thickness grows with the staff size
    image = notehead_system(height=height, width=width, spacing=spacing, tops=(min(10, height - 1),), thickness=thickness, seed=1)
    processor = UMustImageProcessor()
    out = processor([Image.fromarray(image).convert("RGB")])
    pixels = out["pixel_values"]
    assert pixels.shape[:3] == (1, 1, SYSTEM_HEIGHT_PX)
    assert pixels.shape[-1] % PATCH_SIZE == 0 and pixels.shape[-1] > 0
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    real_width = int(out["pixel_mask"][0, 0].sum())
    assert torch.all(out["pixel_mask"][0].sum(dim=1) == real_width)
    assert out["patch_mask"].shape == (1, SYSTEM_HEIGHT_PX // PATCH_SIZE, pixels.shape[-1] // PATCH_SIZE)
    assert int(out["patch_mask"][0, 0].sum()) == -(-real_width // PATCH_SIZE)
    if 4 * spacing + 10 < height:  # a whole staff is visible: it must now measure STAFF_HEIGHT_PX
        normalised = ((pixels[0, 0, :, :real_width] + 1) / 2).numpy()
        assert estimate_staff_height(normalised) == pytest.approx(STAFF_HEIGHT_PX, abs=2.0)
        assert out["scale"][0] == pytest.approx(STAFF_HEIGHT_PX / (4 * spacing), rel=1e-4)


def test_batch_pads_to_widest_with_white_and_masks():
    images = [notehead_system(width=100), notehead_system(width=250, seed=2)]
    out = UMustImageProcessor()(images)
    assert out["pixel_values"].shape == (2, 1, 192, 256)
    assert torch.all(out["pixel_values"][0, 0, :, 100:] == 1.0)
    assert out["pixel_mask"][0, 0].sum() == 100 and out["pixel_mask"][1, 0].sum() == 250
    assert out["patch_mask"][0, 0].tolist() == [1] * 7 + [0] * 9
    assert out["image_index"].tolist() == [0, 1]


def test_tall_input_is_cropped_around_the_staves():
    image = notehead_system(height=600, width=120, tops=(400,))  # staff far below the centre
    out = UMustImageProcessor()(image)
    normalised = ((out["pixel_values"][0, 0] + 1) / 2).numpy()
    staves = find_staves(normalised)
    assert len(staves) == 1
    assert (staves[0].top + staves[0].bottom) / 2 == pytest.approx(96, abs=1)


def test_page_split_by_boxes_and_by_detector():
    page = np.full((500, 300), 255, np.uint8)
    page[20:212] = notehead_system(width=300, seed=3)
    page[260:452] = notehead_system(width=300, seed=4)
    boxes = [(0, 260, 300, 452), (0, 20, 300, 212)]  # given out of reading order
    processor = UMustImageProcessor()
    by_boxes = processor([page], system_boxes=[boxes])
    assert by_boxes["pixel_values"].shape[0] == 2 and by_boxes["image_index"].tolist() == [0, 0]
    expected_first = torch.from_numpy(page[20:212] / 255.0 * 2 - 1).float()
    assert torch.equal(by_boxes["pixel_values"][0, 0, :, :300], expected_first)
    calls = []

    def detector(gray):
        calls.append(gray.shape)
        return boxes

    by_detector = processor(page, detector=detector)
    assert calls == [(500, 300)]
    assert torch.equal(by_detector["pixel_values"], by_boxes["pixel_values"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(images=[]), "no images"),
        (dict(images=[np.zeros((0, 0), np.uint8)]), "image 0: the image is empty"),
        (dict(images=[notehead_system()], system_boxes=[[]]), "no system boxes"),
        (dict(images=[notehead_system()], system_boxes=[[(500, 0, 600, 10)]]), "is empty inside"),
        (dict(images=[notehead_system()], system_boxes=[[(0, 0, 5)]]), r"must be \(x0, y0, x1, y1\)"),
        (dict(images=[notehead_system(), notehead_system()], system_boxes=[None]), "1 entries for 2 images"),
    ],
)
def test_bad_processor_input_gives_clear_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        UMustImageProcessor()(**kwargs)


def test_save_load_and_auto_class(tmp_path):
    from transformers import AutoImageProcessor

    import umust_hf  # noqa: F401  (registers the Auto classes)
    from umust_hf.modeling.configuration_image_codec import UMustImageCodecConfig

    UMustImageCodecConfig.cpu().save_pretrained(tmp_path)
    UMustImageProcessor(staff_height=24, staff_height_tolerance=0.1).save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is UMustImageProcessor
    assert loaded.staff_height == 24 and loaded.staff_height_tolerance == 0.1
    assert loaded.system_height == SYSTEM_HEIGHT_PX


def test_postprocess_crops_padding():
    processor = UMustImageProcessor()
    image = notehead_system(width=100)
    out = processor(image)
    restored = processor.postprocess(out["pixel_values"], out["patch_mask"])[0]
    assert restored.size == (112, 192) and restored.mode == "L"
    assert np.array_equal(np.asarray(restored)[:, :100], image)


# ------------------------------------------------------------------ augmentation
def test_shift_variants():
    system = torch.from_numpy(notehead_system(width=64) / 255.0 * 2 - 1).float()[None]
    variants = image_shift_variants(system)
    assert variants.shape == (32, 1, 192, 64 + 16)
    assert len(VERTICAL_SHIFTS) == 4 and len(HORIZONTAL_SHIFTS) == 8
    for index in (0, 13, 31):
        dy, dx = VERTICAL_SHIFTS[index // 8], HORIZONTAL_SHIFTS[index % 8]
        assert torch.equal(variants[index, :, dy:, dx : dx + 64], system[:, : 192 - dy])
        assert torch.all(variants[index, :, :dy] == 1.0) and torch.all(variants[index, :, :, :dx] == 1.0)
        assert torch.all(variants[index, :, :, dx + 64 :] == 1.0)
    assert len({tuple(v.flatten()[::97].tolist()) for v in variants}) == 32  # all distinct


# ------------------------------------------------------------------ token order
def test_flatten_is_column_by_column_and_invertible():
    rows, columns = 3, 5
    codes = np.zeros((rows, columns, 4), np.int64)
    for r in range(rows):
        for c in range(columns):
            codes[r, c] = [100 * r + c, 1, 2, 3]
    flat = flatten_codes(codes)
    assert flat.shape == (15, 4)
    assert flat[:, 0].tolist() == [0, 100, 200, 1, 101, 201, 2, 102, 202, 3, 103, 203, 4, 104, 204]
    assert np.array_equal(unflatten_codes(flat, rows), codes)
    with pytest.raises(ValueError, match="whole columns"):
        unflatten_codes(flat, 4)


def test_systems_join_with_sep_and_split_back():
    vocabulary = UnifiedVocabulary()
    rng = np.random.default_rng(0)
    systems = [rng.integers(0, 1024, size=(12, w, 4)) for w in (3, 5)]
    bundle = systems_to_bundle(systems, vocabulary)
    assert bundle.shape == (12 * 3 + 1 + 12 * 5, 4)
    assert bundle[36].tolist() == [SEP_ID, PAD_ID, PAD_ID, PAD_ID]
    assert bundle[0, 0] == vocabulary.offset("image", 0) + systems[0][0, 0, 0]
    assert bundle[1, 0] == vocabulary.offset("image", 0) + systems[0][1, 0, 0]  # next row, same column
    with_eos = np.concatenate([bundle, [[EOS_ID, PAD_ID, PAD_ID, PAD_ID]], np.zeros((3, 4), np.int64)])
    for candidate in (bundle, with_eos):
        restored = bundle_to_systems(candidate, vocabulary, rows=12)
        assert len(restored) == 2
        assert all(np.array_equal(a, b) for a, b in zip(restored, systems))


# ------------------------------------------------------------------ embedded corpus
def test_corpus_systems_are_already_normalised(embedded_corpus_dir):
    """Corpus renderings are 192 px tall with 32 px staves: the processor must leave them as they are."""
    from umust_hf.data.embedded import load_embedded_corpus

    images = load_embedded_corpus(embedded_corpus_dir)["train"]["image"][:6]
    processor = UMustImageProcessor()
    for image in images:
        gray = to_grayscale(image)
        assert gray.shape[0] == SYSTEM_HEIGHT_PX
        assert estimate_staff_height(gray) == pytest.approx(STAFF_HEIGHT_PX, rel=processor.staff_height_tolerance)
        out = processor(image)
        assert out["scale"].tolist() == [1.0]
        assert torch.allclose(out["pixel_values"][0, 0, :, : gray.shape[1]], torch.from_numpy(gray) * 2 - 1)
