"""Audio feature extractor: any rate, any channel layout -> batched 44.1 kHz mono for the codec.

Every audio input of U-MUST goes through here before ``UMustAudioCodec.encode``: the codec
only accepts mono at its own rate, in blocks of its hop (512 samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import AutoFeatureExtractor, BatchFeature, SequenceFeatureExtractor
from transformers.utils import PaddingStrategy, TensorType, logging

from ..constants import HOP_LENGTH, SAMPLE_RATE
from ..errors import UserError
from ..modeling.configuration_audio_codec import UMustAudioCodecConfig

logger = logging.get_logger(__name__)

#: A 2-D array whose one axis is at most this long (and the other longer) is read as (channels, samples).
MAX_CHANNELS = 64


def _to_array(audio: Any, where: str) -> np.ndarray:
    """Numpy view of one example; torch tensors, lists and arrays are accepted."""
    if hasattr(audio, "detach") and hasattr(audio, "cpu"):  # torch.Tensor without importing torch
        audio = audio.detach().cpu().numpy()
    try:
        array = np.asarray(audio)
    except (TypeError, ValueError) as error:
        raise UserError(f"{where}: cannot read audio of type {type(audio).__name__} as an array ({error})") from error
    if array.dtype == object:
        raise UserError(f"{where}: audio must be a numeric array; got ragged or non-numeric data")
    return array


def _to_float(array: np.ndarray, where: str) -> np.ndarray:
    """Float32 samples in [-1, 1]; integer PCM is scaled by its type's full range."""
    if array.dtype == np.bool_ or np.iscomplexobj(array):
        raise UserError(f"{where}: audio must be real numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.unsignedinteger):
        half = float(np.iinfo(array.dtype).max + 1) / 2
        return ((array.astype(np.float64) - half) / half).astype(np.float32)
    if np.issubdtype(array.dtype, np.integer):
        return (array.astype(np.float64) / float(-np.iinfo(array.dtype).min)).astype(np.float32)
    if not np.issubdtype(array.dtype, np.floating):
        raise UserError(f"{where}: audio must be numeric, got dtype {array.dtype}")
    return array.astype(np.float32, copy=False)


class UMustFeatureExtractor(SequenceFeatureExtractor):
    r"""Resample, downmix, pad and batch audio for :class:`~umust_hf.UMustAudioCodec`.

    Input layouts (per example):

    - 1-D ``(samples,)``: mono.
    - 2-D: several channels, averaged to mono. ``channels_last=None`` (default) reads the axis
      that is at most ``MAX_CHANNELS`` long and shorter than the other as channels, so both
      ``(channels, samples)`` (torchaudio) and ``(samples, channels)`` (soundfile) work; pass
      ``channels_last=True/False`` when that is ambiguous (both axes <= 64), else it is an error.
    - a ``dict`` with ``"array"`` and ``"sampling_rate"`` (the ``datasets`` decoded-audio form).

    A single array is one example; a list/tuple of arrays (or of dicts) is a batch. Integer PCM
    is scaled to [-1, 1]. Audio is resampled with soxr (high quality) to ``sampling_rate``.

    ``loudness_db`` (e.g. ``-16.0``, as DAC's and U-MUST's data preparation normalise): each example is
    scaled to that integrated loudness (ITU-R BS.1770, LUFS) after resampling, and scaled down again if
    that would clip; ``None`` (the default, and every codec saved before it existed) leaves levels alone.
    A codec fitted on normalised audio then sees a quiet and a loud recording of a piece alike.

    Returns a :class:`BatchFeature` with ``input_values`` ``(B, 1, T)`` float32 and
    ``padding_mask`` ``(B, T)`` int (1 = real sample), ``T`` the longest example rounded up to a
    multiple of ``hop_length``.
    """

    model_input_names = ["input_values", "padding_mask"]

    def __init__(
        self,
        feature_size: int = 1,
        sampling_rate: int = SAMPLE_RATE,
        padding_value: float = 0.0,
        hop_length: int = HOP_LENGTH,
        loudness_db: float | None = None,
        **kwargs,
    ):
        kwargs.setdefault("return_attention_mask", True)
        super().__init__(feature_size=feature_size, sampling_rate=sampling_rate, padding_value=padding_value, **kwargs)
        if feature_size != 1:
            raise ValueError("UMustFeatureExtractor produces mono audio: feature_size must be 1")
        if loudness_db is not None and not (isinstance(loudness_db, (int, float)) and -70.0 <= loudness_db <= 0.0):
            raise ValueError(f"loudness_db must be None or a loudness in LUFS between -70 and 0, got {loudness_db!r}")
        self.hop_length = int(hop_length)
        self.loudness_db = None if loudness_db is None else float(loudness_db)

    def normalize_loudness(self, audio: np.ndarray) -> np.ndarray:
        """``audio`` (mono at ``self.sampling_rate``) scaled to ``self.loudness_db`` LUFS, never past full scale.

        Silence, and clips shorter than the 400 ms loudness block (their level is measured as RMS
        instead), are handled; with ``loudness_db=None`` the audio comes back as it is.
        """
        if self.loudness_db is None:
            return audio
        if len(audio) >= int(0.4 * self.sampling_rate):
            import torch  # heavy: torch
            from torchaudio.functional import loudness  # heavy: torchaudio

            level = float(loudness(torch.from_numpy(np.ascontiguousarray(audio))[None], self.sampling_rate))
        else:
            rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
            level = 20 * np.log10(rms) - 0.691 if rms > 0 else float("-inf")  # BS.1770's offset, unweighted
        if not np.isfinite(level):  # silence (or below the absolute gate): nothing to scale
            return audio
        scaled = audio * np.float32(10 ** ((self.loudness_db - level) / 20))
        peak = float(np.max(np.abs(scaled)))
        return (scaled / peak if peak > 1.0 else scaled).astype(np.float32, copy=False)

    # ------------------------------------------------------------------ one example
    def to_mono(self, audio: Any, *, channels_last: bool | None = None, where: str = "audio") -> np.ndarray:
        """``(samples,)`` float32 mono from a 1-D or 2-D array (see the class docstring for layouts)."""
        array = _to_float(_to_array(audio, where), where)
        if array.ndim == 0:
            raise UserError(f"{where}: expected a waveform, got a single number")
        if array.ndim > 2:
            raise UserError(f"{where}: expected (samples,) or a 2-D (channels, samples) array, got shape {array.shape}")
        if array.size == 0:
            raise UserError(f"{where}: audio is empty (shape {array.shape})")
        if array.ndim == 2:
            if channels_last is None:
                rows, cols = array.shape
                if rows <= MAX_CHANNELS and cols > rows:
                    channels_last = False
                elif cols <= MAX_CHANNELS and rows > cols:
                    channels_last = True
                else:
                    raise UserError(
                        f"{where}: cannot tell channels from samples in shape {array.shape}; "
                        "pass channels_last=True for (samples, channels) or False for (channels, samples)"
                    )
            array = array.mean(axis=1 if channels_last else 0, dtype=np.float32)
        if not np.isfinite(array).all():
            bad = int(np.flatnonzero(~np.isfinite(array))[0])
            raise UserError(f"{where}: audio contains NaN or infinite values (first at sample {bad})")
        return np.ascontiguousarray(array)

    def resample(self, audio: np.ndarray, sampling_rate: int, *, where: str = "audio") -> np.ndarray:
        """``(samples,)`` mono at ``sampling_rate`` -> ``(round(samples * self.sampling_rate / sampling_rate),)``."""
        if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, (int, np.integer, float)) or sampling_rate <= 0:
            raise UserError(f"{where}: sampling_rate must be a positive number of Hz, got {sampling_rate!r}")
        if sampling_rate == self.sampling_rate:
            return audio
        import soxr  # heavy: soxr

        resampled = soxr.resample(audio, float(sampling_rate), float(self.sampling_rate), quality="HQ")
        if resampled.size == 0:
            raise UserError(f"{where}: {audio.size} samples at {sampling_rate} Hz are too short to resample")
        return resampled.astype(np.float32, copy=False)

    # ------------------------------------------------------------------ batch
    def __call__(
        self,
        raw_audio: Any,
        sampling_rate: int | Sequence[int] | None = None,
        *,
        channels_last: bool | None = None,
        padding: bool | str | PaddingStrategy = True,
        max_length: int | None = None,
        truncation: bool = False,
        return_tensors: str | TensorType | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        """Featurise one example or a batch.

        Args:
            raw_audio: an array/tensor/list of floats (one example), a dict with ``array`` and
                ``sampling_rate``, or a list/tuple of those (a batch).
            sampling_rate: rate of the input in Hz, one per batch or a list per example; dict
                inputs carry their own. ``None`` assumes ``self.sampling_rate`` and warns.
            channels_last: layout of 2-D inputs; ``None`` infers it.
            padding: ``True``/``"longest"`` or ``"max_length"`` (with ``max_length``, in samples).
            max_length, truncation: as in :meth:`SequenceFeatureExtractor.pad`.
            return_tensors: ``"pt"`` (default), ``"np"`` or ``None`` (lists).
        """
        if kwargs:
            raise UserError(f"UMustFeatureExtractor got unknown arguments: {sorted(kwargs)}")
        examples = self._split_batch(raw_audio)
        if not examples:
            raise UserError("audio batch is empty: no examples given")
        rates = self._rates(examples, sampling_rate)
        mono = []
        for index, (example, rate) in enumerate(zip(examples, rates)):
            where = f"audio example {index}"
            if isinstance(example, dict):
                example = example["array"]
            audio = self.resample(self.to_mono(example, channels_last=channels_last, where=where), rate, where=where)
            mono.append(self.normalize_loudness(audio))
        if padding is False or padding == "do_not_pad" or padding == PaddingStrategy.DO_NOT_PAD:
            raise UserError("UMustFeatureExtractor always pads (to a multiple of the codec hop); use padding=True")
        padded = self.pad(
            BatchFeature({"input_values": mono}),
            padding=padding,
            max_length=max_length,
            truncation=truncation,
            pad_to_multiple_of=self.hop_length,
            return_attention_mask=True,
        )
        values = np.stack([np.asarray(v, dtype=np.float32) for v in padded["input_values"]])[:, None, :]
        mask = np.stack([np.asarray(m, dtype=np.int64) for m in padded["attention_mask"]])
        return BatchFeature({"input_values": values, "padding_mask": mask}, tensor_type=return_tensors)

    @staticmethod
    def _split_batch(raw_audio: Any) -> list[Any]:
        if isinstance(raw_audio, (list, tuple)):
            if not raw_audio:
                return []
            if all(np.isscalar(x) for x in raw_audio):  # one mono example given as a list of numbers
                return [raw_audio]
            return list(raw_audio)
        return [raw_audio]

    def _rates(self, examples: list[Any], sampling_rate: int | Sequence[int] | None) -> list[int]:
        if isinstance(sampling_rate, (list, tuple)):
            if len(sampling_rate) != len(examples):
                raise UserError(f"got {len(sampling_rate)} sampling rates for {len(examples)} audio examples")
            rates = list(sampling_rate)
        else:
            rates = [sampling_rate] * len(examples)
        for index, example in enumerate(examples):
            if isinstance(example, dict):
                if "array" not in example or "sampling_rate" not in example:
                    raise UserError(f"audio example {index}: a dict needs 'array' and 'sampling_rate' keys, got {sorted(example)}")
                rates[index] = example["sampling_rate"]
        if any(rate is None for rate in rates):
            logger.warning(
                "UMustFeatureExtractor: no sampling_rate given; assuming %d Hz. Pass sampling_rate= to resample.",
                self.sampling_rate,
            )
            rates = [self.sampling_rate if rate is None else rate for rate in rates]
        return rates


__all__ = ["UMustFeatureExtractor"]


def register() -> None:
    """Make ``AutoFeatureExtractor`` resolve ``UMustFeatureExtractor`` (idempotent)."""
    AutoFeatureExtractor.register(UMustAudioCodecConfig, UMustFeatureExtractor, exist_ok=True)
