"""The unified token vocabulary shared by all four modalities.

Every sequence the model sees is an ``(L, num_codebooks)`` *bundle* of ids in one unified
vocabulary. Image and audio fill all codebooks (the codec's residual levels); notation (LMX)
and MIDI are single-stream: they use codebook 0 and pad codebooks 1..K-1.

Layout of the unified ids (defaults in brackets)::

    0 .. 3                       specials: PAD, SOS, EOS, SEP
    notation  (codebook 0)       LMX tokens                   [224]
    midi      (codebook 0)       YourMT3+-style MIDI events   [2388]
    image     codebook 0..K-1    RQ-VAE codes, one range each [4 x 1024]
    audio     codebook 0..K-1    DAC codes, one range each    [4 x 1024]

Tokenizers use the same four specials at the same local ids (0..3), followed by their own
tokens, so ``local id -> unified id`` is the identity for specials and ``offset + local - 4``
otherwise. Codec codes are plain ``0..codebook_size-1`` and map to ``offset + code``.

The boolean logit mask for a (target modality, codebook) is derived state: the model
rebuilds it from this object (it must never be trusted from a checkpoint buffer).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

import numpy as np

PAD_ID = 0
SOS_ID = 1
EOS_ID = 2
SEP_ID = 3
SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<sos>", "<eos>", "<sep>")
NUM_SPECIALS = len(SPECIAL_TOKENS)

#: Number of LMX tokens in ``lmx.linearization.vocabulary.ALL_TOKENS`` (linearized-musicxml 1.0).
DEFAULT_NOTATION_SIZE = 224
#: MIDI events, YourMT3+ layout with 20 s segments: shift 0..2000, pitch 128, velocity 2, tie 1,
#: program 128, drum 128.
DEFAULT_MIDI_SIZE = 2001 + 128 + 2 + 1 + 128 + 128


class Modality(str, Enum):
    """The four music modalities. The value is the name used in configs and files."""

    IMAGE = "image"
    AUDIO = "audio"
    NOTATION = "notation"
    MIDI = "midi"

    @property
    def is_multi_stream(self) -> bool:
        """Image and audio use all codebooks; notation and MIDI use codebook 0 only."""
        return self in (Modality.IMAGE, Modality.AUDIO)

    @classmethod
    def parse(cls, value: str | Modality) -> Modality:
        """Accept a :class:`Modality`, its value or a common alias ("lmx", "score", "wav"...)."""
        if isinstance(value, Modality):
            return value
        # a Modality from another copy of this module (remote-code loading imports it twice)
        key = str(getattr(value, "value", value)).strip().lower()
        aliases = {
            "img": "image", "score": "image", "score_image": "image", "pixel_values": "image",
            "wav": "audio", "sound": "audio",
            "lmx": "notation", "musicxml": "notation", "text": "notation", "symbolic": "notation",
            "mid": "midi", "performance": "midi",
        }
        key = aliases.get(key, key)
        try:
            return cls(key)
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown modality {value!r}; expected one of: {names}") from None


#: Fixed order of modalities in id layout and in per-modality tables (embeddings, masks).
MODALITY_ORDER: tuple[Modality, ...] = (Modality.NOTATION, Modality.MIDI, Modality.IMAGE, Modality.AUDIO)


@dataclass(frozen=True)
class UnifiedVocabulary:
    """Disjoint id ranges per (modality, codebook) and the logit masks derived from them."""

    notation_size: int = DEFAULT_NOTATION_SIZE
    midi_size: int = DEFAULT_MIDI_SIZE
    image_codebook_size: int = 1024
    audio_codebook_size: int = 1024
    num_codebooks: int = 4

    def __post_init__(self) -> None:
        for name in ("notation_size", "midi_size", "image_codebook_size", "audio_codebook_size", "num_codebooks"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"UnifiedVocabulary.{name} must be a positive int, got {value!r}")

    # ----------------------------------------------------------------- layout
    def num_streams(self, modality: Modality | str) -> int:
        """How many codebooks carry real tokens for ``modality``."""
        return self.num_codebooks if Modality.parse(modality).is_multi_stream else 1

    def codebook_size(self, modality: Modality | str) -> int:
        """Number of non-special tokens per codebook of ``modality``."""
        modality = Modality.parse(modality)
        return {
            Modality.NOTATION: self.notation_size,
            Modality.MIDI: self.midi_size,
            Modality.IMAGE: self.image_codebook_size,
            Modality.AUDIO: self.audio_codebook_size,
        }[modality]

    def _ranges(self) -> dict[tuple[Modality, int], tuple[int, int]]:
        ranges: dict[tuple[Modality, int], tuple[int, int]] = {}
        start = NUM_SPECIALS
        for modality in MODALITY_ORDER:
            size = self.codebook_size(modality)
            for codebook in range(self.num_streams(modality)):
                ranges[(modality, codebook)] = (start, start + size)
                start += size
        return ranges

    def id_range(self, modality: Modality | str, codebook: int = 0) -> range:
        """Unified ids owned by ``(modality, codebook)``."""
        modality = Modality.parse(modality)
        self._check_codebook(modality, codebook)
        start, stop = self._ranges()[(modality, codebook)]
        return range(start, stop)

    def offset(self, modality: Modality | str, codebook: int = 0) -> int:
        return self.id_range(modality, codebook).start

    @property
    def size(self) -> int:
        """Total number of unified ids (the model's embedding and head size)."""
        return max(stop for _, stop in self._ranges().values())

    def _check_codebook(self, modality: Modality, codebook: int) -> None:
        if not 0 <= codebook < self.num_streams(modality):
            raise ValueError(
                f"codebook {codebook} does not exist for {modality.value}: "
                f"it has {self.num_streams(modality)} stream(s)"
            )

    # --------------------------------------------------------- id conversion
    def local_to_unified(self, local_ids: Any, modality: Modality | str, codebook: int = 0) -> np.ndarray:
        """Map tokenizer/codec ids to unified ids.

        Tokenizer ids (notation, MIDI) keep specials 0..3 as they are; codec codes
        (image, audio) have no specials and map to ``offset + code``.
        """
        modality = Modality.parse(modality)
        ids = np.asarray(local_ids, dtype=np.int64)
        size = self.codebook_size(modality)
        offset = self.offset(modality, codebook)
        if modality.is_multi_stream:
            if ids.size and (ids.min() < 0 or ids.max() >= size):
                raise ValueError(f"{modality.value} codes must lie in [0, {size}), got [{ids.min()}, {ids.max()}]")
            return ids + offset
        if ids.size and (ids.min() < 0 or ids.max() >= size + NUM_SPECIALS):
            raise ValueError(
                f"{modality.value} token ids must lie in [0, {size + NUM_SPECIALS}), got [{ids.min()}, {ids.max()}]"
            )
        return np.where(ids < NUM_SPECIALS, ids, ids - NUM_SPECIALS + offset)

    def unified_to_local(self, unified_ids: Any, modality: Modality | str, codebook: int = 0) -> np.ndarray:
        """Inverse of :meth:`local_to_unified`; ids outside the range raise ``ValueError``."""
        modality = Modality.parse(modality)
        ids = np.asarray(unified_ids, dtype=np.int64)
        id_range = self.id_range(modality, codebook)
        inside = (ids >= id_range.start) & (ids < id_range.stop)
        if modality.is_multi_stream:
            if not inside.all():
                bad = ids[~inside][:5].tolist()
                raise ValueError(f"ids {bad} are not {modality.value} codebook {codebook} ids")
            return ids - id_range.start
        special = ids < NUM_SPECIALS
        if not (inside | special).all():
            bad = ids[~(inside | special)][:5].tolist()
            raise ValueError(f"ids {bad} are not {modality.value} ids")
        return np.where(special, ids, ids - id_range.start + NUM_SPECIALS)

    def to_bundle(self, local_ids: Any, modality: Modality | str) -> np.ndarray:
        """Build an ``(L, num_codebooks)`` unified bundle.

        ``local_ids`` is ``(L,)`` tokenizer ids for notation/MIDI, or ``(L, K)`` codec codes
        for image/audio (``K == num_codebooks``).
        """
        modality = Modality.parse(modality)
        ids = np.asarray(local_ids, dtype=np.int64)
        if modality.is_multi_stream:
            if ids.ndim != 2 or ids.shape[1] != self.num_codebooks:
                raise ValueError(f"{modality.value} codes must have shape (L, {self.num_codebooks}), got {ids.shape}")
            columns = [self.local_to_unified(ids[:, k], modality, k) for k in range(self.num_codebooks)]
            return np.stack(columns, axis=1) if len(ids) else np.zeros((0, self.num_codebooks), np.int64)
        if ids.ndim != 1:
            raise ValueError(f"{modality.value} ids must have shape (L,), got {ids.shape}")
        bundle = np.full((len(ids), self.num_codebooks), PAD_ID, dtype=np.int64)
        bundle[:, 0] = self.local_to_unified(ids, modality, 0)
        return bundle

    def from_bundle(self, bundle: Any, modality: Modality | str) -> np.ndarray:
        """Inverse of :meth:`to_bundle` (``(L,)`` for single-stream, ``(L, K)`` otherwise)."""
        modality = Modality.parse(modality)
        bundle = np.asarray(bundle, dtype=np.int64)
        if bundle.ndim != 2 or bundle.shape[1] != self.num_codebooks:
            raise ValueError(f"a bundle must have shape (L, {self.num_codebooks}), got {bundle.shape}")
        if modality.is_multi_stream:
            columns = [self.unified_to_local(bundle[:, k], modality, k) for k in range(self.num_codebooks)]
            return np.stack(columns, axis=1)
        return self.unified_to_local(bundle[:, 0], modality, 0)

    # ----------------------------------------------------------------- masks
    def allowed_ids(self, target: Modality | str, codebook: int) -> np.ndarray:
        """Boolean ``(size,)`` array: ids the model may emit at ``codebook`` for ``target``.

        Codebook 0 also allows EOS (and SEP for images, which joins systems). Codebooks
        beyond a single-stream modality's first allow only PAD.
        """
        target = Modality.parse(target)
        if not 0 <= codebook < self.num_codebooks:
            raise ValueError(f"codebook must lie in [0, {self.num_codebooks}), got {codebook}")
        allowed = np.zeros(self.size, dtype=bool)
        if codebook >= self.num_streams(target):
            allowed[PAD_ID] = True
            return allowed
        id_range = self.id_range(target, codebook)
        allowed[id_range.start : id_range.stop] = True
        if codebook == 0:
            allowed[EOS_ID] = True
            if target is Modality.IMAGE:
                allowed[SEP_ID] = True
        return allowed

    def logit_masks(self) -> np.ndarray:
        """Boolean ``(len(MODALITY_ORDER), num_codebooks, size)``, indexed by :meth:`modality_index`."""
        return np.stack(
            [np.stack([self.allowed_ids(m, k) for k in range(self.num_codebooks)]) for m in MODALITY_ORDER]
        )

    @staticmethod
    def modality_index(modality: Modality | str) -> int:
        """Index of ``modality`` in :data:`MODALITY_ORDER` (target embeddings, masks)."""
        return MODALITY_ORDER.index(Modality.parse(modality))

    # ---------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UnifiedVocabulary:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)
