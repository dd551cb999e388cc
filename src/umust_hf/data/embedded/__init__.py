"""The embedded four-modality corpus: scores shipped in PyPI packages -> aligned
score image, MusicXML/LMX, performance MIDI and audio (see :mod:`.builder`)."""

from __future__ import annotations

from .builder import DEFAULT_MAX_PIECES, BuildSummary, build_embedded_corpus, load_embedded_corpus, load_embedded_pages
from .preview import write_preview

__all__ = ["DEFAULT_MAX_PIECES", "BuildSummary", "build_embedded_corpus", "load_embedded_corpus", "load_embedded_pages", "write_preview"]
