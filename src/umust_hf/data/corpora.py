"""The public corpora of paper Table 1 by name: which loader reads each, and what it holds.

Used by ``umust bake --corpus NAME`` and by anyone who picks a corpus from a config string;
each loader lives in its own module (``umust_hf.data.<name>``) and is imported on demand.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:  # the CLI reads CORPORA for --help without importing datasets
    import datasets


@dataclass(frozen=True)
class CorpusInfo:
    """What a corpus offers (paper Table 1) and where its loader is."""

    name: str
    module: str
    function: str
    #: Columns holding the paper's modalities: image, notation (MusicXML/LMX), MIDI, audio.
    modalities: tuple[str, ...]
    splits: tuple[str, ...]


CORPORA: dict[str, CorpusInfo] = {
    info.name: info
    for info in (
        CorpusInfo("grandstaff", ".grandstaff", "load_grandstaff", ("image", "musicxml", "lmx"), ("train", "validation", "test")),
        CorpusInfo("olimpic", ".olimpic", "load_olimpic", ("image", "musicxml", "lmx"), ("train", "validation", "test")),
        CorpusInfo("musicnet", ".musicnet", "load_musicnet", ("midi", "audio"), ("train", "test")),
        CorpusInfo("maestro", ".maestro", "load_maestro", ("midi", "audio"), ("train", "validation", "test")),
        CorpusInfo("slakh", ".slakh", "load_slakh", ("midi", "audio"), ("train", "validation", "test")),
        CorpusInfo("bpsd", ".bpsd", "load_bpsd", ("musicxml", "midi", "audio"), ("train", "test")),
    )
}


def get_corpus(name: str) -> CorpusInfo:
    """The corpus called ``name`` (case-insensitive), with an error listing the known names."""
    try:
        return CORPORA[name.strip().lower()]
    except KeyError:
        raise UserError(f"unknown corpus {name!r}; expected one of: {', '.join(CORPORA)}") from None


def load_corpus(
    name: str, root: str | os.PathLike[str], **kwargs: Any
) -> datasets.DatasetDict | datasets.IterableDatasetDict:
    """Load corpus ``name`` from ``root``; ``kwargs`` go to its loader (``streaming``, ``cache_dir``...)."""
    info = get_corpus(name)
    loader = getattr(importlib.import_module(info.module, __package__), info.function)
    return loader(root, **kwargs)
