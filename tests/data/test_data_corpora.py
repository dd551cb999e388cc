"""Each public-corpus loader on its layout-exact fixture (tests/fixtures/<corpus>/).

Expected values come from reading the fixture files directly (csv, yaml, json, PIL,
soundfile, pretty_midi), never from the loaders.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import datasets
import pretty_midi
import pytest
import soundfile as sf
import yaml
from PIL import Image

from umust_hf.data.bpsd import load_bpsd
from umust_hf.data.grandstaff import load_grandstaff
from umust_hf.data.maestro import load_maestro
from umust_hf.data.musicnet import load_musicnet
from umust_hf.data.olimpic import load_olimpic
from umust_hf.data.slakh import load_slakh

from helpers import FIXTURES

GRANDSTAFF = FIXTURES / "grandstaff"
OLIMPIC = FIXTURES / "olimpic" / "olimpic-1.0-synthetic"
OLIMPIC_SCANNED = FIXTURES / "olimpic" / "olimpic-1.0-scanned"
MUSICNET = FIXTURES / "musicnet"
MAESTRO = FIXTURES / "maestro" / "maestro-v3.0.0"
SLAKH = FIXTURES / "slakh" / "slakh2100_flac_redux"
BPSD = FIXTURES / "bpsd" / "Beethoven_Piano_Sonata_Dataset_v2"


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _midi_notes(data: bytes) -> list[tuple[float, int]]:
    midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
    return sorted((round(n.start, 3), n.pitch) for inst in midi.instruments for n in inst.notes)


# --------------------------------------------------------------------------- GrandStaff


def test_grandstaff_lmx_layout(tmp_path):
    ds = load_grandstaff(GRANDSTAFF, cache_dir=tmp_path)
    assert isinstance(ds, datasets.DatasetDict)
    for split, raw in (("train", "train"), ("validation", "dev"), ("test", "test")):
        assert ds[split]["id"] == _lines(GRANDSTAFF / f"samples.{raw}.txt")
    row = ds["train"][0]
    base = GRANDSTAFF / row["id"]
    assert row["composer"] == row["id"].split("/")[0] == "beethoven"
    assert row["kern"] == Path(f"{base}.krn").read_text()
    assert row["lmx"] == Path(f"{base}.lmx").read_text().strip()
    assert row["image"].size == Image.open(f"{base}.jpg").size
    assert row["image_distorted"].size == Image.open(f"{base}_distorted.jpg").size
    part = ET.fromstring(row["musicxml"].encode()).find("part")
    assert part.find("measure/attributes/staves").text == "2"
    assert isinstance(ds["train"].features["image"], datasets.Image)


def test_grandstaff_smt_partitions(tmp_path):
    """The Sheet Music Transformer release: grandstaff_dataset/ + partitions_grandstaff/types/*.txt, kern only."""
    root = tmp_path / "GrandStaff"
    samples = [line for raw in ("train", "dev", "test") for line in _lines(GRANDSTAFF / f"samples.{raw}.txt")]
    for line in samples:
        src = GRANDSTAFF / line
        dst = root / "grandstaff_dataset" / line
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f"{src}.jpg", f"{dst}.jpg")
        # the validation sample has only a .bekrn (as some SMT files do); the others a standard .krn
        shutil.copy(f"{src}.krn", f"{dst}.bekrn" if line == samples[2] else f"{dst}.krn")
    partitions = root / "partitions_grandstaff" / "types"
    partitions.mkdir(parents=True)
    (partitions / "train.txt").write_text(f"grandstaff_dataset/{samples[0]}.krn\ngrandstaff_dataset/{samples[1]}.krn\n")
    (partitions / "val.txt").write_text(f"grandstaff_dataset/{samples[2]}.bekrn\n")
    ds = load_grandstaff(root, cache_dir=tmp_path / "cache")
    assert set(ds) == {"train", "validation"}
    assert ds["train"]["id"] == samples[:2]
    assert ds["validation"][0]["lmx"] is None and ds["validation"][0]["musicxml"] is None
    assert ds["validation"][0]["image_distorted"] is None
    assert ds["validation"][0]["kern"] == Path(f"{GRANDSTAFF / samples[2]}.krn").read_text()


def test_grandstaff_split_lines_with_prefix_and_extension(tmp_path):
    """Split lines written as grandstaff/<base>.krn (relative to the parent folder) are read too."""
    root = tmp_path / "grandstaff"
    shutil.copytree(GRANDSTAFF, root)
    for raw in ("train", "dev", "test"):
        lines = _lines(GRANDSTAFF / f"samples.{raw}.txt")
        (root / f"samples.{raw}.txt").write_text("".join(f"grandstaff/{line}.krn\n" for line in lines))
    ds = load_grandstaff(root, cache_dir=tmp_path / "cache")
    assert ds["validation"]["id"] == _lines(GRANDSTAFF / "samples.dev.txt")
    assert ds["validation"][0]["lmx"] is not None


# --------------------------------------------------------------------------- OLiMPiC


def test_olimpic_synthetic_and_scanned(tmp_path):
    from lmx.linearization.vocabulary import ALL_TOKENS

    ds = load_olimpic(OLIMPIC, cache_dir=tmp_path)
    assert {k: len(v) for k, v in ds.items()} == {"train": 2, "validation": 1, "test": 1}
    assert ds["train"]["id"] == [line.removeprefix("samples/") for line in _lines(OLIMPIC / "samples.train.txt")]
    row = ds["test"][0]
    base = OLIMPIC / "samples" / row["id"]
    assert row["variant"] == "synthetic" and row["score_id"] == row["id"].split("/")[0]
    assert row["lmx"] == Path(f"{base}.lmx").read_text().strip()
    assert set(row["lmx"].split()) <= set(ALL_TOKENS)
    assert row["image"].size == Image.open(f"{base}.png").size
    assert ET.fromstring(row["musicxml"].encode()).tag == "score-partwise"

    scanned = load_olimpic(OLIMPIC_SCANNED, cache_dir=tmp_path)
    assert set(scanned) == {"validation", "test"}
    assert scanned["test"][0]["variant"] == "scanned"


# --------------------------------------------------------------------------- MusicNet


def test_musicnet(tmp_path):
    ds = load_musicnet(MUSICNET, cache_dir=tmp_path)
    assert {k: len(v) for k, v in ds.items()} == {"train": 2, "test": 1}
    with open(MUSICNET / "musicnet_metadata.csv", newline="") as handle:
        meta = {row["id"]: row for row in csv.DictReader(handle)}
    assert ds["train"]["id"] == sorted(p.stem for p in (MUSICNET / "musicnet" / "train_data").glob("*.wav"))
    row = ds["test"][0]
    assert row["composition"] == meta[row["id"]]["composition"]
    assert row["seconds"] == float(meta[row["id"]]["seconds"])
    with open(MUSICNET / "musicnet" / "test_labels" / f"{row['id']}.csv", newline="") as handle:
        labels = list(csv.DictReader(handle))
    assert [r["note"] for r in row["labels"]] == [int(r["note"]) for r in labels]
    assert [r["start_time"] for r in row["labels"]] == [int(r["start_time"]) for r in labels]
    expected = sorted((round(int(r["start_time"]) / 44100, 3), int(r["note"])) for r in labels)
    assert _midi_notes(row["midi"]) == expected
    assert sf.info(row["audio"]["path"]).samplerate == 44100
    assert isinstance(ds["test"].features["audio"], datasets.Audio)


def test_musicnet_kaggle_layout(tmp_path):
    """The Kaggle mirror nests the folders twice: <root>/musicnet/musicnet/train_data, metadata at <root>."""
    root = tmp_path / "kaggle"
    shutil.copytree(MUSICNET / "musicnet", root / "musicnet" / "musicnet")
    shutil.copy(MUSICNET / "musicnet_metadata.csv", root / "musicnet_metadata.csv")
    ds = load_musicnet(root, cache_dir=tmp_path / "cache")
    assert ds["test"]["id"] == ["2303"] and ds["test"][0]["composer"] is not None


# --------------------------------------------------------------------------- MAESTRO


def test_maestro_csv_json_and_streaming(tmp_path):
    ds = load_maestro(MAESTRO, cache_dir=tmp_path)
    with open(MAESTRO / "maestro-v3.0.0.csv", newline="") as handle:
        table = list(csv.DictReader(handle))
    for split in ("train", "validation", "test"):
        rows = [r for r in table if r["split"] == split]
        assert ds[split]["id"] == [Path(r["midi_filename"]).stem for r in rows]
        assert ds[split][0]["midi"] == (MAESTRO / rows[0]["midi_filename"]).read_bytes()
        assert ds[split][0]["audio"]["path"] == str(MAESTRO / rows[0]["audio_filename"])
        assert ds[split][0]["year"] == int(rows[0]["year"])

    json_only = tmp_path / "json_only"
    shutil.copytree(MAESTRO, json_only)
    (json_only / "maestro-v3.0.0.csv").unlink()
    from_json = load_maestro(json_only, cache_dir=tmp_path / "cache")
    assert {k: v["id"] for k, v in from_json.items()} == {k: v["id"] for k, v in ds.items()}

    streamed = load_maestro(MAESTRO, streaming=True)
    assert isinstance(streamed, datasets.IterableDatasetDict)
    assert [r["id"] for r in streamed["train"]] == ds["train"]["id"]


def test_maestro_midi_only_download(tmp_path):
    root = tmp_path / "maestro-v3.0.0"
    shutil.copytree(MAESTRO, root, ignore=shutil.ignore_patterns("*.wav"))
    ds = load_maestro(root, audio=False, cache_dir=tmp_path / "cache")
    assert sum(len(v) for v in ds.values()) == 3
    assert ds["test"][0]["audio"] is None


# --------------------------------------------------------------------------- Slakh2100


def test_slakh(tmp_path):
    ds = load_slakh(SLAKH, cache_dir=tmp_path)
    assert set(ds) == {"train", "validation", "test"}
    row = ds["train"][0]
    track = SLAKH / "train" / row["id"]
    meta = yaml.safe_load((track / "metadata.yaml").read_text())
    assert row["uuid"] == meta["UUID"]
    assert [s["stem"] for s in row["stems"]] == sorted(meta["stems"])
    assert [s["program_num"] for s in row["stems"]] == [meta["stems"][k]["program_num"] for k in sorted(meta["stems"])]
    assert row["midi"] == (track / "all_src.mid").read_bytes()
    assert row["stems"][0]["midi"] == (track / "MIDI" / "S00.mid").read_bytes()
    assert sf.info(row["audio"]["path"]).format == "FLAC"

    with_omitted = load_slakh(SLAKH, include_omitted=True, streaming=True)
    omitted = list(with_omitted["omitted"])
    assert [r["id"] for r in omitted] == ["Track00049"]
    unrendered = [s for s in omitted[0]["stems"] if not s["audio_rendered"]]
    assert len(unrendered) == 1 and unrendered[0]["audio_path"] is None


# --------------------------------------------------------------------------- BPSD


def test_bpsd(tmp_path):
    ds = load_bpsd(BPSD, cache_dir=tmp_path)
    assert set(ds) == {"train"}
    assert ds["train"]["id"] == sorted(p.stem for p in (BPSD / "1_Audio").glob("*.wav"))
    row = ds["train"][0]
    assert row["musicxml"] == (BPSD / "0_RawData" / "score_xml_unfolded" / f"{row['piece']}.xml").read_text()
    with open(BPSD / "2_Annotations" / "ann_audio_note" / f"{row['id']}.csv", newline="") as handle:
        notes = list(csv.DictReader(handle, delimiter=";"))
    assert [n["pitch"] for n in row["notes"]] == [int(n["pitch"]) for n in notes]
    assert _midi_notes(row["midi"]) == sorted((round(float(n["start"]), 3), int(n["pitch"])) for n in notes)
    with open(BPSD / "2_Annotations" / "ann_audio_measure" / f"{row['id']}.csv", newline="") as handle:
        measures = list(csv.DictReader(handle, delimiter=";"))
    assert [(m["measure"], m["time"]) for m in row["measures"]] == [(float(m["measure"]), float(m["time"])) for m in measures]
    assert len(measures) >= 1

    split = load_bpsd(BPSD, test_pieces=["Op002No3-01"], cache_dir=tmp_path)
    assert split["test"]["id"] == ["Beethoven_Op002No3-01_WK64"]
    assert len(split["train"]) == 2


def test_fixtures_stay_small():
    size = sum(p.stat().st_size for d in (GRANDSTAFF, OLIMPIC.parent, MUSICNET, MAESTRO, SLAKH, BPSD) for p in d.rglob("*") if p.is_file())
    assert size < 5 * 1024 * 1024
    assert json.loads((MAESTRO / "maestro-v3.0.0.json").read_text())["split"]["0"] == "train"


def test_load_corpus_by_name(tmp_path):
    import umust_hf
    from umust_hf.data.corpora import CORPORA, get_corpus
    from umust_hf.errors import UserError

    ds = umust_hf.load_corpus("MAESTRO", MAESTRO, cache_dir=tmp_path)
    assert set(ds) == set(get_corpus("maestro").splits)
    assert set(CORPORA) == {"grandstaff", "olimpic", "musicnet", "maestro", "slakh", "bpsd"}
    with pytest.raises(UserError, match="grandstaff"):
        get_corpus("lakh")


@pytest.mark.parametrize(
    ("loader", "parent"),
    [(load_maestro, MAESTRO.parent), (load_slakh, SLAKH.parent), (load_bpsd, BPSD.parent)],
)
def test_root_may_be_the_extraction_folder(tmp_path, loader, parent):
    """Passing the folder the archive was extracted into finds the corpus folder inside it."""
    assert sum(len(split) for split in loader(parent, cache_dir=tmp_path).values()) > 0
