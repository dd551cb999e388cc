"""Turn one corpus piece into aligned excerpt files (the unit of work, resuming and parallelism).

Everything for a piece is written into a private temporary folder which is renamed to
its final name only when complete, so a killed build never leaves half-written files:
a piece is done exactly when ``raw/<key>/piece.json`` exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import threading
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ...constants import SAMPLE_RATE
from .excerpts import ExcerptCutter, clean_score
from .notation import delinearize, linearize, sounding_pitches
from .performance import perform, to_midi_bytes
from .reduction import ScoreSkipped, reduce_score
from .rendering import render_pages, render_system
from .sources import SourceScore
from .synthesis import encode_flac, synthesize

#: Audio length bounds of an excerpt, in seconds.
MIN_SECONDS, MAX_SECONDS = 3.0, 20.0
#: Most excerpts taken from one piece (keeps small builds varied).
MAX_EXCERPTS_PER_PIECE = 12
#: Measures rendered for the page images of a piece, and pages kept.
PAGE_MEASURES, MAX_PAGES = 40, 2
#: Quarter-note tempo used when the score has no metronome mark.
DEFAULT_BPM = 100.0
#: A piece using more CPU time than this (pathological files) is skipped. CPU time, not
#: wall time, so that the decision does not depend on how busy the machine is.
PIECE_TIMEOUT_SECONDS = 90
PIECE_FILE = "piece.json"
SKIPPED_FILE = "skipped.json"


@dataclass
class PieceResult:
    """What a worker reports back for one piece."""

    piece_id: str
    ok: bool
    reason: str = ""
    excerpts: int = 0
    seconds: float = 0.0
    excerpt_skips: dict[str, int] = field(default_factory=dict)


def piece_key(piece_id: str) -> str:
    """File-system-safe, unique folder name for a piece id."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in piece_id)
    return f"{safe[:80]}-{hashlib.sha256(piece_id.encode()).hexdigest()[:8]}"


def piece_rng(piece_id: str, seed: int) -> np.random.Generator:
    """Generator that depends only on the seed and the piece (not on worker or order)."""
    digest = hashlib.sha256(f"{seed}:{piece_id}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def measures_for(density: float) -> int:
    """Target measures per system from the mean number of notes per measure."""
    if density <= 6:
        return 6
    if density <= 12:
        return 4
    if density <= 20:
        return 3
    return 2


def _parse(source: SourceScore):
    from music21 import converter  # heavy: music21

    try:
        if source.tune is not None:
            return converter.parse(str(source.path), number=source.tune)
        return converter.parse(str(source.path))
    except ScoreSkipped:
        raise
    except Exception as error:  # music21 raises many unrelated types on bad input
        raise ScoreSkipped(f"music21 could not parse it: {type(error).__name__}: {str(error)[:200]}") from error


def _first_score(parsed):
    from music21 import stream  # heavy: music21

    if isinstance(parsed, stream.Opus):
        scores = list(parsed.scores)
        if not scores:
            raise ScoreSkipped("empty opus")
        return scores[0]
    if isinstance(parsed, stream.Score):
        return parsed
    score = stream.Score()
    score.insert(0, parsed)
    return score


def _reason_key(reason: str) -> str:
    """Short, countable form of a skip reason (no XML dumps, positions or numbers)."""
    reason = reason.split(" b'")[0].split("\n")[0]
    reason = re.sub(r"\[ERROR\]\[[^\]]*\]:\s*", "", reason)
    return re.sub(r"\d+(\.\d+)?", "N", reason)[:100]


def _timeout(signum, frame):  # pragma: no cover - only on pathological files
    raise TimeoutError(f"piece used more than {PIECE_TIMEOUT_SECONDS} s of CPU time")


def _write(path: Path, data: bytes | str) -> None:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def process_piece(source: SourceScore, raw_dir: Path, seed: int, humanize: bool = True, max_excerpts: int = MAX_EXCERPTS_PER_PIECE) -> PieceResult:
    """Build all excerpts and pages of one piece into ``raw_dir/<key>``; never raises.

    On failure a ``skipped.json`` with the reason is written instead, so a resumed
    build does not retry it.
    """
    final = raw_dir / piece_key(source.piece_id)
    work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=raw_dir))
    timer = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGVTALRM, _timeout) if timer else None
    if timer:
        signal.setitimer(signal.ITIMER_VIRTUAL, PIECE_TIMEOUT_SECONDS)
    try:
        result = _build_piece(source, work, seed, humanize, max_excerpts)
    except ScoreSkipped as error:
        result = PieceResult(source.piece_id, False, str(error))
    except Exception as error:  # noqa: BLE001 - one bad score must never stop the build
        result = PieceResult(source.piece_id, False, f"{type(error).__name__}: {str(error)[:300]}")
    finally:
        if timer:
            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            signal.signal(signal.SIGVTALRM, previous)
    if not result.ok:
        shutil.rmtree(work, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=".tmp-", dir=raw_dir))
        _write(work / SKIPPED_FILE, json.dumps(asdict(result), indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(work, final)
    return result


def _build_piece(source: SourceScore, work: Path, seed: int, humanize: bool, max_excerpts: int) -> PieceResult:
    rng = piece_rng(source.piece_id, seed)
    reduced = reduce_score(_first_score(_parse(source)), rng_choice=int(rng.integers(0, 2)))
    root = clean_score(reduced.musicxml)
    cutter = ExcerptCutter(root)
    if not cutter.measures:
        raise ScoreSkipped("no measures")
    bpm = float(np.clip((reduced.tempo_bpm or DEFAULT_BPM) * rng.uniform(0.92, 1.08), 40.0, 220.0))
    seconds_per_quarter = 60.0 / bpm
    densities = [info.notes for info in cutter.infos]
    target = measures_for(float(np.mean(densities)) if densities else 0.0)
    num_staves = 2 if reduced.layout == "grand_staff" else 1
    rows: list[dict] = []
    skips: Counter[str] = Counter()
    start = 0
    total = len(cutter.measures)
    while start < total and len(rows) < max_excerpts:
        count = min(target, total - start)

        def seconds(n: int) -> float:
            return float(sum(info.quarters for info in cutter.infos[start : start + n])) * seconds_per_quarter

        while count > 1 and seconds(count) > MAX_SECONDS:
            count -= 1
        while seconds(count) < MIN_SECONDS and count < min(8, total - start):
            count += 1
        if not MIN_SECONDS <= seconds(count) <= MAX_SECONDS:
            skips["duration outside 3-20 s"] += 1
            start += count
            continue
        excerpt_rng = np.random.default_rng([seed, start, int(rng.integers(0, 2**31))])
        try:
            row, count = _build_excerpt(cutter, start, count, seconds, bpm, excerpt_rng, humanize, reduced.program)
        except ScoreSkipped as error:
            skips[_reason_key(str(error))] += 1
            start += count
            continue
        name = f"m{start + 1:04d}-{start + count:04d}"
        _write(work / f"{name}.musicxml", row.pop("musicxml"))
        _write(work / f"{name}.lmx", row.pop("lmx") + "\n")
        row.pop("image").save(work / f"{name}.png", optimize=False)
        _write(work / f"{name}.mid", row.pop("midi"))
        _write(work / f"{name}.flac", row.pop("audio"))
        rows.append({"name": name, **row})
        start += count
    if not rows:
        reasons = ", ".join(f"{k} ({v})" for k, v in skips.most_common(3)) or "too short"
        raise ScoreSkipped(f"no usable excerpt: {reasons}")
    pages_meta = _build_pages(cutter, work, skips)
    meta = {
        "piece_id": source.piece_id,
        "source": source.source,
        "composer": reduced.composer,
        "title": reduced.title,
        "kind": reduced.kind,
        "instruments": reduced.instruments,
        "programs": [reduced.program],
        "num_staves": num_staves,
        "tempo_bpm": bpm,
        "excerpts": rows,
        "pages": pages_meta,
        "excerpt_skips": dict(skips),
    }
    _write(work / PIECE_FILE, json.dumps(meta, indent=1))
    return PieceResult(source.piece_id, True, excerpts=len(rows), seconds=sum(r["duration"] for r in rows), excerpt_skips=dict(skips))


def _build_excerpt(cutter: ExcerptCutter, start: int, count: int, seconds, bpm: float, rng: np.random.Generator, humanize: bool, program: int) -> tuple[dict, int]:
    """All four modalities of measures ``[start, start+count)``; shrinks the range if the system is too wide."""
    while True:
        musicxml = cutter.cut(start, start + count)
        try:
            image = render_system(musicxml)
            break
        except ScoreSkipped as error:
            if "wide" in str(error) and count > 1 and seconds(count - 1) >= MIN_SECONDS:
                count -= 1
                continue
            raise
    lmx = linearize(musicxml)
    notes = perform(musicxml, tempo_bpm=bpm, rng=rng, humanize=humanize)
    if not notes:
        raise ScoreSkipped("no sounding notes")
    midi = to_midi_bytes(notes, program=program, tempo_bpm=bpm)
    from_lmx = sounding_pitches(delinearize(lmx))
    if from_lmx != sounding_pitches(ET.fromstring(musicxml).find("part")):  # type: ignore[arg-type]
        raise ScoreSkipped("LMX round trip changes the pitches")
    if from_lmx != Counter(note.pitch for note in notes):
        raise ScoreSkipped("MIDI notes differ from the notation's (unmatched ties)")
    end = max(note.end for note in notes)
    audio = synthesize(midi, end)
    return (
        {
            "start_measure": start + 1,
            "end_measure": start + count,
            "musicxml": musicxml.decode("utf-8"),
            "lmx": lmx,
            "image": image,
            "midi": midi,
            "audio": encode_flac(audio),
            "duration": audio.shape[0] / SAMPLE_RATE,
            "last_note_off": end,
        },
        count,
    )


def _build_pages(cutter: ExcerptCutter, work: Path, skips: Counter) -> list[dict]:
    """Page renderings of the first measures, with boxes; a failure here only loses the pages."""
    try:
        pages = render_pages(cutter.cut(0, min(PAGE_MEASURES, len(cutter.measures))), max_pages=MAX_PAGES)
    except ScoreSkipped as error:
        skips[f"pages: {error}"[:80]] += 1
        return []
    meta = []
    for index, page in enumerate(pages):
        name = f"page{index}.png"
        page.image.save(work / name)
        meta.append({"file": name, "page_index": index, "system_boxes": page.system_boxes, "staff_boxes": page.staff_boxes})
    return meta
