"""Fast checks that the session corpus fixture opens with the documented layout."""

from __future__ import annotations

import datasets


def test_fixture_corpus_opens_with_all_splits_and_features(embedded_corpus_dir):
    corpus = datasets.load_from_disk(str(embedded_corpus_dir))
    assert set(corpus) == {"train", "validation", "test"}
    assert sum(len(split) for split in corpus.values()) >= 12
    row = corpus["train"][0]
    for column in ("id", "piece_id", "musicxml", "lmx", "image", "midi", "audio", "duration"):
        assert row[column] is not None, column
    assert row["image"].mode == "L"
    assert row["midi"][:4] == b"MThd"
    assert isinstance(corpus["train"].features["audio"], datasets.Audio)
    pages = datasets.load_from_disk(str(embedded_corpus_dir / "pages"))
    assert len(pages) >= 1 and len(pages[0]["staff_boxes"]) >= 1
