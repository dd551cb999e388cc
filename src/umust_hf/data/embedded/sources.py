"""Find and pre-filter the scores that ship inside the music21 package.

Only a cheap text sniff happens here (number of parts/spines/voices), so that ensembles
LMX cannot represent are never parsed. The real decision (grand staff, single staff,
4-voice chorale) is taken in :mod:`.excerpts` once the score is parsed.
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .reduction import KEYBOARD_WORDS, VOCAL_WORDS

#: File suffixes of the score formats music21 parses and the corpus ships.
SCORE_SUFFIXES = (".krn", ".mxl", ".xml", ".musicxml", ".abc")
#: Corpus folders of music21 test and demo files rather than music.
EXCLUDED_FOLDERS = ("demos", "theoryExercises")
#: Most parts/spines a source may have: a 4-voice chorale plus one doubling instrument.
MAX_SNIFFED_PARTS = 5


@dataclass(frozen=True)
class SourceScore:
    """One candidate piece: a corpus file, and for multi-tune ABC files the tune number."""

    source: str  # path relative to the music21 corpus root, with "/" separators
    path: Path
    tune: int | None = None  # ABC "X:" number when the file holds several tunes

    @property
    def piece_id(self) -> str:
        """Stable id: the relative path, plus ``#X`` for one tune of a multi-tune ABC file."""
        return self.source if self.tune is None else f"{self.source}#{self.tune}"

    @property
    def group(self) -> str:
        """Top-level corpus folder (composer or collection), used to interleave sources."""
        return self.source.split("/", 1)[0]


def corpus_root() -> Path:
    """The folder of music21's bundled corpus."""
    import music21  # heavy: music21

    return Path(music21.__file__).parent / "corpus"


def _read_text(path: Path, limit: int = 400_000) -> str:
    if path.suffix == ".mxl":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith((".xml", ".musicxml")) and not n.startswith("META-INF")]
            if not names:
                return ""
            return archive.read(names[0])[:limit].decode("utf-8", "replace")
    return path.read_bytes()[:limit].decode("utf-8", "replace")


def sniff_part_count(path: Path, text: str | None = None) -> int:
    """Cheap upper-bound guess of the number of parts (MusicXML), kern spines or ABC voices."""
    text = _read_text(path) if text is None else text
    if path.suffix == ".krn":
        for line in text.splitlines():
            if line.startswith("**"):
                return sum(1 for spine in line.split("\t") if spine == "**kern")
        return 0
    if path.suffix == ".abc":
        first_tune = text.split("\nX:", 2)[1] if "\nX:" in text else text
        voices = set(re.findall(r"^V:\s*(\S+)", first_tune, flags=re.M))
        return max(1, len(voices))
    return len(re.findall(r"<score-part[\s>]", text))


def sniff_ensemble(path: Path, text: str) -> str | None:
    """Reason to skip a MusicXML file whose several parts are neither voices nor a keyboard.

    Mirrors the decision of :func:`.reduction.reduce_score` (which sees the parsed score)
    so that string quartets are not parsed just to be rejected.
    """
    if path.suffix not in (".mxl", ".xml", ".musicxml"):
        return None
    names = [re.sub(r"<[^>]+>", "", n).strip().lower() for n in re.findall(r"<part-name[^>]*>(.*?)</part-name>", text, flags=re.S)]
    if len(names) < 2:
        return None
    keyboards = sum(any(w in n for w in KEYBOARD_WORDS) for n in names)
    vocal = sum(any(w in n for w in VOCAL_WORDS) for n in names)
    if keyboards or vocal >= 4:
        return None
    return f"ensemble of {len(names)} parts ({', '.join(sorted(set(names)))})"


def abc_tune_numbers(text: str) -> list[int]:
    """The ``X:`` numbers of an ABC file, in file order (duplicates dropped)."""
    numbers: list[int] = []
    for match in re.finditer(r"^X:\s*(\d+)", text, flags=re.M):
        number = int(match.group(1))
        if number not in numbers:
            numbers.append(number)
    return numbers


def find_sources(root: Path | None = None) -> tuple[list[SourceScore], list[tuple[str, str]]]:
    """All candidate pieces under the corpus root, and (source, reason) for files left out.

    Multi-tune ABC files give one candidate per tune.
    """
    root = corpus_root() if root is None else root
    candidates: list[SourceScore] = []
    skipped: list[tuple[str, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in SCORE_SUFFIXES and p.is_file()):
        source = path.relative_to(root).as_posix()
        if source.startswith("_") or source.split("/", 1)[0] in EXCLUDED_FOLDERS:
            continue
        try:
            text = _read_text(path)
        except (OSError, zipfile.BadZipFile) as error:
            skipped.append((source, f"unreadable: {error}"))
            continue
        parts = sniff_part_count(path, text)
        if parts == 0:
            skipped.append((source, "no parts found"))
            continue
        if parts > MAX_SNIFFED_PARTS:
            skipped.append((source, f"ensemble of {parts} parts"))
            continue
        ensemble = sniff_ensemble(path, text)
        if ensemble:
            skipped.append((source, ensemble))
            continue
        tunes = abc_tune_numbers(text) if path.suffix == ".abc" else []
        if len(tunes) > 1:
            candidates.extend(SourceScore(source, path, tune) for tune in tunes)
        else:
            candidates.append(SourceScore(source, path))
    return candidates, skipped


def _rank(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def order_sources(candidates: list[SourceScore], seed: int) -> list[SourceScore]:
    """Seeded order that interleaves the corpus folders round-robin.

    A small build then mixes piano music, chorales and folk melodies instead of taking
    1,000 Palestrina masses first. Deterministic for a seed.
    """
    groups: dict[str, list[SourceScore]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.group, []).append(candidate)
    queues = [sorted(items, key=lambda c: _rank(c.piece_id, seed)) for _, items in sorted(groups.items(), key=lambda kv: _rank(kv[0], seed))]
    ordered: list[SourceScore] = []
    depth = 0
    while len(ordered) < len(candidates):
        for queue in queues:
            if depth < len(queue):
                ordered.append(queue[depth])
        depth += 1
    return ordered
