"""``UMustProcessor``: any of the four modalities <-> token bundles of the unified vocabulary.

Encoding (``processor(images=... | audio=... | text=... | musicxml=... | midi=..., target_modality=...)``)
returns model inputs: ``input_ids`` ``(B, L, K)`` unified bundles (right-padded with PAD),
``attention_mask`` ``(B, L)``, ``source_modality`` and, when given, ``target_modality`` ``(B,)``.

* images: pages or systems -> :class:`UMustImageProcessor` -> :class:`UMustImageCodec` codes;
  the systems of one image are flattened column by column and joined with SEP (one row per image);
* audio: -> :class:`UMustFeatureExtractor` (44.1 kHz mono) -> :class:`UMustAudioCodec` codes (one row per clip);
* text: LMX token strings; musicxml: MusicXML files/text -> :class:`LMXTokenizer` (one row each);
* midi: MIDI files/bytes or note lists -> :class:`MidiTokenizer`; a performance longer than one
  segment (20 s) gives one row per segment, in order.

Decoding (``processor.decode(bundles, modality)``) turns ``(B, T, K)`` bundles (e.g. the output of
``generate``, SOS first) into PIL images, float32 audio arrays, MusicXML text or MIDI bytes.
The codecs are models, not processors: they are saved in the ``image_codec/`` and
``audio_codec/`` subfolders and reloaded from there.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from transformers import AutoModel, AutoProcessor, BatchFeature
from transformers.processing_utils import ProcessorMixin

from ..modeling.configuration_umust import UMustConfig
from ..modeling.vocabulary_umust import EOS_ID, PAD_ID, SEP_ID, SOS_ID, Modality, UnifiedVocabulary
from .image_processing_umust import flatten_codes, sep_bundle, unflatten_codes

logger = logging.getLogger(__name__)

_CODECS = ("image_codec", "audio_codec")


class UMustProcessor(ProcessorMixin):
    """Wraps the image processor, feature extractor, LMX and MIDI tokenizers and the two codecs.

    Args:
        image_processor: :class:`UMustImageProcessor`.
        feature_extractor: :class:`UMustFeatureExtractor`.
        tokenizer: :class:`LMXTokenizer` (notation).
        midi_tokenizer: :class:`MidiTokenizer`.
        image_codec: :class:`UMustImageCodec` (needed for images in either direction).
        audio_codec: :class:`UMustAudioCodec` (needed for audio in either direction).
        vocabulary: the unified id layout as a dict (``UnifiedVocabulary.to_dict()``); by default
            it is derived from the tokenizers and codecs. It must match the model's config.
    """

    def __init__(
        self,
        image_processor: Any = None,
        feature_extractor: Any = None,
        tokenizer: Any = None,
        midi_tokenizer: Any = None,
        image_codec: Any = None,
        audio_codec: Any = None,
        vocabulary: dict[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(image_processor, feature_extractor, tokenizer, midi_tokenizer, **kwargs)
        self.image_codec = image_codec
        self.audio_codec = audio_codec
        self.vocabulary = dict(vocabulary) if vocabulary is not None else self._derived_vocabulary()
        self.unified_vocabulary  # noqa: B018 - validate now, not at the first call

    def _derived_vocabulary(self) -> dict[str, int]:
        sizes = UnifiedVocabulary().to_dict()
        sizes["notation_size"] = self.tokenizer.num_tokens
        sizes["midi_size"] = self.midi_tokenizer.num_tokens
        for name, codec in (("image", self.image_codec), ("audio", self.audio_codec)):
            if codec is not None:
                sizes[f"{name}_codebook_size"] = codec.config.codebook_size
                sizes["num_codebooks"] = codec.config.num_codebooks
        return sizes

    @property
    def unified_vocabulary(self) -> UnifiedVocabulary:
        vocabulary = UnifiedVocabulary.from_dict(self.vocabulary)
        for name, size in (("tokenizer", vocabulary.notation_size), ("midi_tokenizer", vocabulary.midi_size)):
            if getattr(self, name).num_tokens != size:
                raise ValueError(f"{name} has {getattr(self, name).num_tokens} tokens, the vocabulary expects {size}")
        for name, codec, size in (("image_codec", self.image_codec, vocabulary.image_codebook_size),
                                  ("audio_codec", self.audio_codec, vocabulary.audio_codebook_size)):
            if codec is not None and (codec.config.codebook_size, codec.config.num_codebooks) != (
                size, vocabulary.num_codebooks
            ):
                raise ValueError(
                    f"{name} has {codec.config.num_codebooks} x {codec.config.codebook_size} codes, the vocabulary "
                    f"expects {vocabulary.num_codebooks} x {size}"
                )
        return vocabulary

    # ------------------------------------------------------------------ encode
    def __call__(
        self,
        images: Any = None,
        audio: Any = None,
        text: str | Sequence[str] | None = None,
        midi: Any = None,
        musicxml: Any = None,
        target_modality: str | Modality | Sequence[str | Modality] | None = None,
        sampling_rate: int | Sequence[int] | None = None,
        system_boxes: Sequence[Any] | None = None,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        """Encode one source modality (a single item or a list) into model inputs (see the module docstring)."""
        given = {name: value for name, value in (("images", images), ("audio", audio), ("text", text),
                                                   ("midi", midi), ("musicxml", musicxml)) if value is not None}
        if len(given) != 1:
            raise ValueError(f"pass exactly one of images, audio, text, musicxml, midi; got {sorted(given) or 'none'}")
        if return_tensors != "pt":
            raise ValueError("UMustProcessor returns PyTorch tensors only (return_tensors='pt')")
        name = next(iter(given))
        if name == "images":
            source, bundles = Modality.IMAGE, self.encode_images(images, system_boxes=system_boxes)
        elif name == "audio":
            source, bundles = Modality.AUDIO, self.encode_audio(audio, sampling_rate=sampling_rate)
        elif name == "midi":
            source, bundles = Modality.MIDI, self.encode_midi(midi)
        else:
            source, bundles = Modality.NOTATION, self.encode_notation(text=text, musicxml=musicxml)
        return self.pad_bundles(bundles, source, target_modality)

    def pad_bundles(self, bundles: Sequence[np.ndarray], source: Modality | str,
                    target_modality: Any = None) -> BatchFeature:
        """Right-pad ``(L_i, K)`` bundles into ``input_ids`` ``(B, L, K)`` with ``attention_mask`` and modality indices."""
        vocabulary = self.unified_vocabulary
        length = max(len(b) for b in bundles)
        input_ids = torch.full((len(bundles), length, vocabulary.num_codebooks), PAD_ID, dtype=torch.long)
        attention_mask = torch.zeros((len(bundles), length), dtype=torch.long)
        for row, bundle in enumerate(bundles):
            input_ids[row, : len(bundle)] = torch.from_numpy(np.asarray(bundle, dtype=np.int64))
            attention_mask[row, : len(bundle)] = 1
        data = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "source_modality": torch.full((len(bundles),), vocabulary.modality_index(source), dtype=torch.long),
        }
        if target_modality is not None:
            targets = [target_modality] * len(bundles) if isinstance(target_modality, (str, Modality)) else target_modality
            if len(targets) != len(bundles):
                raise ValueError(f"target_modality has {len(targets)} entries for {len(bundles)} sequences")
            data["target_modality"] = torch.tensor([vocabulary.modality_index(t) for t in targets], dtype=torch.long)
        return BatchFeature(data=data)

    def encode_images(self, images: Any, system_boxes: Sequence[Any] | None = None) -> list[np.ndarray]:
        """Pages or systems -> one ``(L, K)`` bundle per image (systems joined with SEP)."""
        codec = self._codec("image_codec")
        batch = self.image_processor(images, system_boxes=system_boxes)
        pixels = batch["pixel_values"].to(device=codec.device, dtype=codec.dtype)
        codes = codec.encode(pixels).cpu().numpy()  # (S, rows, columns, K)
        columns = batch["patch_mask"][:, 0, :].sum(dim=1).tolist()  # real token columns per system
        per_image: dict[int, list[np.ndarray]] = {}
        for system, image in enumerate(batch["image_index"].tolist()):
            per_image.setdefault(image, []).append(codes[system, :, : columns[system]])
        vocabulary = self.unified_vocabulary
        bundles = []
        for image in sorted(per_image):
            parts = []
            for number, system in enumerate(per_image[image]):
                if number:
                    parts.append(sep_bundle(vocabulary.num_codebooks))
                parts.append(vocabulary.to_bundle(flatten_codes(system), Modality.IMAGE))
            bundles.append(np.concatenate(parts))
        return bundles

    def fit_image_bundle(self, bundle: np.ndarray, max_length: int) -> np.ndarray:
        """The longest start of an image ``bundle`` (from :meth:`encode_images`) that holds at most
        ``max_length`` bundles and ends with a whole token column (or before a SEP)."""
        if len(bundle) <= max_length:
            return bundle
        rows = self.image_processor.system_height // self.image_processor.patch_size
        seps = np.nonzero(bundle[:max_length, 0] == SEP_ID)[0]
        start = int(seps[-1]) + 1 if len(seps) else 0  # first bundle of the system the cut falls in
        keep = start + (max_length - start) // rows * rows
        return bundle[: keep if keep > start else max(start - 1, 0)]

    def encode_audio(self, audio: Any, sampling_rate: int | Sequence[int] | None = None) -> list[np.ndarray]:
        """Waveforms -> one ``(T, K)`` bundle per clip (T = ceil(samples at 44.1 kHz / 512))."""
        codec = self._codec("audio_codec")
        features = self.feature_extractor(audio, sampling_rate=sampling_rate)
        codes = codec.encode(features["input_values"], features["padding_mask"]).cpu().numpy()
        frames = codec.num_frames(features["padding_mask"].sum(dim=1)).tolist()
        vocabulary = self.unified_vocabulary
        return [vocabulary.to_bundle(codes[row, :n], Modality.AUDIO) for row, n in enumerate(frames)]

    def encode_notation(self, text: str | Sequence[str] | None = None, musicxml: Any = None) -> list[np.ndarray]:
        """LMX text or MusicXML sources (paths, text, bytes) -> one ``(L, K)`` bundle each, ending with EOS."""
        if musicxml is not None:
            sources = musicxml if isinstance(musicxml, (list, tuple)) else [musicxml]
            text = [" ".join(self.tokenizer.from_musicxml(source)) for source in sources]
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            raise ValueError("no notation given")
        vocabulary = self.unified_vocabulary
        return [vocabulary.to_bundle(self.tokenizer(t)["input_ids"], Modality.NOTATION) for t in texts]

    def encode_midi(self, midi: Any) -> list[np.ndarray]:
        """MIDI files (paths or bytes) or note lists -> one ``(L, K)`` bundle per 20 s segment, ending with EOS."""
        items = midi if isinstance(midi, (list, tuple)) and not is_note_list(midi) else [midi]
        vocabulary = self.unified_vocabulary
        bundles = []
        for item in items:
            if is_note_list(item):
                segments = self.midi_tokenizer.encode_notes(item)
            else:
                segments = self.midi_tokenizer.encode_midi(item)
            bundles += [vocabulary.to_bundle(segment, Modality.MIDI) for segment in segments]
        return bundles

    # ------------------------------------------------------------------ decode
    def decode(self, bundles: Any, modality: str | Modality, **kwargs: Any) -> list[Any]:
        """``(B, T, K)`` (or one ``(T, K)``) unified bundles -> one output per row.

        image: a grayscale PIL image (its systems stacked top to bottom); audio: a float32 array
        at ``feature_extractor.sampling_rate``; notation: MusicXML text; midi: MIDI file bytes.
        A leading SOS bundle is skipped and decoding stops at the first EOS (or PAD) in codebook 0.
        """
        modality = Modality.parse(modality)
        array = bundles.detach().cpu().numpy() if torch.is_tensor(bundles) else np.asarray(bundles)
        if array.ndim == 2:
            array = array[None]
        vocabulary = self.unified_vocabulary
        if array.ndim != 3 or array.shape[-1] != vocabulary.num_codebooks:
            raise ValueError(f"bundles must have shape (B, T, {vocabulary.num_codebooks}), got {array.shape}")
        decoders = {
            Modality.IMAGE: self._decode_image, Modality.AUDIO: self._decode_audio,
            Modality.NOTATION: self._decode_notation, Modality.MIDI: self._decode_midi,
        }
        return [decoders[modality](_content(row), **kwargs) for row in array]

    def batch_decode(self, bundles: Any, modality: str | Modality, **kwargs: Any) -> list[Any]:
        return self.decode(bundles, modality, **kwargs)

    def _decode_notation(self, bundle: np.ndarray, **kwargs: Any) -> str:
        ids = self.unified_vocabulary.from_bundle(bundle, Modality.NOTATION)
        return self.tokenizer.to_musicxml(ids, **kwargs)

    def _decode_midi(self, bundle: np.ndarray, **kwargs: Any) -> bytes:
        ids = self.unified_vocabulary.from_bundle(bundle, Modality.MIDI)
        return self.midi_tokenizer.decode_to_midi([ids.tolist()], **kwargs)

    def _decode_audio(self, bundle: np.ndarray) -> np.ndarray:
        if not len(bundle):
            return np.zeros(0, dtype=np.float32)
        codec = self._codec("audio_codec")
        codes = torch.from_numpy(self.unified_vocabulary.from_bundle(bundle, Modality.AUDIO))[None]
        return codec.decode(codes.to(codec.device))[0, 0].float().cpu().numpy()

    def _decode_image(self, bundle: np.ndarray) -> Any:
        codec = self._codec("image_codec")
        vocabulary = self.unified_vocabulary
        rows = self.image_processor.system_height // self.image_processor.patch_size
        systems = []
        for number, piece in enumerate(np.split(bundle, np.nonzero(bundle[:, 0] == SEP_ID)[0])):
            piece = piece[1:] if number else piece  # drop the SEP row itself
            whole = len(piece) - len(piece) % rows
            if whole != len(piece):
                logger.warning("UMustProcessor: system %d ends with a partial token column; dropped it", number)
            if not whole:
                continue
            codes = unflatten_codes(vocabulary.from_bundle(piece[:whole], Modality.IMAGE), rows)
            pixels = codec.decode(torch.from_numpy(codes)[None].to(codec.device))
            systems.append(np.asarray(self.image_processor.postprocess(pixels.float().cpu())[0]))
        if not systems:
            return Image.new("L", (self.image_processor.patch_size, self.image_processor.system_height), 255)
        width = max(s.shape[1] for s in systems)
        page = np.full((sum(s.shape[0] for s in systems), width), 255, dtype=np.uint8)
        top = 0
        for system in systems:
            page[top : top + system.shape[0], : system.shape[1]] = system
            top += system.shape[0]
        return Image.fromarray(page, mode="L")

    def _codec(self, name: str) -> Any:
        codec = getattr(self, name)
        if codec is None:
            raise ValueError(f"this UMustProcessor has no {name}: pass {name}= when building it")
        return codec

    # ------------------------------------------------------------------ persistence
    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "source_modality", "target_modality"]

    def to_dict(self) -> dict[str, Any]:
        # the codecs are models saved in their own subfolders, not JSON
        codecs = {name: self.__dict__.pop(name) for name in _CODECS}
        try:
            return super().to_dict()
        finally:
            self.__dict__.update(codecs)

    def save_pretrained(self, save_directory: str | os.PathLike, push_to_hub: bool = False, **kwargs: Any) -> list[str]:
        """Save the processors and tokenizers (``processor_config.json`` ...) and each codec in its subfolder."""
        files = super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        for name in _CODECS:
            codec = getattr(self, name)
            if codec is not None:
                codec.save_pretrained(os.path.join(save_directory, name))
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> UMustProcessor:
        """Load a saved processor; codecs come from the ``image_codec/`` and ``audio_codec/`` subfolders if present."""
        codecs = {name: kwargs.pop(name) for name in _CODECS if name in kwargs}
        for name in _CODECS:
            folder = os.path.join(os.fspath(pretrained_model_name_or_path), name)
            if name not in codecs and os.path.isdir(folder):
                codecs[name] = AutoModel.from_pretrained(folder).eval()
        processor = super().from_pretrained(pretrained_model_name_or_path, **kwargs)
        for name, codec in codecs.items():
            setattr(processor, name, codec)
        processor.unified_vocabulary  # noqa: B018 - the loaded parts must agree with the saved layout
        return processor


def is_note_list(value: Any) -> bool:
    """True for a non-empty list (or tuple) of notes (objects with ``pitch`` and ``onset``): one MIDI source."""
    return isinstance(value, (list, tuple)) and bool(value) and all(hasattr(n, "pitch") and hasattr(n, "onset")
                                                                    for n in value)


def _content(bundle: np.ndarray) -> np.ndarray:
    """Drop a leading SOS bundle and everything from the first EOS/PAD in codebook 0."""
    bundle = np.asarray(bundle, dtype=np.int64)
    if len(bundle) and bundle[0, 0] == SOS_ID:
        bundle = bundle[1:]
    stop = np.nonzero((bundle[:, 0] == EOS_ID) | (bundle[:, 0] == PAD_ID))[0]
    return bundle[: stop[0]] if stop.size else bundle


def register() -> None:
    """Make ``AutoProcessor`` resolve ``UMustProcessor`` (idempotent)."""
    AutoProcessor.register(UMustConfig, UMustProcessor, exist_ok=True)


__all__ = ["UMustProcessor", "is_note_list", "register"]
