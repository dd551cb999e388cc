"""Rows of the built corpus: the four modalities agree with each other, pages carry exact boxes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

import datasets
import numpy as np
import pytest

from umust_hf.constants import SAMPLE_RATE, STAFF_HEIGHT_PX, SYSTEM_HEIGHT_PX
from umust_hf.data.audio_io import decode_audio, read_midi_notes
from umust_hf.data.embedded import load_embedded_corpus, load_embedded_pages
from umust_hf.data.embedded.features import excerpt_features, page_features
from umust_hf.data.embedded.notation import delinearize, sounding_pitches
from umust_hf.errors import UserError


@pytest.fixture(scope="module")
def rows(embedded_corpus_dir):
    corpus = load_embedded_corpus(embedded_corpus_dir)
    return [row for split in corpus.values() for row in split]


def staff_line_rows(image) -> list[float]:
    """Centres of the horizontal lines that cross almost all of the ink's width (the staff lines).

    A line off the pixel grid (the lower staff of a grand staff) is grey over two rows;
    the 200 threshold catches both rows and the centre of the run is the line's centre.
    """
    dark = np.asarray(image) < 200
    cols = np.flatnonzero(dark.any(axis=0))
    covered = dark[:, cols[0] : cols[-1] + 1].mean(axis=1) > 0.9
    centres, run = [], []
    for y in np.flatnonzero(covered):
        if run and y != run[-1] + 1:
            centres.append(float(np.mean(run)))
            run = []
        run.append(y)
    if run:
        centres.append(float(np.mean(run)))
    return centres


def test_dataset_dict_layout_and_features(embedded_corpus_dir):
    corpus = datasets.load_from_disk(str(embedded_corpus_dir))
    assert list(corpus) == ["train", "validation", "test"]
    for split in corpus.values():
        assert split.features == excerpt_features()
    ids = [row_id for split in corpus.values() for row_id in split["id"]]
    assert len(ids) == len(set(ids))
    pieces = {name: set(split["piece_id"]) for name, split in corpus.items()}
    assert not (pieces["train"] & pieces["validation"]) and not (pieces["train"] & pieces["test"]) and not (pieces["validation"] & pieces["test"])
    assert all(pieces.values()), "each split holds at least one piece"
    assert load_embedded_pages(embedded_corpus_dir).features == page_features()


def test_lmx_pitches_equal_midi_pitches(rows):
    for row in rows:
        from_lmx = sounding_pitches(delinearize(row["lmx"]))
        from_midi = Counter(note.pitch for note in read_midi_notes(row["midi"]))
        assert from_lmx == from_midi, row["id"]
        assert sum(from_midi.values()) > 0


def test_musicxml_is_one_part_matching_the_row(rows):
    for row in rows:
        root = ET.fromstring(row["musicxml"].encode())
        assert root.tag == "score-partwise"
        parts = root.findall("part")
        assert len(parts) == 1, row["id"]
        staves = int(parts[0].findtext("measure/attributes/staves", "1"))
        assert staves == row["num_staves"]
        assert len(parts[0].findall("measure")) == row["end_measure"] - row["start_measure"] + 1
        assert sounding_pitches(parts[0]) == sounding_pitches(delinearize(row["lmx"]))


def test_audio_matches_the_midi_in_length_and_onset(rows):
    for row in rows:
        samples, rate = decode_audio(row["audio"])
        assert rate == SAMPLE_RATE and samples.dtype == np.float32 and samples.ndim == 1
        duration = samples.shape[0] / rate
        assert duration == pytest.approx(row["duration"], abs=1e-4)
        assert 3.0 <= duration <= 21.5, row["id"]
        notes = read_midi_notes(row["midi"])
        last_off = max(note.end for note in notes)
        assert last_off - 0.01 <= duration <= last_off + 1.5, row["id"]
        first_on = min(note.start for note in notes)
        before = samples[: max(0, int((first_on - 0.01) * rate))]
        after = samples[int(first_on * rate) : int((first_on + 0.1) * rate)]
        assert (np.abs(before).max() if before.size else 0.0) < 0.01, row["id"]
        assert np.abs(after).max() > 0.05, row["id"]


def test_images_have_the_normalised_height_and_staff_height(rows):
    for row in rows:
        image = row["image"]
        assert image.mode == "L" and image.height == SYSTEM_HEIGHT_PX and 32 <= image.width <= 1600
        lines = staff_line_rows(image)
        assert len(lines) == 5 * row["num_staves"], (row["id"], lines)
        for staff in range(row["num_staves"]):
            staff_lines = lines[5 * staff : 5 * staff + 5]
            assert staff_lines[-1] - staff_lines[0] == pytest.approx(STAFF_HEIGHT_PX, abs=1), row["id"]
            assert np.diff(staff_lines) == pytest.approx([STAFF_HEIGHT_PX / 4] * 4, abs=1)


def test_page_boxes_sit_on_the_staff_lines(embedded_corpus_dir):
    pages = load_embedded_pages(embedded_corpus_dir)
    assert len(pages) >= 1
    for page in pages:
        pixels = np.asarray(page["image"])
        dark, grey = pixels < 128, pixels < 200  # lines off the pixel grid are grey over two rows
        height, width = dark.shape
        assert page["staff_boxes"] and page["system_boxes"]
        for x0, y0, x1, y1 in page["staff_boxes"]:
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
            assert y1 - 1 - y0 == STAFF_HEIGHT_PX  # top line row to bottom line row
            for y in (y0, y1 - 1):  # first and last rows are staff lines along the whole box
                assert grey[y, x0:x1].mean() > 0.9, (page["piece_id"], y)
            assert grey[y0 + 4, x0:x1].mean() < 0.5  # between two lines
        for box in page["system_boxes"]:
            x0, y0, x1, y1 = box
            inside = [s for s in page["staff_boxes"] if x0 <= s[0] and s[2] <= x1 and y0 <= s[1] and s[3] <= y1]
            assert inside, box
            assert not dark[y0 - 1, x0:x1].any() if y0 > 0 else True  # nothing of the system above the box
        assert sum(len([s for s in page["staff_boxes"] if b[1] <= s[1] and s[3] <= b[3]]) for b in page["system_boxes"]) == len(page["staff_boxes"])


def test_load_embedded_corpus_rejects_a_folder_that_is_not_a_corpus(tmp_path):
    with pytest.raises(UserError, match="not a built embedded corpus"):
        load_embedded_corpus(tmp_path)
    with pytest.raises(UserError, match="no page dataset"):
        load_embedded_pages(tmp_path)
