"""Configuration of the audio codec: descript-audio-codec's DAC as a ``PreTrainedConfig``.

The field names follow ``dac.DAC.__init__`` (``encoder_dim``, ``encoder_rates`` ...) so an
original descript checkpoint's ``metadata["kwargs"]`` maps onto this config one to one;
only ``n_codebooks`` is renamed to ``num_codebooks`` (U-MUST keeps the first 4).
"""

from __future__ import annotations

import math

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from ..constants import CODEBOOK_SIZE, NUM_CODEBOOKS, SAMPLE_RATE


@strict
class UMustAudioCodecConfig(PreTrainedConfig):
    r"""DAC codec settings (paper: 44.1 kHz mono, hop 512, 4 codebooks x 1024, codebook dim 8).

    Args:
        sampling_rate: audio rate the codec runs at, in Hz.
        encoder_dim: channels of the encoder's first convolution (doubled at every stride).
        encoder_rates: encoder strides; their product is the hop length (samples per frame).
        latent_dim: width of the quantised latent; ``None`` means ``encoder_dim * 2**len(encoder_rates)``.
        decoder_dim: channels of the decoder's first convolution (halved at every stride).
        decoder_rates: decoder strides; their product must equal the encoder's.
        num_codebooks: residual codebooks (tokens per frame).
        codebook_size: entries per codebook.
        codebook_dim: width of the factorised codebook lookup.
        quantizer_dropout: fraction of a training batch that uses a random number of codebooks
            (DAC's bitrate dropout); irrelevant at inference, where all codebooks are used.
    """

    model_type = "umust_audio_codec"

    sampling_rate: int = SAMPLE_RATE
    encoder_dim: int = 64
    encoder_rates: list[int] | tuple[int, ...] = (2, 4, 8, 8)
    latent_dim: int | None = None
    decoder_dim: int = 1536
    decoder_rates: list[int] | tuple[int, ...] = (8, 8, 4, 2)
    num_codebooks: int = NUM_CODEBOOKS
    codebook_size: int = CODEBOOK_SIZE
    codebook_dim: int = 8
    quantizer_dropout: float = 0.0

    def __post_init__(self, **kwargs):
        self.encoder_rates = [int(r) for r in self.encoder_rates]
        self.decoder_rates = [int(r) for r in self.decoder_rates]
        for name in ("sampling_rate", "encoder_dim", "decoder_dim", "num_codebooks", "codebook_size", "codebook_dim"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"UMustAudioCodecConfig.{name} must be positive, got {getattr(self, name)}")
        if not self.encoder_rates or any(r <= 0 for r in self.encoder_rates + self.decoder_rates):
            raise ValueError(f"encoder_rates/decoder_rates must be positive strides, got {self.encoder_rates} / {self.decoder_rates}")
        if math.prod(self.encoder_rates) != math.prod(self.decoder_rates):
            raise ValueError(
                f"the decoder must upsample by the encoder's hop: prod({self.encoder_rates}) != prod({self.decoder_rates})"
            )
        if self.decoder_dim % 2 ** len(self.decoder_rates):
            raise ValueError(f"decoder_dim {self.decoder_dim} must be divisible by 2**{len(self.decoder_rates)}")
        if self.latent_dim is None:
            self.latent_dim = self.encoder_dim * 2 ** len(self.encoder_rates)
        if not 0.0 <= float(self.quantizer_dropout) <= 1.0:
            raise ValueError(f"quantizer_dropout must be in [0, 1], got {self.quantizer_dropout}")
        super().__post_init__(**kwargs)

    @property
    def hop_length(self) -> int:
        """Samples per codec frame (512 for every preset here)."""
        return math.prod(self.encoder_rates)

    @property
    def frame_rate(self) -> float:
        """Frames per second (86.13 at 44.1 kHz / 512)."""
        return self.sampling_rate / self.hop_length

    def dac_kwargs(self) -> dict:
        """Keyword arguments for ``dac.DAC`` that build this codec."""
        return {
            "encoder_dim": self.encoder_dim,
            "encoder_rates": list(self.encoder_rates),
            "latent_dim": self.latent_dim,
            "decoder_dim": self.decoder_dim,
            "decoder_rates": list(self.decoder_rates),
            "n_codebooks": self.num_codebooks,
            "codebook_size": self.codebook_size,
            "codebook_dim": self.codebook_dim,
            "quantizer_dropout": float(self.quantizer_dropout),
            "sample_rate": self.sampling_rate,
        }

    @classmethod
    def paper(cls, **overrides) -> UMustAudioCodecConfig:
        """The paper's codec (DAC 44 kHz widths, 4 codebooks): 76.5 M parameters."""
        return cls(**{"encoder_dim": 64, "decoder_dim": 1536, "quantizer_dropout": 0.5, **overrides})

    @classmethod
    def cpu(cls, **overrides) -> UMustAudioCodecConfig:
        """A narrow codec that trains and runs on a laptop CPU; same hop, rate and token layout."""
        return cls(**{"encoder_dim": 16, "decoder_dim": 128, "quantizer_dropout": 0.0, **overrides})


__all__ = ["UMustAudioCodecConfig"]
