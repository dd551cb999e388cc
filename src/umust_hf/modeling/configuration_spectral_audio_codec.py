"""Configuration of the spectral audio codec: residual k-means over spectrogram frames.

No neural network: a frame of the log spectrogram (n_fft 2048, hop 512 at 44.1 kHz, the
vocabulary's 86.13 frames/s) is quantised by ``num_codebooks`` residual codebooks of
``codebook_size`` centroids, and decoded by Griffin-Lim. Its tokens fill the same vocabulary
slots as the DAC codec's (4 x 1024 per frame).
"""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

#: frame features the codec can quantise
SPECTRAL_FEATURES = ("mel", "stft")


@strict
class UMustSpectralAudioCodecConfig(PreTrainedConfig):
    r"""Spectral codec settings.

    Args:
        sampling_rate: audio rate, in Hz.
        n_fft: STFT size (Hann window of the same length).
        hop_length: samples per frame (512: 86.13 frames/s at 44.1 kHz).
        features: ``"mel"`` (``n_mels`` slaney mel bands of the power spectrum, in dB) or
            ``"stft"`` (the first ``stft_bins`` magnitude bins, in dB).
        n_mels: mel bands of the ``"mel"`` features.
        stft_bins: magnitude bins of the ``"stft"`` features (512 of 1025: up to 11 kHz at 44.1 kHz).
        floor_db: level of silence; quieter bins are clamped to it.
        num_codebooks: residual codebooks (tokens per frame).
        codebook_size: centroids per codebook.
        griffin_lim_iters: Griffin-Lim iterations of ``decode``.
    """

    model_type = "umust_spectral_audio_codec"

    # the vocabulary's audio layout (umust_hf.constants; literal here so that the file runs as remote code)
    sampling_rate: int = 44100
    n_fft: int = 2048
    hop_length: int = 512
    features: str = "mel"
    n_mels: int = 128
    stft_bins: int = 512
    floor_db: float = -100.0
    num_codebooks: int = 4
    codebook_size: int = 1024
    griffin_lim_iters: int = 32

    def __post_init__(self, **kwargs):
        if self.features not in SPECTRAL_FEATURES:
            raise ValueError(f"features must be one of {SPECTRAL_FEATURES}, got {self.features!r}")
        for name in ("sampling_rate", "n_fft", "hop_length", "n_mels", "stft_bins", "num_codebooks",
                     "codebook_size", "griffin_lim_iters"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"UMustSpectralAudioCodecConfig.{name} must be positive, got {getattr(self, name)}")
        if self.stft_bins > self.n_fft // 2 + 1:
            raise ValueError(f"stft_bins {self.stft_bins} exceeds the {self.n_fft // 2 + 1} bins of n_fft {self.n_fft}")
        super().__post_init__(**kwargs)

    @property
    def frame_rate(self) -> float:
        """Frames per second (86.13 at 44.1 kHz / 512)."""
        return self.sampling_rate / self.hop_length

    @property
    def feature_dim(self) -> int:
        """Width of one frame (and of one centroid)."""
        return self.n_mels if self.features == "mel" else self.stft_bins

    @classmethod
    def cpu_spectral(cls, **overrides) -> UMustSpectralAudioCodecConfig:
        """The CPU preset ``cpu_spectral``: 128-band log-mel, 4 x 1024 centroids, fitted in minutes."""
        return cls(**overrides)


__all__ = ["SPECTRAL_FEATURES", "UMustSpectralAudioCodecConfig"]
