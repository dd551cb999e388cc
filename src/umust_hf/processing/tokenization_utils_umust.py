"""Shared base of the LMX and MIDI tokenizers: a fixed, word-level vocabulary.

Both tokenizers have a closed vocabulary (no sub-words, no training) that starts with the
four unified specials ``<pad> <sos> <eos> <sep>`` at local ids 0..3 (the layout contract of
:mod:`umust_hf.vocabulary`), followed by the modality's own tokens. Text is whitespace
separated tokens. There is no ``<unk>``: an unknown token is an error in strict mode and is
dropped with a logged warning in lenient mode.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from typing import Any

from transformers.tokenization_python import PythonBackend

from ..io_utils import atomic_write_json
from ..vocabulary import EOS_ID, NUM_SPECIALS, PAD_ID, SEP_ID, SOS_ID, SPECIAL_TOKENS

logger = logging.getLogger(__name__)

VOCAB_FILES_NAMES = {"vocab_file": "vocab.json"}


class UnknownTokenError(ValueError):
    """A token that is not in the tokenizer's vocabulary (strict mode)."""


def read_vocab_file(path: str) -> list[str]:
    """Read a ``vocab.json`` ({token: id}) back into the token list ordered by id."""
    try:
        with open(path, encoding="utf-8") as handle:
            mapping = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read tokenizer vocabulary {path!r}: {error}") from error
    if not isinstance(mapping, dict) or sorted(mapping.values()) != list(range(len(mapping))):
        raise ValueError(f"tokenizer vocabulary {path!r} must map every token to a distinct id 0..N-1")
    return [token for token, _ in sorted(mapping.items(), key=lambda item: item[1])]


class FixedVocabTokenizer(PythonBackend):
    """A ``PythonBackend`` tokenizer over ``SPECIAL_TOKENS + tokens`` (ids in that order).

    Subclasses pass their own token list to ``__init__``. ``strict`` is the default for every
    method that takes a ``strict=`` argument: strict raises on anything ill-formed, lenient
    repairs or drops it and logs one warning with counts.
    """

    vocab_files_names = VOCAB_FILES_NAMES
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(self, tokens: Sequence[str], strict: bool = False, **kwargs: Any) -> None:
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"{type(self).__name__}: the vocabulary has duplicate tokens")
        clash = set(tokens) & set(SPECIAL_TOKENS)
        if clash:
            raise ValueError(f"tokens {sorted(clash)} clash with the special tokens {SPECIAL_TOKENS}")
        self.strict = bool(strict)
        self._id_to_token: list[str] = [*SPECIAL_TOKENS, *tokens]
        self._token_to_id: dict[str, int] = {t: i for i, t in enumerate(self._id_to_token)}
        kwargs.setdefault("special_tokens_pattern", "eos")
        for name, index in (("pad_token", PAD_ID), ("bos_token", SOS_ID), ("eos_token", EOS_ID), ("sep_token", SEP_ID)):
            given = str(kwargs.pop(name, SPECIAL_TOKENS[index]))
            if given != SPECIAL_TOKENS[index]:
                raise ValueError(f"{name} is fixed to {SPECIAL_TOKENS[index]!r} by the unified vocabulary, got {given!r}")
        super().__init__(
            pad_token=SPECIAL_TOKENS[PAD_ID],
            bos_token=SPECIAL_TOKENS[SOS_ID],
            eos_token=SPECIAL_TOKENS[EOS_ID],
            sep_token=SPECIAL_TOKENS[SEP_ID],
            strict=self.strict,
            **kwargs,
        )

    # ------------------------------------------------------------ vocabulary
    @property
    def vocab_size(self) -> int:
        """Size including the four specials (``num_tokens + 4``)."""
        return len(self._id_to_token)

    @property
    def num_tokens(self) -> int:
        """Non-special tokens: the size of this modality's range in the unified vocabulary."""
        return len(self._id_to_token) - NUM_SPECIALS

    @property
    def tokens(self) -> list[str]:
        """The non-special tokens, in id order (local id = index + 4)."""
        return self._id_to_token[NUM_SPECIALS:]

    def get_vocab(self) -> dict[str, int]:
        return dict(self._token_to_id)

    def _convert_token_to_id(self, token: str) -> int:
        try:
            return self._token_to_id[token]
        except KeyError:
            raise UnknownTokenError(f"{type(self).__name__}: unknown token {token!r}") from None

    def _convert_id_to_token(self, index: int) -> str:
        if not 0 <= index < len(self._id_to_token):
            raise UnknownTokenError(
                f"{type(self).__name__}: id {index} is outside the vocabulary [0, {len(self._id_to_token)})"
            )
        return self._id_to_token[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return " ".join(tokens)

    # ------------------------------------------------------------ text -> tokens
    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        """Split on whitespace; unknown words raise (strict) or are dropped with a warning."""
        return self.filter_known(text.split())

    def filter_known(self, tokens: Sequence[str], strict: bool | None = None) -> list[str]:
        """Keep the tokens that are in the vocabulary.

        Strict mode raises :class:`UnknownTokenError` naming the first unknown token and its
        position; lenient mode drops every unknown token and logs how many.
        """
        strict = self.strict if strict is None else strict
        known = [t for t in tokens if t in self._token_to_id]
        if len(known) != len(tokens):
            unknown = [(i, t) for i, t in enumerate(tokens) if t not in self._token_to_id]
            if strict:
                position, token = unknown[0]
                raise UnknownTokenError(
                    f"{type(self).__name__}: unknown token {token!r} at position {position} "
                    f"({len(unknown)} unknown token(s) in total)"
                )
            sample = sorted({t for _, t in unknown})[:5]
            logger.warning("%s: dropped %d unknown token(s), e.g. %s", type(self).__name__, len(unknown), sample)
        return known

    def ids_to_known_tokens(self, ids: Sequence[int], strict: bool | None = None) -> list[str]:
        """Map ids to tokens as :meth:`clean_ids` filters them."""
        return [self._id_to_token[i] for i in self.clean_ids(ids, strict=strict)]

    def clean_ids(self, ids: Sequence[int], strict: bool | None = None) -> list[int]:
        """Keep the token ids of one sequence: stop at the first ``<eos>``, skip ``<pad>``/``<sos>``.

        Ids outside the vocabulary and ``<sep>`` raise :class:`UnknownTokenError` in strict
        mode and are dropped (with a logged warning) in lenient mode.
        """
        strict = self.strict if strict is None else strict
        size = len(self._id_to_token)
        out: list[int] = []
        bad: list[int] = []
        for position, raw in enumerate(ids):
            index = int(raw)
            if index >= NUM_SPECIALS and index < size:
                out.append(index)
            elif index == EOS_ID:
                break
            elif index in (PAD_ID, SOS_ID):
                continue
            elif strict:
                what = "<sep>" if index == SEP_ID else "outside the vocabulary"
                raise UnknownTokenError(f"{type(self).__name__}: id {index} at position {position} is {what}")
            else:
                bad.append(index)
        if bad:
            logger.warning(
                "%s: dropped %d id(s) that are <sep> or outside [0, %d), e.g. %s",
                type(self).__name__, len(bad), size, bad[:5],
            )
        return out

    # ------------------------------------------------------------ persistence
    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str, ...]:
        """Write ``vocab.json`` ({token: local id}, specials included) atomically."""
        if not os.path.isdir(save_directory):
            raise ValueError(f"vocabulary path {save_directory!r} must be an existing directory")
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        path = os.path.join(save_directory, prefix + VOCAB_FILES_NAMES["vocab_file"])
        atomic_write_json(path, self.get_vocab())
        return (path,)

    def check_saved_vocab(self, vocab_file: str | None) -> None:
        """Fail loudly when a saved ``vocab.json`` disagrees with the vocabulary built in code."""
        if vocab_file is None:
            return
        saved = read_vocab_file(vocab_file)
        if saved != self._id_to_token:
            first = next((i for i, (a, b) in enumerate(zip(saved, self._id_to_token)) if a != b), None)
            raise ValueError(
                f"{vocab_file!r} does not match {type(self).__name__}'s vocabulary "
                f"(sizes {len(saved)} vs {len(self._id_to_token)}, first difference at id {first}); "
                "it was saved by another version or with other settings"
            )
