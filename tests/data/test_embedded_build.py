"""Building the corpus: deterministic for a seed, resumable after a kill, clear errors, CLI."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest

from umust_hf.cli import main
from umust_hf.data.embedded import build_embedded_corpus, load_embedded_corpus
from umust_hf.data.embedded.pieces import PIECE_FILE, SKIPPED_FILE
from umust_hf.errors import UserError

#: Two short folk tunes and a string quartet movement (skipped: an ensemble), so builds stay quick.
PIECES = ["ryansMammoth/FlipMcGildersReel.abc", "haydn/opus1no1/movement2.mxl", "airdsAirs/book5.abc#968"]


def row_bytes(directory: Path) -> dict[str, tuple]:
    corpus = datasets.load_from_disk(str(directory))
    return {
        row["id"]: (split, row["lmx"], row["musicxml"], row["midi"], row["audio"]["bytes"], row["image"].tobytes(), row["tempo_bpm"])
        for split in corpus
        for row in corpus[split]
    }


@pytest.mark.slow  # three small builds and a killed subprocess: 15-45 s depending on load
def test_killed_build_resumes_to_the_same_dataset_and_seed_changes_the_performance(tmp_path):
    reference = tmp_path / "reference"
    summary = build_embedded_corpus(reference, only=PIECES, seed=0, num_proc=1, show_progress=False)
    assert summary.pieces == 2 and summary.excerpts >= 4
    assert [piece for piece, _ in summary.skipped] == ["haydn/opus1no1/movement2.mxl"]
    assert "ensemble" in summary.skipped[0][1]
    expected = row_bytes(reference)

    # kill a build of the same pieces as soon as it has started writing, then resume it
    killed = tmp_path / "killed"
    code = (
        "from umust_hf.data.embedded import build_embedded_corpus;"
        f"build_embedded_corpus({str(killed)!r}, only={PIECES!r}, seed=0, num_proc=1, show_progress=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((killed / "raw").glob(".tmp-*")):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the build finished before it could be killed"
    for folder in (killed / "raw").iterdir():
        if not folder.name.startswith(".tmp-"):  # every finished folder is complete
            assert (folder / PIECE_FILE).exists() or (folder / SKIPPED_FILE).exists(), folder
    assert not (killed / "dataset_dict.json").exists()
    resumed = build_embedded_corpus(killed, only=PIECES, seed=0, num_proc=1, show_progress=False)
    assert not list((killed / "raw").glob(".tmp-*"))
    assert resumed.excerpts == summary.excerpts
    assert row_bytes(killed) == expected

    # a resumed build must use the same options
    with pytest.raises(UserError, match="was built with"):
        build_embedded_corpus(killed, only=PIECES, seed=1, num_proc=1, show_progress=False)

    other = tmp_path / "seed1"
    build_embedded_corpus(other, only=PIECES[:1], seed=1, num_proc=1, show_progress=False)
    changed = row_bytes(other)
    shared = set(changed) & set(expected)
    assert shared, "the same measures are cut for both seeds"
    for row_id in shared:
        assert changed[row_id][3] != expected[row_id][3]  # MIDI: other tempo, velocities, timing
        assert changed[row_id][1] == expected[row_id][1]  # the notation does not depend on the seed


def test_cli_build_corpus_errors_are_one_line(tmp_path, capsys):
    assert main(["build-corpus", "--out", str(tmp_path / "x"), "--max-pieces", "0"]) == 2
    assert "--max-pieces must be at least 1" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["build-corpus", "--out", str(a_file), "--max-pieces", "1"]) == 2
    assert "not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["build-corpus", "--max-pieces", "3", "--all"])


def test_build_corpus_reuses_a_built_corpus_and_writes_the_preview(embedded_corpus_dir, tmp_path, capsys):
    from conftest import TEST_CORPUS_PIECES, TEST_CORPUS_SEED

    copy = tmp_path / "corpus"
    shutil.copytree(embedded_corpus_dir, copy)
    before = {p: p.stat().st_mtime_ns for p in (copy / "raw").rglob("*.flac")}
    args = ["build-corpus", "--out", str(copy), "--max-pieces", str(TEST_CORPUS_PIECES), "--seed",
            str(TEST_CORPUS_SEED), "--num-proc", "1", "--quiet", "--preview"]
    assert main(args) == 0
    assert f"preview: {copy / 'preview.png'}" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (copy / "raw").rglob("*.flac")} == before  # nothing rebuilt
    from PIL import Image

    with Image.open(copy / "preview.png") as preview:
        assert preview.width > 600 and preview.height > 400
    assert len(load_embedded_corpus(copy)["train"]) > 0
