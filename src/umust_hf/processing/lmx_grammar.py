"""The LMX grammar: check a token list and repair it into well-formed, canonical LMX.

LMX (``linearized-musicxml``) is ``measure`` followed, per measure, by items of the form
``prefix* root suffix*``. :func:`check_lmx` groups tokens the way ``lmx``'s Delinearizer does,
reports what the Delinearizer would complain about or silently get wrong (strict callers
raise on it, lenient callers log it), and returns the repaired sequence, written the way
``lmx``'s Linearizer would write the resulting MusicXML, so that MusicXML -> LMX -> MusicXML
-> LMX is a fixed point.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from lmx.linearization import vocabulary as V


# ----------------------------------------------------------------------------- token classes
PITCHES = frozenset(V.PITCH_TOKENS)
KINDS = PITCHES | {"rest", "forward", "backup"}
VOICES = frozenset(V.VOICE_TOKENS)
PREFIXES = frozenset(V.NOTE_PREFIX_TOKENS)
NOTE_ROOTS = frozenset(V.NOTE_ROOT_TOKENS)
NOTE_TYPES = frozenset(V.NOTE_TYPE_TOKENS)
KEYS = frozenset(V.KEY_TOKENS)
CLEFS = frozenset(V.CLEF_TOKENS)
ROOTS = NOTE_ROOTS | KEYS | CLEFS | {"time"}
SUFFIXES = frozenset([*V.NOTE_SUFFIX_TOKENS, *V.BEATS_TOKENS, *V.BEAT_TYPE_TOKENS])

#: Suffix groups a note may carry at most once (the Delinearizer keeps the first of each).
_SINGLE_SUFFIX_GROUPS: tuple[frozenset[str], ...] = tuple(
    frozenset(g)
    for g in (
        V.TIME_MODIFICATION_TOKENS, V.ACCIDENTAL_TOKENS, V.STEM_TOKENS, V.STAFF_TOKENS,
        ["tied:start"], ["tied:stop"], ["tuplet:start"], ["tuplet:stop"], ["fermata"], ["arpeggiate"],
        ["staccato"], ["accent"], ["strong-accent"], ["tenuto"], V.TREMOLO_TYPE_TOKENS,
        V.TREMOLO_MARKS_TOKENS, ["trill-mark"],
    )
)
#: Suffixes a note may repeat.
_MULTI_SUFFIXES = frozenset(["dot", *V.BEAM_TOKENS, "slur:start", "slur:stop"])
#: Prefix groups of a note, at most one of each (the Delinearizer keeps the last of each).
_PREFIX_GROUPS: tuple[frozenset[str], ...] = (
    frozenset(["print-object:no"]), frozenset(["grace"]), frozenset(["grace:slash"]),
    frozenset(["chord"]), KINDS, VOICES,
)
#: Rank of each note suffix in the order the Linearizer writes them (a stable sort keeps repeats).
_SUFFIX_RANK: dict[str, int] = {
    token: rank
    for rank, group in enumerate(
        (
            V.TIME_MODIFICATION_TOKENS, ["dot"], V.ACCIDENTAL_TOKENS, V.STEM_TOKENS, V.STAFF_TOKENS,
            ["beam:begin", "beam:end"], ["beam:forward-hook", "beam:backward-hook"], ["tied:stop"], ["tied:start"],
            ["tuplet:stop"], ["tuplet:start"], ["slur:stop"], ["slur:start"], ["fermata"], ["arpeggiate"],
            ["staccato"], ["accent"], ["strong-accent"], ["tenuto"], V.TREMOLO_TYPE_TOKENS,
            V.TREMOLO_MARKS_TOKENS, ["trill-mark"],
        )
    )
    for token in group
}
_DEFAULT_TIME = ("beats:4", "beat-type:4")

class LMXError(ValueError):
    """Ill-formed LMX or MusicXML that cannot be converted (strict mode)."""


@dataclass
class LMXCheck:
    """Result of :func:`check_lmx`: the repaired tokens and what was wrong with the input."""

    tokens: list[str]
    problems: list[str] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        self.problems.append(message)

    def summary(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in sorted(self.counts.items()))


# ----------------------------------------------------------------------------- grammar pass
@dataclass
class _Item:
    root: tuple[int, str]
    prefixes: list[tuple[int, str]]
    suffixes: list[tuple[int, str]] = field(default_factory=list)


def check_lmx(tokens: Sequence[str]) -> LMXCheck:
    """Check an LMX token list against the grammar and repair it.

    Repairs (each is reported as a problem): unknown tokens are dropped; content before the
    first ``measure`` gets a ``measure`` inserted; prefixes without a root (a note without a
    type) and suffixes without a root are dropped; an item with tokens its root does not take
    loses them; a note without pitch/rest/forward/backup is dropped; ``chord`` on a rest or
    after a non-pitched note is dropped; ``time`` without ``beats``/``beat-type`` gets 4/4;
    key/time/clef are put in the Linearizer's order; an empty sequence becomes one empty
    measure.

    Normalisations that do not change the delinearised MusicXML are silent: note prefixes in
    canonical order, note suffixes in the Linearizer's order (so stop before start for
    slurs/ties/tuplets on one note), stems where the
    Linearizer would write them after a Delinearizer pass (see :class:`_StemState`), runs of
    forward/backup re-split longest first. A sequence the Linearizer
    wrote comes back unchanged with no problems.
    """
    check = LMXCheck(tokens=[])
    known: list[tuple[int, str]] = []
    for position, token in enumerate(tokens):
        if token in _ALL:
            known.append((position, token))
        else:
            check.add("unknown token", f"unknown token {token!r} at position {position}")
    if not known:
        check.add("empty sequence", "no measure in the sequence")
        check.tokens = ["measure"]
        return check
    if known[0][1] != "measure":
        check.add("missing measure", f"tokens before the first 'measure' (position {known[0][0]})")
        known.insert(0, (-1, "measure"))

    measure: list[tuple[int, str]] = []
    for position, token in known[1:]:  # known[0] is "measure"
        if token == "measure":
            _check_measure(measure, check)
            measure = []
        else:
            measure.append((position, token))
    _check_measure(measure, check)
    check.tokens = _merge_forward_backup(check.tokens)
    return check


_ALL = frozenset(V.ALL_TOKENS)


def _check_measure(tokens: list[tuple[int, str]], check: LMXCheck) -> None:
    """Group one measure's tokens into items and append the repaired measure to ``check``."""
    items: list[_Item] = []
    pending: list[tuple[int, str]] = []
    for position, token in tokens:
        if token in PREFIXES:
            pending.append((position, token))
        elif token in ROOTS:
            items.append(_Item((position, token), pending))
            pending = []
        elif token in SUFFIXES:
            if not items:
                check.add("dangling suffix", f"suffix {token!r} at position {position} has no root before it")
            else:
                if pending:
                    check.add(
                        "misplaced suffix",
                        f"suffix {token!r} at position {position} comes after prefixes of the next item",
                    )
                items[-1].suffixes.append((position, token))
    for position, token in pending:
        check.add("dangling prefix", f"prefix {token!r} at position {position} has no note type after it")

    check.tokens.append("measure")
    previous_pitched = False
    stems = _StemState()
    attributes: list[tuple[int, list[str]]] = []  # a run of key/time/clef items: one <attributes>
    for item in items:
        root = item.root[1]
        if root in NOTE_ROOTS:
            check.tokens.extend(_canonical_attributes(attributes, check))
            attributes = []
            kept, previous_pitched = _check_note(item, previous_pitched, check)
            check.tokens.extend(stems.canonical(kept))
        elif root == "time":
            attributes.append((item.root[0], _check_time(item, check)))
        else:  # key or clef
            allowed = frozenset(V.STAFF_TOKENS) if root in CLEFS else frozenset()
            _reject(item.prefixes, root, check)
            attributes.append((item.root[0], [root, *_single_suffixes(item, (allowed,) if allowed else (), check)]))
    check.tokens.extend(_canonical_attributes(attributes, check))


def _merge_forward_backup(tokens: list[str]) -> list[str]:
    """Rewrite runs of plain ``forward``/``backup`` items as the Linearizer splits them.

    The Delinearizer merges consecutive forwards (or backups) into one element and the
    Linearizer re-splits it greedily, longest type first; doing the same here keeps
    MusicXML -> LMX -> MusicXML -> LMX stable. Meaning is unchanged, so nothing is reported.
    """
    out: list[str] = []
    i = 0
    while i < len(tokens):
        kind = tokens[i]
        if kind in ("forward", "backup") and i + 1 < len(tokens) and tokens[i + 1] in NOTE_TYPES:
            total = Fraction(0)
            j = i
            while (
                j + 1 < len(tokens) and tokens[j] == kind and tokens[j + 1] in NOTE_TYPES
                and (j + 2 >= len(tokens) or tokens[j + 2] not in SUFFIXES)
            ):
                total += V.NOTE_TYPE_TO_QUARTER_MULTIPLE[tokens[j + 1]]
                j += 2
            if j == i:  # a forward with a time modification: leave it alone
                out.extend(tokens[i : i + 2])
                i += 2
                continue
            for note_type in reversed(V.NOTE_TYPE_TOKENS):
                step = V.NOTE_TYPE_TO_QUARTER_MULTIPLE[note_type]
                while total >= step:
                    out.extend([kind, note_type])
                    total -= step
            i = j
            continue
        out.append(kind)
        i += 1
    return out


class _StemState:
    """Rewrite stem tokens as Linearizer(Delinearizer(tokens)) would write them (silent).

    The Delinearizer gives every pitched, non-whole note the last stem seen in the measure
    and ignores stems on rests and whole notes; the Linearizer writes a stem when it changes
    and forgets it at each measure and ``backup``. Simulating both makes stems a fixed point.
    """

    _BEFORE_STEM = frozenset([*V.TIME_MODIFICATION_TOKENS, "dot", *V.ACCIDENTAL_TOKENS])

    def __init__(self) -> None:
        self.written: str | None = None  # the Delinearizer's running stem
        self.emitted: str | None = None  # the Linearizer's last written stem

    def canonical(self, tokens: list[str]) -> list[str]:
        if not tokens or "forward" in tokens:
            return tokens
        if "backup" in tokens:
            self.emitted = None
            return tokens
        given = [t for t in tokens if t in V.STEM_TOKENS]
        tokens = [t for t in tokens if t not in V.STEM_TOKENS]
        root = next(i for i, t in enumerate(tokens) if t in NOTE_ROOTS)
        if "rest" in tokens[:root] or tokens[root] == "whole":
            return tokens
        if given:
            self.written = given[0]
        if self.written is None or self.written == self.emitted:
            return tokens
        self.emitted = self.written
        at = root + 1
        while at < len(tokens) and tokens[at] in self._BEFORE_STEM:
            at += 1
        return [*tokens[:at], self.written, *tokens[at:]]


def _canonical_attributes(run: list[tuple[int, list[str]]], check: LMXCheck) -> list[str]:
    """Order one <attributes> run as the Linearizer writes it: key, time, clefs by staff.

    A second key or time in the run is dropped, and of two clefs for one staff the last
    wins (the Linearizer would lose the others when reading the MusicXML back).
    """
    slots: dict[tuple[int, int], tuple[int, list[str]]] = {}
    for position, tokens in run:
        root = tokens[0]
        if root in CLEFS:
            staff = next((int(t.split(":")[1]) for t in tokens[1:]), 1)
            slot = (2, staff)
            if slot in slots:
                check.add("duplicate token", f"second clef for staff {staff} at position {position}")
            slots[slot] = (position, tokens)
        else:
            slot = (0, 0) if root in KEYS else (1, 0)
            if slot in slots:
                check.add("duplicate token", f"second {root.split(':')[0]!r} in one attributes group at position {position}")
            else:
                slots[slot] = (position, tokens)
    ordered = [tokens for _, tokens in (slots[k] for k in sorted(slots))]
    if [p for _, (p, _) in sorted(slots.items())] != sorted(p for p, _ in slots.values()):
        check.add("attribute order", f"key/time/clef reordered near position {run[0][0]}")
    return [token for tokens in ordered for token in tokens]


def _reject(tokens: list[tuple[int, str]], root: str, check: LMXCheck) -> None:
    for position, token in tokens:
        check.add("unexpected token", f"{token!r} at position {position} does not belong to {root!r}")


def _single_suffixes(
    item: _Item, groups: tuple[frozenset[str], ...], check: LMXCheck, multi: frozenset[str] = frozenset()
) -> list[str]:
    """Keep allowed suffixes (first of each single group, all of ``multi``), report the rest."""
    seen: set[int] = set()
    kept: list[str] = []
    for position, token in item.suffixes:
        if token in multi:
            kept.append(token)
            continue
        group = next((i for i, g in enumerate(groups) if token in g), None)
        if group is None:
            check.add("unexpected token", f"{token!r} at position {position} does not belong to {item.root[1]!r}")
        elif group in seen:
            check.add("duplicate token", f"second {token!r}-like suffix at position {position}")
        else:
            seen.add(group)
            kept.append(token)
    return kept


def _check_time(item: _Item, check: LMXCheck) -> list[str]:
    _reject(item.prefixes, "time", check)
    groups = (frozenset(V.BEATS_TOKENS), frozenset(V.BEAT_TYPE_TOKENS))
    suffixes = _single_suffixes(item, groups, check)
    beats = next((t for t in suffixes if t in groups[0]), None)
    beat_type = next((t for t in suffixes if t in groups[1]), None)
    if beats is None or beat_type is None:
        check.add("incomplete time signature", f"'time' at position {item.root[0]} lacks beats or beat-type")
    return ["time", beats or _DEFAULT_TIME[0], beat_type or _DEFAULT_TIME[1]]


def _check_note(item: _Item, previous_pitched: bool, check: LMXCheck) -> tuple[list[str], bool]:
    """Repair one note/rest/forward/backup item; returns its tokens and whether it is pitched."""
    position, root = item.root
    # the Delinearizer keeps the last prefix of each group
    chosen: dict[int, tuple[int, str]] = {}
    for pos, token in item.prefixes:
        group = next(i for i, g in enumerate(_PREFIX_GROUPS) if token in g)
        if group in chosen:
            check.add("duplicate token", f"prefix {chosen[group][1]!r} at position {chosen[group][0]} is repeated")
        chosen[group] = (pos, token)
    kind = chosen.get(4, (None, None))[1]
    if kind is None:
        check.add("note without pitch", f"note {root!r} at position {position} has no pitch, rest, forward or backup")
        return [], previous_pitched

    if kind in ("forward", "backup"):
        if root not in NOTE_TYPES:
            check.add("bad forward/backup", f"{kind} at position {position} has root {root!r}")
            return [], previous_pitched
        _reject([p for g, p in chosen.items() if g != 4], root, check)
        return [kind, root, *_single_suffixes(item, (frozenset(V.TIME_MODIFICATION_TOKENS),), check)], previous_pitched

    if root == "rest:measure" and kind != "rest":
        check.add("bad measure rest", f"'rest:measure' at position {position} is not a rest")
        return [], previous_pitched
    if 3 in chosen and (kind not in PITCHES or not previous_pitched):
        check.add("bad chord", f"'chord' at position {chosen[3][0]} does not follow a pitched note")
        del chosen[3]
    if 2 in chosen and 1 not in chosen:
        check.add("unexpected token", f"'grace:slash' at position {chosen[2][0]} without 'grace'")
        del chosen[2]
    # canonical (Linearizer) order; the Delinearizer ignores prefix order, so this is silent
    prefixes = [chosen[group][1] for group in sorted(chosen)]
    suffixes = _single_suffixes(item, _SINGLE_SUFFIX_GROUPS, check, _MULTI_SUFFIXES)
    # the order the Linearizer writes (stop before start for slurs, ties and tuplets, as the
    # Delinearizer writes them; a slur start before a stop would be closed by that very stop)
    suffixes.sort(key=_SUFFIX_RANK.__getitem__)
    has_type = any(t in V.TREMOLO_TYPE_TOKENS for t in suffixes)
    if not has_type and any(t in V.TREMOLO_MARKS_TOKENS for t in suffixes):
        check.add("unexpected token", f"tremolo marks without a tremolo type at position {position}")
        suffixes = [t for t in suffixes if t not in V.TREMOLO_MARKS_TOKENS]
    return [*prefixes, root, *suffixes], kind in PITCHES
