"""YTSV metadata CSV: parsing quirks, filtering, clear errors, and the published file."""

from __future__ import annotations

import pytest

from umust_hf.errors import UserError
from umust_hf.ytsv.metadata import CSV_COLUMNS, filter_metadata, metadata_features, parse_duration, read_metadata

from helpers import REPO, YTSV_METADATA

FIXTURE = YTSV_METADATA
PUBLISHED = REPO.parent / "shared" / "data" / "ytsv_metadata.csv"


def test_reads_typed_fields_from_fixture():
    records = read_metadata(FIXTURE)
    assert sorted(records) == ["vidOrgan004", "vidPiano001", "vidQuart002", "vidViolin03"]
    piano = records["vidPiano001"]
    assert piano.duration_s == 12 * 60 + 34
    assert piano.piano_included is True and piano.string_included is False
    assert piano.year == 1801
    assert (piano.melody_staves, piano.piano_staves) == (0, 2)
    quartet = records["vidQuart002"]
    assert quartet.duration_s == 3600 + 2 * 60 + 3
    assert quartet.year == 1920  # written "1920.0" in the published file
    assert quartet.opus == ""
    assert records["vidViolin03"].duration_s == 49  # plain seconds
    assert records["vidViolin03"].year is None
    organ = records["vidOrgan004"]
    assert organ.staff_count == "" and organ.melody_staves is None


@pytest.mark.parametrize(
    ("text", "seconds"), [("10:06", 606), ("0:59", 59), ("1:00:00", 3600), ("49", 49)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_filters_by_fields():
    records = read_metadata(FIXTURE).values()
    assert [r.video_id for r in filter_metadata(records, categories=["Piano Solo"])] == ["vidPiano001"]
    assert {r.video_id for r in filter_metadata(records, piano_included=True)} == {"vidPiano001", "vidViolin03"}
    assert [r.video_id for r in filter_metadata(records, piano_included=True, string_included=True)] == ["vidViolin03"]
    assert [r.video_id for r in filter_metadata(records, instrumentations=["quartet"])] == ["vidQuart002"]
    assert [r.video_id for r in filter_metadata(records, staff_counts=["1-2"])] == ["vidViolin03"]
    assert {r.video_id for r in filter_metadata(records, max_duration_s=600)} == {"vidViolin03", "vidOrgan004"}
    assert len(filter_metadata(records)) == 4


def test_metadata_features_cover_every_field():
    record = next(iter(read_metadata(FIXTURE).values()))
    assert set(metadata_features()) == set(record.as_columns())


def test_missing_column_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("YT Id,Title of Video\nabc,Something\n")
    with pytest.raises(UserError, match="missing columns: User"):
        read_metadata(bad)


def test_bad_value_names_file_and_line(tmp_path):
    lines = FIXTURE.read_text().splitlines()
    lines[2] = lines[2].replace(",False,True,False,False,", ",False,maybe,False,False,")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"bad\.csv, line 3: 'maybe' is not True/False"):
        read_metadata(bad)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="metadata CSV not found"):
        read_metadata(tmp_path / "absent.csv")


@pytest.mark.skipif(not PUBLISHED.exists(), reason=f"published YTSV metadata not present at {PUBLISHED}")
def test_published_metadata_reads_completely():
    header = PUBLISHED.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert tuple(header) == CSV_COLUMNS
    records = read_metadata(PUBLISHED)
    assert len(records) == 12317
    piano_solo = filter_metadata(records.values(), categories=["piano solo"])
    assert 9000 < len(piano_solo) < len(records)
    assert all(r.piano_included for r in piano_solo[:500])
