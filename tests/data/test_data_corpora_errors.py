"""Missing and incomplete corpus roots raise ``UserError`` naming what is missing; corrupt
files are skipped with a warning naming them (each on a corrupted copy of a fixture)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from umust_hf.data.bpsd import load_bpsd
from umust_hf.data.grandstaff import load_grandstaff
from umust_hf.data.maestro import load_maestro
from umust_hf.data.musicnet import load_musicnet
from umust_hf.data.olimpic import load_olimpic
from umust_hf.data.slakh import load_slakh
from umust_hf.errors import UserError

from helpers import FIXTURES

ROOTS = {
    "grandstaff": (load_grandstaff, Path("grandstaff")),
    "olimpic": (load_olimpic, Path("olimpic/olimpic-1.0-synthetic")),
    "musicnet": (load_musicnet, Path("musicnet")),
    "maestro": (load_maestro, Path("maestro/maestro-v3.0.0")),
    "slakh": (load_slakh, Path("slakh/slakh2100_flac_redux")),
    "bpsd": (load_bpsd, Path("bpsd/Beethoven_Piano_Sonata_Dataset_v2")),
}


def _copy(tmp_path: Path, corpus: str) -> Path:
    """A private copy of a fixture root that a test may damage."""
    _, rel = ROOTS[corpus]
    root = tmp_path / "corpus" / rel.name
    shutil.copytree(FIXTURES / rel, root)
    return root


def _count(dataset_dict) -> int:
    return sum(len(split) for split in dataset_dict.values())


@pytest.mark.parametrize("corpus", sorted(ROOTS))
def test_missing_root_names_the_path(tmp_path, corpus):
    loader, _ = ROOTS[corpus]
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError, match="nowhere") as error:
        loader(missing)
    assert "layout" in str(error.value)


@pytest.mark.parametrize(
    ("corpus", "remove", "expected"),
    [
        ("grandstaff", ["samples.train.txt", "samples.dev.txt", "samples.test.txt"], "samples.train.txt"),
        ("olimpic", ["samples.train.txt", "samples.dev.txt", "samples.test.txt"], "samples.train.txt"),
        ("musicnet", ["musicnet_metadata.csv"], "musicnet_metadata.csv"),
        ("musicnet", ["musicnet/test_labels"], "test_labels"),
        ("maestro", ["maestro-v3.0.0.csv", "maestro-v3.0.0.json"], "maestro-v3.0.0.csv"),
        ("slakh", ["validation"], "validation"),
        ("bpsd", ["2_Annotations/ann_audio_note"], "ann_audio_note"),
        ("bpsd", ["0_RawData"], "score_xml_unfolded"),
    ],
)
def test_missing_metadata_or_split_file(tmp_path, corpus, remove, expected):
    root = _copy(tmp_path, corpus)
    for rel in remove:
        target = root / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(UserError, match=expected):
        ROOTS[corpus][0](root, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize(
    ("corpus", "remove"),
    [
        ("grandstaff", "chopin/mazurkas/mazurka06-1/original_m-4-6.jpg"),
        ("olimpic", "samples/6023/p2-s1.lmx"),
        ("musicnet", "musicnet/train_data/1728.wav"),
        ("maestro", "2018/MIDI-Unprocessed_Recital1-3_MID--AUDIO_01_R1_2018_wav--2.wav"),
        ("slakh", "test/Track01876/mix.flac"),
        ("bpsd", "0_RawData/score_xml_unfolded/Beethoven_Op002No3-01.xml"),
    ],
)
def test_incomplete_root_names_the_missing_file(tmp_path, corpus, remove):
    root = _copy(tmp_path, corpus)
    (root / remove).unlink()
    with pytest.raises(UserError, match="incomplete") as error:
        ROOTS[corpus][0](root, cache_dir=tmp_path / "cache")
    assert Path(remove).name in str(error.value)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:30])


def _garble(path: Path) -> None:
    path.write_bytes(b"\x00\x01 this is not a valid file \xff\xfe" * 4)


def _stem_not_a_mapping(path: Path) -> None:
    import yaml

    meta = yaml.safe_load(path.read_text())
    meta["stems"]["S00"] = "not a mapping"
    path.write_text(yaml.safe_dump(meta))


@pytest.mark.parametrize(
    ("corpus", "damage", "target"),
    [
        ("grandstaff", _garble, "beethoven/piano-sonatas/sonata01-1/original_m-0-2.jpg"),
        ("grandstaff", _garble, "mozart/piano-sonatas/sonata11-1/original_m-8-10.krn"),
        ("olimpic", _truncate, "samples/5364/p1-s2.musicxml"),
        ("musicnet", _truncate, "musicnet/train_data/1727.wav"),
        ("musicnet", _garble, "musicnet/test_labels/2303.csv"),
        ("musicnet", lambda p: p.write_text(p.read_text() + "1,2,3,4,5,6,7,8,9\n"), "musicnet/train_labels/1728.csv"),
        ("maestro", _truncate, "2004/MIDI-Unprocessed_SMF_02_R1_2004_01-05_ORIG_MID--AUDIO_02_R1_2004_05_Track05_wav.midi"),
        ("maestro", _truncate, "2006/MIDI-Unprocessed_07_R1_2006_01-04_ORIG_MID--AUDIO_07_R1_2006_04_Track04_wav.wav"),
        ("slakh", _truncate, "validation/Track01501/mix.flac"),
        ("slakh", lambda p: p.write_text("stems: [unclosed\n"), "train/Track00001/metadata.yaml"),
        ("bpsd", _garble, "2_Annotations/ann_audio_note/Beethoven_Op002No1-01_FJ62.csv"),
        ("bpsd", _truncate, "1_Audio/Beethoven_Op002No3-01_WK64.wav"),
        ("bpsd", lambda p: p.write_text(p.read_text() + "000.100;000.200;001.0;001.1;300;X;3/4;\n"),
         "2_Annotations/ann_audio_note/Beethoven_Op002No1-01_WK64.csv"),
        ("slakh", _stem_not_a_mapping, "test/Track01876/metadata.yaml"),
    ],
)
def test_corrupt_file_is_skipped_and_logged(tmp_path, caplog, corpus, damage, target):
    loader, _ = ROOTS[corpus]
    root = _copy(tmp_path, corpus)
    intact = _count(loader(root, cache_dir=tmp_path / "cache"))
    damage(root / target)
    with caplog.at_level(logging.WARNING, logger="umust_hf.data"):
        damaged = loader(root, cache_dir=tmp_path / "cache")  # same cache: the edit must invalidate it
    assert _count(damaged) == intact - 1
    assert any(Path(target).name in record.getMessage() and "corrupt" in record.getMessage() for record in caplog.records)


def test_corrupt_file_is_skipped_when_streaming(tmp_path, caplog):
    root = _copy(tmp_path, "musicnet")
    _truncate(root / "musicnet" / "test_data" / "2303.wav")
    with caplog.at_level(logging.WARNING, logger="umust_hf.data"):
        ids = {split: [row["id"] for row in rows] for split, rows in load_musicnet(root, streaming=True).items()}
    assert ids == {"train": ["1727", "1728"], "test": []}
    assert any("2303.wav" in record.getMessage() for record in caplog.records)


def test_unknown_bpsd_test_piece(tmp_path):
    with pytest.raises(UserError, match="Op106-01"):
        load_bpsd(FIXTURES / ROOTS["bpsd"][1], test_pieces=["Op106-01"], cache_dir=tmp_path)


def test_olimpic_parent_folder_points_at_the_releases(tmp_path):
    with pytest.raises(UserError, match="olimpic-1.0-scanned"):
        load_olimpic(FIXTURES / "olimpic", cache_dir=tmp_path)
