"""The embedded four-modality corpus: scores shipped in PyPI packages -> aligned
score image, MusicXML/LMX, performance MIDI and audio (see :mod:`.builder`).

Names resolve lazily so that the CLI can read :data:`DEFAULT_MAX_PIECES` without
importing numpy, datasets or music21.
"""

from __future__ import annotations

from ..._lazy import lazy_exports

#: Pieces in the default build (about 650 excerpts, a few minutes on 2 cores).
DEFAULT_MAX_PIECES = 100

_LAZY = {
    "BuildSummary": ".builder",
    "build_embedded_corpus": ".builder",
    "load_embedded_corpus": ".builder",
    "load_embedded_pages": ".builder",
    "write_preview": ".preview",
}
__all__ = ["DEFAULT_MAX_PIECES", *_LAZY]
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, eager=("DEFAULT_MAX_PIECES",))
