"""``LMXTokenizer``: the notation tokenizer (Linearized MusicXML, 224 tokens).

Local ids: 0..3 are ``<pad> <sos> <eos> <sep>``, then the tokens of
``lmx.linearization.vocabulary.ALL_TOKENS`` in that order, so the non-special size equals
``umust_hf.vocabulary.DEFAULT_NOTATION_SIZE``.

Strict mode raises on unknown tokens and ill-formed sequences; lenient mode (the default,
because model output is often ill-formed) repairs them as :func:`check_lmx` documents and
logs one warning with counts. ``to_musicxml`` never crashes in lenient mode.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from lmx.linearization.vocabulary import ALL_TOKENS

from .lmx_grammar import LMXError, check_lmx
from .lmx_musicxml import linearize_part, lmx_to_score, read_score, score_to_string, select_part
from .tokenization_utils_umust import FixedVocabTokenizer, read_vocab_file

logger = logging.getLogger(__name__)


class LMXTokenizer(FixedVocabTokenizer):
    """Word-level tokenizer over the LMX vocabulary, with MusicXML conversion.

    Args:
        vocab_file: a saved ``vocab.json``; when given it defines the token order (a
            vocabulary saved by another ``linearized-musicxml`` version keeps its ids).
        strict: default for every ``strict=`` argument (``False``: repair and warn).

    Example::

        tok = LMXTokenizer()
        tokens = tok.from_musicxml("score.musicxml")   # list[str]
        ids = tok(" ".join(tokens))["input_ids"]       # ends with <eos>
        xml = tok.to_musicxml(ids)                     # complete score-partwise text
    """

    def __init__(self, vocab_file: str | None = None, strict: bool = False, **kwargs: Any) -> None:
        tokens = ALL_TOKENS if vocab_file is None else read_vocab_file(vocab_file)[4:]
        if vocab_file is not None and list(tokens) != list(ALL_TOKENS):
            logger.warning("LMXTokenizer: %s differs from the installed lmx vocabulary; using the file", vocab_file)
        super().__init__(tokens, strict=strict, **kwargs)

    # ------------------------------------------------------------ MusicXML -> LMX
    def from_musicxml(
        self,
        source: str | os.PathLike | bytes | ET.Element | ET.ElementTree,
        part: int | str | None = None,
        strict: bool | None = None,
    ) -> list[str]:
        """Linearise one part of a MusicXML score (path, ``.mxl``, XML text/bytes or tree).

        ``part`` is an index or part id; ``None`` needs a single-part score. Measures the
        ``lmx`` Linearizer cannot handle, and ill-formed output (e.g. a note without
        ``<type>``), raise :class:`LMXError` in strict mode; lenient mode drops or repairs
        them and logs a warning.
        """
        strict = self.strict if strict is None else strict
        score = read_score(source)
        tokens, skipped = linearize_part(select_part(score, part), strict=strict)
        check = check_lmx(tokens)
        if strict and check.problems:
            raise LMXError("the MusicXML linearises to ill-formed LMX: " + "; ".join(check.problems[:5]))
        if skipped:
            logger.warning("LMXTokenizer: left out part of the MusicXML (%s)", "; ".join(skipped[:3]))
        if check.problems:
            logger.warning("LMXTokenizer: repaired the linearised MusicXML (%s)", check.summary())
        return check.tokens

    # ------------------------------------------------------------ LMX -> MusicXML
    def to_musicxml(
        self,
        ids_or_tokens: Sequence[int] | Sequence[str] | str | Any,
        strict: bool | None = None,
        part_name: str = "Music",
        return_tree: bool = False,
    ) -> str | ET.ElementTree:
        """Build a complete, schema-valid ``<score-partwise>`` from ids, tokens or LMX text.

        Ids stop at the first ``<eos>``; ``<pad>``/``<sos>`` are skipped. Returns the XML
        text (``return_tree=True`` gives the ``ElementTree``).
        """
        strict = self.strict if strict is None else strict
        tokens = self.as_tokens(ids_or_tokens, strict=strict)
        check = check_lmx(tokens)
        if check.problems:
            if strict:
                raise LMXError(f"ill-formed LMX ({check.summary()}): " + "; ".join(check.problems[:5]))
            logger.warning("LMXTokenizer: repaired ill-formed LMX (%s)", check.summary())
        tree = lmx_to_score(check.tokens, part_name=part_name)
        return tree if return_tree else score_to_string(tree)

    def repair(self, ids_or_tokens: Sequence[int] | Sequence[str] | str | Any) -> list[str]:
        """The well-formed token list lenient decoding uses (see :func:`check_lmx`)."""
        return check_lmx(self.as_tokens(ids_or_tokens, strict=False)).tokens

    def as_tokens(self, ids_or_tokens: Sequence[int] | Sequence[str] | str | Any, strict: bool | None = None) -> list[str]:
        """Normalise ids (list, array or tensor), a token list or LMX text to known tokens."""
        if isinstance(ids_or_tokens, str):
            ids_or_tokens = ids_or_tokens.split()
        if hasattr(ids_or_tokens, "tolist"):
            ids_or_tokens = ids_or_tokens.tolist()
        items = list(ids_or_tokens)
        if items and all(isinstance(t, str) for t in items):
            # specials written as text behave like their ids (stop at <eos>, skip <pad>/<sos>)
            items = [self._token_to_id[t] for t in self.filter_known(items, strict=strict)]
        if any(isinstance(t, (list, tuple)) for t in items):
            raise ValueError("LMXTokenizer.to_musicxml takes one sequence; decode a batch item by item")
        return self.ids_to_known_tokens(items, strict=strict)


__all__ = ["LMXTokenizer"]
