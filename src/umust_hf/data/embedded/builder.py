"""Build, resume and load the embedded four-modality corpus.

Layout of ``out_dir``::

    dataset_dict.json, train/, validation/, test/   the excerpt DatasetDict (save_to_disk)
    pages/                                          page Dataset (save_to_disk)
    raw/<piece key>/piece.json                      a finished piece: metadata and excerpt list
    raw/<piece key>/m0001-0004.{musicxml,lmx,png,mid,flac}, page0.png ...
    raw/<piece key>/skipped.json                    a piece skipped, with the reason
    build.json                                      seed and options (a resumed build must match)
    summary.json                                    the closing summary of the last build
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ...errors import UserError
from ...io_utils import atomic_write_text
from . import DEFAULT_MAX_PIECES
from .features import excerpt_features, page_features
from .pieces import PIECE_FILE, SKIPPED_FILE, piece_key, process_piece
from .sources import SourceScore, corpus_root, find_sources, order_sources

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
#: Share of pieces in validation and in test.
HELD_OUT_FRACTION = 0.1
BUILD_FILE = "build.json"
SUMMARY_FILE = "summary.json"
_FORMAT_VERSION = 1


@dataclass
class BuildSummary:
    """Closing summary of a build (also saved as ``summary.json``)."""

    out_dir: str
    pieces: int = 0
    excerpts: int = 0
    hours: float = 0.0
    split_pieces: dict[str, int] = field(default_factory=dict)
    split_excerpts: dict[str, int] = field(default_factory=dict)
    pages: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (piece or file, reason)
    excerpt_skips: dict[str, int] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def format(self) -> str:
        """Human-readable summary for the CLI."""
        lines = [
            f"embedded corpus in {self.out_dir}",
            f"  pieces: {self.pieces}  excerpts: {self.excerpts}  audio: {self.hours:.3f} h  pages: {self.pages}",
            "  splits: " + ", ".join(f"{s} {self.split_pieces.get(s, 0)} pieces / {self.split_excerpts.get(s, 0)} excerpts" for s in SPLITS),
            f"  wall time: {self.wall_seconds:.1f} s",
            f"  skipped pieces: {len(self.skipped)}",
        ]
        reasons = Counter(_reason_class(reason) for _, reason in self.skipped)
        lines += [f"    {count:5d}  {reason}" for reason, count in reasons.most_common(12)]
        if self.excerpt_skips:
            lines.append(f"  skipped excerpts: {sum(self.excerpt_skips.values())}")
            lines += [f"    {count:5d}  {reason}" for reason, count in Counter(self.excerpt_skips).most_common(8)]
        return "\n".join(lines)


def _reason_class(reason: str) -> str:
    return reason.split(" (")[0].split(": ")[0][:90]


def _check_build_file(out_dir: Path, config: dict) -> None:
    path = out_dir / BUILD_FILE
    if path.exists():
        try:
            previous = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise UserError(f"{path} is not valid JSON ({error}); remove it or use another --out") from error
        if previous != config:
            raise UserError(f"{out_dir} was built with {previous}, not {config}: use another --out directory or the same options")
    else:
        atomic_write_text(path, json.dumps(config, indent=1))


def _source_for(piece_id: str, candidates: list[SourceScore]) -> SourceScore:
    """The candidate with this id, or (for files the sniffing left out) the corpus file itself."""
    for candidate in candidates:
        if candidate.piece_id == piece_id:
            return candidate
    source, _, tune = piece_id.partition("#")
    path = corpus_root() / source
    if not path.is_file() or (tune and not tune.isdigit()):
        raise UserError(f"{piece_id!r} is not a score of the music21 corpus (looked for {path})")
    return SourceScore(source, path, int(tune) if tune else None)


def _state(raw_dir: Path, source: SourceScore) -> str | None:
    folder = raw_dir / piece_key(source.piece_id)
    if (folder / PIECE_FILE).exists():
        return "done"
    if (folder / SKIPPED_FILE).exists():
        return "skipped"
    return None


def _run_pieces(sources: list[SourceScore], raw_dir: Path, seed: int, humanize: bool, num_proc: int):
    """Process pieces (in worker processes when ``num_proc`` > 1), yielding results in order."""
    if num_proc <= 1 or len(sources) <= 1:
        for source in sources:
            yield process_piece(source, raw_dir, seed, humanize)
        return
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=min(num_proc, len(sources)), mp_context=context) as pool:
        futures = [pool.submit(process_piece, source, raw_dir, seed, humanize) for source in sources]
        for future in futures:
            yield future.result()


def build_embedded_corpus(
    out_dir: str | os.PathLike,
    *,
    max_pieces: int | None = DEFAULT_MAX_PIECES,
    seed: int = 0,
    num_proc: int = 2,
    show_progress: bool = True,
    humanize: bool = True,
    only: Sequence[str] | None = None,
) -> BuildSummary:
    """Build (or resume) the corpus in ``out_dir`` and save the DatasetDict there.

    ``max_pieces`` pieces are kept (``None``: every candidate in the corpus); candidates
    that fail are skipped with a reason and the next ones in the seeded order take their
    place. Finished pieces are reused, so a killed build restarts where it stopped.
    ``only`` restricts the candidates to these piece ids (``source`` paths, ``#X`` for
    one tune of a multi-tune ABC file), in the given order.
    """
    from tqdm.auto import tqdm  # heavy: tqdm

    started = time.perf_counter()
    if max_pieces is not None and max_pieces < 1:
        raise UserError(f"max_pieces must be at least 1, got {max_pieces}")
    if num_proc < 1:
        raise UserError(f"num_proc must be at least 1, got {num_proc}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    raw_dir = out / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    for leftover in raw_dir.glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    _check_build_file(out, {"format": _FORMAT_VERSION, "seed": seed, "humanize": humanize})

    candidates, file_skips = find_sources()
    if only is not None:
        ordered = [_source_for(piece, candidates) for piece in only]
        file_skips = []
    else:
        ordered = order_sources(candidates, seed)
    target = len(ordered) if max_pieces is None else max_pieces
    kept: list[SourceScore] = []
    skipped: list[tuple[str, str]] = []
    position = 0
    with tqdm(total=target, desc="pieces", unit="piece", disable=not show_progress) as progress:
        while len(kept) < target and position < len(ordered):
            # a wave of candidates; failures are replaced by the next ones in the seeded order
            batch = ordered[position : position + max(target - len(kept), num_proc)]
            position += len(batch)
            todo = [source for source in batch if _state(raw_dir, source) is None]
            reused = sum(1 for source in batch if _state(raw_dir, source) == "done")
            progress.update(min(reused, target - progress.n))
            for result in _run_pieces(todo, raw_dir, seed, humanize, num_proc):
                if not result.ok:
                    logger.info("skipped %s: %s", result.piece_id, result.reason)
                elif progress.n < target:
                    progress.update(1)
            for source in batch:
                state = _state(raw_dir, source)
                if state == "done" and len(kept) < target:
                    kept.append(source)
                elif state == "skipped":
                    reason = json.loads((raw_dir / piece_key(source.piece_id) / SKIPPED_FILE).read_text())["reason"]
                    skipped.append((source.piece_id, reason))
    if max_pieces is None:
        skipped.extend(file_skips)
    summary = _assemble(out, raw_dir, kept, seed, show_progress)
    summary.skipped = skipped
    summary.wall_seconds = time.perf_counter() - started
    atomic_write_text(out / SUMMARY_FILE, json.dumps(asdict(summary), indent=1))
    return summary


def _split_of(pieces: list[str], seed: int) -> dict[str, str]:
    """Seeded split by piece: about 10 % validation, 10 % test, at least one each from 3 pieces."""
    ranked = sorted(pieces, key=lambda p: hashlib.sha256(f"split:{seed}:{p}".encode()).hexdigest())
    held = 0 if len(ranked) < 3 else max(1, round(HELD_OUT_FRACTION * len(ranked)))
    split = {piece: "train" for piece in ranked}
    for piece in ranked[:held]:
        split[piece] = "validation"
    for piece in ranked[held : 2 * held]:
        split[piece] = "test"
    return split


def _excerpt_rows(raw_dir: Path, pieces: list[dict], split_name: str, split: dict[str, str]):
    for meta in pieces:
        if split[meta["piece_id"]] != split_name:
            continue
        folder = raw_dir / piece_key(meta["piece_id"])
        for excerpt in meta["excerpts"]:
            name = excerpt["name"]
            yield {
                "id": f"{meta['piece_id']}@{name}",
                "piece_id": meta["piece_id"],
                "source": meta["source"],
                "composer": meta["composer"],
                "title": meta["title"],
                "instruments": meta["instruments"],
                "programs": meta["programs"],
                "num_staves": meta["num_staves"],
                "start_measure": excerpt["start_measure"],
                "end_measure": excerpt["end_measure"],
                "tempo_bpm": meta["tempo_bpm"],
                "musicxml": (folder / f"{name}.musicxml").read_text(encoding="utf-8"),
                "lmx": (folder / f"{name}.lmx").read_text(encoding="utf-8").strip(),
                "image": {"bytes": (folder / f"{name}.png").read_bytes(), "path": None},
                "midi": (folder / f"{name}.mid").read_bytes(),
                "audio": {"bytes": (folder / f"{name}.flac").read_bytes(), "path": None},
                "duration": excerpt["duration"],
            }


def _page_rows(raw_dir: Path, pieces: list[dict]):
    for meta in pieces:
        folder = raw_dir / piece_key(meta["piece_id"])
        for page in meta["pages"]:
            yield {
                "piece_id": meta["piece_id"],
                "page_index": page["page_index"],
                "image": {"bytes": (folder / page["file"]).read_bytes(), "path": None},
                "system_boxes": page["system_boxes"],
                "staff_boxes": page["staff_boxes"],
            }


def _dataset(rows, features):
    """A Dataset with exactly ``features``.

    ``Audio.encode_example`` imports torchcodec even for ready-made bytes, so audio
    columns are written as their storage struct ``{bytes, path}`` and cast afterwards
    (an Arrow-level cast that needs no codec).
    """
    from datasets import Audio, Dataset, Value  # heavy: datasets

    plain = features.copy()
    audio_columns = [name for name, feature in features.items() if isinstance(feature, Audio)]
    for name in audio_columns:
        plain[name] = {"bytes": Value("binary"), "path": Value("string")}
    rows = list(rows)
    if rows:
        dataset = Dataset.from_list(rows, features=plain)
    else:
        dataset = Dataset.from_dict({name: [] for name in plain}, features=plain)
    for name in audio_columns:
        dataset = dataset.cast_column(name, features[name])
    return dataset


def _assemble(out: Path, raw_dir: Path, kept: list[SourceScore], seed: int, show_progress: bool) -> BuildSummary:
    """Write the excerpt DatasetDict and the page Dataset from the finished pieces' raw files."""
    from datasets import DatasetDict  # heavy: datasets
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar  # heavy: datasets

    pieces = sorted((json.loads((raw_dir / piece_key(s.piece_id) / PIECE_FILE).read_text()) for s in kept), key=lambda m: m["piece_id"])
    split = _split_of([m["piece_id"] for m in pieces], seed)
    if not show_progress:
        disable_progress_bar()
    try:
        splits = DatasetDict({name: _dataset(_excerpt_rows(raw_dir, pieces, name, split), excerpt_features()) for name in SPLITS})
        pages = _dataset(_page_rows(raw_dir, pieces), page_features())
        staging = out / f".tmp-datasets-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        # an empty split needs one (empty) shard, or load_from_disk fails on it
        splits.save_to_disk(str(staging / "excerpts"), num_shards={name: 1 for name in SPLITS if len(splits[name]) == 0} or None)
        pages.save_to_disk(str(staging / "pages"), num_shards=1 if len(pages) == 0 else None)
    finally:
        if not show_progress:
            enable_progress_bar()
    (out / "dataset_dict.json").unlink(missing_ok=True)
    for name in (*SPLITS, "pages"):
        shutil.rmtree(out / name, ignore_errors=True)
    os.replace(staging / "pages", out / "pages")
    for name in SPLITS:
        os.replace(staging / "excerpts" / name, out / name)
    os.replace(staging / "excerpts" / "dataset_dict.json", out / "dataset_dict.json")
    shutil.rmtree(staging, ignore_errors=True)
    summary = BuildSummary(out_dir=str(out))
    summary.pieces = len(pieces)
    summary.excerpts = sum(len(m["excerpts"]) for m in pieces)
    summary.hours = sum(e["duration"] for m in pieces for e in m["excerpts"]) / 3600.0
    summary.pages = sum(len(m["pages"]) for m in pieces)
    summary.split_pieces = dict(Counter(split.values()))
    summary.split_excerpts = {name: len(splits[name]) for name in SPLITS}
    skips: Counter[str] = Counter()
    for meta in pieces:
        skips.update(meta.get("excerpt_skips", {}))
    summary.excerpt_skips = dict(skips)
    return summary


def load_embedded_corpus(directory: str | os.PathLike):
    """The excerpt ``DatasetDict`` of a built corpus; :class:`UserError` if ``directory`` is not one."""
    from datasets import load_from_disk  # heavy: datasets

    path = Path(directory)
    if not (path / "dataset_dict.json").is_file():
        raise UserError(f"{path} is not a built embedded corpus (no dataset_dict.json); run `umust build-corpus --out {path}` first")
    return load_from_disk(str(path))


def load_embedded_pages(directory: str | os.PathLike):
    """The page ``Dataset`` (images with system and staff boxes) of a built corpus."""
    from datasets import load_from_disk  # heavy: datasets

    path = Path(directory) / "pages"
    if not (path / "dataset_info.json").is_file():
        raise UserError(f"{path} holds no page dataset; run `umust build-corpus --out {Path(directory)}` first")
    return load_from_disk(str(path))
