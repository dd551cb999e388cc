"""``umust bake``: corpus fixtures -> task examples that ``BundleCollator`` / ``umust train`` read.

The processor carries randomly initialised tiny codecs (the codes are arbitrary but valid);
what is checked is the layout: which tasks, which modalities, id ranges, lengths, segment
alignment, and that the notation/MIDI targets decode back to the fixture's content.
"""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import datasets
import numpy as np
import pretty_midi
import pytest
import soundfile as sf
import torch

from umust_hf.cli import main
from umust_hf.data.baking import bake_corpus, encode_row
from umust_hf.data.corpora import load_corpus
from umust_hf.errors import UserError
from umust_hf.modeling.vocabulary_umust import EOS_ID, Modality

from helpers import FIXTURES

OLIMPIC = FIXTURES / "olimpic" / "olimpic-1.0-synthetic"
MAESTRO = FIXTURES / "maestro" / "maestro-v3.0.0"
MUSICNET = FIXTURES / "musicnet"


@pytest.fixture(scope="module")
def processor():
    from umust_hf.modeling.configuration_audio_codec import UMustAudioCodecConfig
    from umust_hf.modeling.configuration_image_codec import UMustImageCodecConfig
    from umust_hf.modeling.modeling_audio_codec import UMustAudioCodec
    from umust_hf.modeling.modeling_image_codec import UMustImageCodec
    from umust_hf.processing.feature_extraction_umust import UMustFeatureExtractor
    from umust_hf.processing.image_processing_umust import UMustImageProcessor
    from umust_hf.processing.processing_umust import UMustProcessor
    from umust_hf.processing.tokenization_lmx import LMXTokenizer
    from umust_hf.processing.tokenization_midi import MidiTokenizer

    torch.manual_seed(0)
    return UMustProcessor(
        UMustImageProcessor(), UMustFeatureExtractor(), LMXTokenizer(), MidiTokenizer(),
        image_codec=UMustImageCodec(UMustImageCodecConfig.cpu()).eval(),
        audio_codec=UMustAudioCodec(UMustAudioCodecConfig(encoder_dim=4, decoder_dim=32)).eval(),
    )


def _in_range(bundle: np.ndarray, modality: Modality, vocabulary) -> bool:
    streams = vocabulary.num_streams(modality)
    return all(np.isin(bundle[:, k], list(vocabulary.id_range(modality, k))).all() for k in range(streams))


def test_bake_olimpic_omr_and_l2i(tmp_path, processor):
    data = load_corpus("olimpic", OLIMPIC, cache_dir=tmp_path / "cache")
    summary = bake_corpus("olimpic", data, processor, tmp_path / "baked", show_progress=False)
    baked = datasets.load_from_disk(str(tmp_path / "baked"))
    assert set(baked) == set(data)
    vocabulary = processor.unified_vocabulary
    for split in data:
        assert len(baked[split]) == 2 * len(data[split])  # omr + l2i per system
        assert summary.examples[split] == {"omr": len(data[split]), "l2i": len(data[split])}
    lmx = {row["id"]: row["lmx"] for row in data["train"]}
    for example in baked["train"]:
        source, labels = np.asarray(example["input_ids"]), np.asarray(example["labels"])
        assert source.shape[1] == labels.shape[1] == 4
        if example["task"] == "omr":
            assert (example["source_modality"], example["target_modality"]) == ("image", "notation")
            assert _in_range(source, Modality.IMAGE, vocabulary)
            assert labels[-1, 0] != EOS_ID  # the collator appends EOS to labels
            tokens = processor.tokenizer.convert_ids_to_tokens(vocabulary.from_bundle(labels, Modality.NOTATION).tolist())
            assert tokens == lmx[example["id"]].split()
        else:
            assert (example["source_modality"], example["target_modality"]) == ("notation", "image")
            assert _in_range(labels, Modality.IMAGE, vocabulary)


def test_bake_maestro_amt_and_m2a(tmp_path, processor):
    data = load_corpus("maestro", MAESTRO, cache_dir=tmp_path / "cache")
    bake_corpus("maestro", data, processor, tmp_path / "baked", tasks=["amt", "m2a"], show_progress=False)
    baked = datasets.load_from_disk(str(tmp_path / "baked"))
    row = data["test"][0]
    examples = {e["task"]: e for e in baked["test"]}
    assert set(examples) == {"amt", "m2a"}
    seconds = sf.info(row["audio"]["path"]).duration
    assert len(examples["amt"]["input_ids"]) == math.ceil(seconds * 44100 / 512)  # DAC hop 512 at 44.1 kHz
    midi = processor.decode(np.asarray(examples["amt"]["labels"]), "midi")[0]
    decoded = sorted(n.pitch for inst in pretty_midi.PrettyMIDI(io.BytesIO(midi)).instruments for n in inst.notes)
    expected = sorted(n.pitch for inst in pretty_midi.PrettyMIDI(io.BytesIO(row["midi"])).instruments for n in inst.notes)
    assert decoded == expected
    assert examples["m2a"]["input_ids"] == examples["amt"]["labels"] + [[EOS_ID, 0, 0, 0]]

    from umust_hf.data.collator import BundleCollator

    batch = BundleCollator()([baked["train"][0], baked["test"][1]])
    assert batch["input_ids"].shape[0] == 2 and batch["input_ids"].shape[2] == 4


def test_long_recordings_are_cut_into_aligned_20s_segments(processor):
    """41 s of audio with notes at 1 s, 21 s and 40 s: three segments, each with its own note."""
    rate = 44100
    audio = io.BytesIO()
    sf.write(audio, np.zeros(41 * rate, np.float32), rate, format="WAV")
    midi = pretty_midi.PrettyMIDI()
    piano = pretty_midi.Instrument(program=0)
    piano.notes = [pretty_midi.Note(velocity=80, pitch=p, start=s, end=s + 0.5) for p, s in ((60, 1.0), (64, 21.0), (67, 40.0))]
    midi.instruments.append(piano)
    buffer = io.BytesIO()
    midi.write(buffer)
    row = {"id": "long", "audio": {"bytes": audio.getvalue(), "path": None}, "midi": buffer.getvalue()}
    segments = encode_row(row, processor, [Modality.MIDI, Modality.AUDIO])
    assert [len(s[Modality.AUDIO]) for s in segments] == [math.ceil(20 * rate / 512)] * 2 + [math.ceil(rate / 512)]
    pitches = []
    for segment in segments:
        data = processor.decode(segment[Modality.MIDI], "midi")[0]
        pitches.append([n.pitch for inst in pretty_midi.PrettyMIDI(io.BytesIO(data)).instruments for n in inst.notes])
    assert pitches == [[60], [64], [67]]


def test_bake_command(tmp_path, processor, capsys):
    saved = tmp_path / "processor"
    processor.save_pretrained(saved)
    out = tmp_path / "baked"
    args = ["bake", "--corpus", "musicnet", "--root", str(MUSICNET), "--out", str(out), "--processor", str(saved), "--device", "cpu"]
    assert main(args) == 0
    baked = datasets.load_from_disk(str(out))
    assert {k: len(v) for k, v in baked.items()} == {"train": 4, "test": 2}
    assert (out / "bake_summary.json").is_file()
    capsys.readouterr()
    assert main(args) == 2  # OUT exists: refuse without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args[:-4], "--processor", str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main([*args, "--overwrite", "--limit", "1"]) == 0
    assert {k: len(v) for k, v in datasets.load_from_disk(str(out)).items()} == {"train": 2, "test": 2}
    maestro = ["bake", "--corpus", "maestro", "--root", str(MAESTRO), "--out", str(out), "--processor", str(saved), "--append"]
    assert main(maestro) == 0  # a second corpus joins the same training set
    combined = datasets.load_from_disk(str(out))
    assert {k: len(v) for k, v in combined.items()} == {"train": 4, "test": 4, "validation": 2}
    assert sorted(set(combined["train"]["id"])) == sorted({"1727", data_id(MAESTRO, "train")})
    assert [s["corpus"] for s in json.loads((out / "bake_summary.json").read_text())] == ["musicnet", "maestro"]


def data_id(root: Path, split: str) -> str:
    """The id (file stem) of the first row of ``split`` in a MAESTRO table, read with csv."""
    import csv

    with open(root / "maestro-v3.0.0.csv", newline="") as handle:
        return next(Path(r["midi_filename"]).stem for r in csv.DictReader(handle) if r["split"] == split)


def test_bake_needs_the_codecs_it_uses(tmp_path, processor):
    from umust_hf.processing.processing_umust import UMustProcessor

    bare = UMustProcessor(processor.image_processor, processor.feature_extractor, processor.tokenizer, processor.midi_tokenizer)
    data = load_corpus("olimpic", OLIMPIC, cache_dir=tmp_path / "cache")
    with pytest.raises(UserError, match="image_codec"):
        bake_corpus("olimpic", data, bare, tmp_path / "baked", show_progress=False)
    with pytest.raises(UserError, match="unknown task"):
        bake_corpus("olimpic", data, processor, tmp_path / "baked", tasks=["x2y"], show_progress=False)
    assert not (tmp_path / "baked").exists()


def test_unencodable_rows_are_skipped(tmp_path, processor, caplog):
    root = tmp_path / "musicnet"
    shutil.copytree(MUSICNET, root)
    data = load_corpus("musicnet", root, cache_dir=tmp_path / "cache")
    # a recording the loader accepted but the codec path cannot read any more
    Path(data["test"][0]["audio"]["path"]).write_bytes(b"RIFF broken")
    summary = bake_corpus("musicnet", data, processor, tmp_path / "baked", show_progress=False)
    assert summary.skipped_rows == {"train": 0, "test": 1}
    assert any("2303" in record.getMessage() for record in caplog.records)
    assert set(datasets.load_from_disk(str(tmp_path / "baked"))) == {"train"}  # the emptied split is left out


def test_bpsd_measure_windows():
    from umust_hf.data.bpsd import measure_windows, score_measure_index

    marks = [{"measure": float(m), "time": t} for m, t in zip(range(1, 8), (0, 2, 4, 6, 8, 10, 31))]
    # measure k ends where k+1 starts; the last at the recording's end (35 s)
    windows = measure_windows(marks, 35.0, max_seconds=20.0, max_measures=4)
    assert windows == [(0, 4, 0.0, 8.0), (4, 5, 8.0, 10.0), (6, 7, 31.0, 35.0)]  # measure 6 (21 s) fits no window
    assert measure_windows(marks[:6], 30.0, max_seconds=20.0, max_measures=4)[-1] == (5, 6, 10.0, 30.0)  # 20 s fits
    assert score_measure_index(1.0, has_pickup=False) == 0 and score_measure_index(1.0, has_pickup=True) == 1


def test_bake_bpsd_all_four_modalities(tmp_path, processor):
    data = load_corpus("bpsd", FIXTURES / "bpsd", cache_dir=tmp_path / "cache")
    summary = bake_corpus("bpsd", data, processor, tmp_path / "baked", show_progress=False)
    rows = len(data["train"])
    assert summary.examples["train"] == {task: rows for task in ("omr", "l2i", "amt", "m2a", "i2a", "a2i")}
    baked = datasets.load_from_disk(str(tmp_path / "baked"))["train"]
    vocabulary = processor.unified_vocabulary
    recording = data["train"][0]
    examples = {e["task"]: e for e in baked if e["id"] == recording["id"]}
    # the fixture recordings are one measure long: the notation target holds exactly one measure
    tokens = processor.tokenizer.convert_ids_to_tokens(
        vocabulary.from_bundle(np.asarray(examples["omr"]["labels"]), Modality.NOTATION).tolist()
    )
    assert tokens.count("measure") == 1
    assert _in_range(np.asarray(examples["a2i"]["labels"]), Modality.IMAGE, vocabulary)
    midi = processor.decode(np.asarray(examples["amt"]["labels"]), "midi")[0]
    decoded = sorted(n.pitch for inst in pretty_midi.PrettyMIDI(io.BytesIO(midi)).instruments for n in inst.notes)
    assert decoded == sorted(n["pitch"] for n in recording["notes"])
