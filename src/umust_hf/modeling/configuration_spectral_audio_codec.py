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
#: one band per codebook for ``band_edges``: mel in equal quarters; STFT bins 0-1, 1-2, 2-4 and 4-11 kHz
DEFAULT_BAND_EDGES = {"mel": [0, 32, 64, 96, 128], "stft": [0, 48, 96, 192, 512]}


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
        band_edges: ``None``: residual quantisation, every codebook over whole frames (stage ``k``
            quantises what stages ``< k`` left). A list of ``num_codebooks + 1`` increasing feature
            indices from 0 to ``feature_dim``: codebook ``k`` quantises bins ``band_edges[k]:band_edges[k+1]``
            only (one band per codebook: product quantisation, four times the detail per frame).
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
    band_edges: list[int] | None = None
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
        if self.band_edges is not None:
            self.band_edges = [int(edge) for edge in self.band_edges]
            edges = self.band_edges
            if (len(edges) != self.num_codebooks + 1 or edges[0] != 0 or edges[-1] != self.feature_dim
                    or any(b <= a for a, b in zip(edges, edges[1:]))):
                raise ValueError(f"band_edges must rise from 0 to feature_dim {self.feature_dim} in "
                                 f"{self.num_codebooks + 1} steps, got {edges}")
        super().__post_init__(**kwargs)

    def band(self, codebook: int) -> slice:
        """The feature bins codebook ``codebook`` quantises (all of them without ``band_edges``)."""
        if self.band_edges is None:
            return slice(0, self.feature_dim)
        return slice(self.band_edges[codebook], self.band_edges[codebook + 1])

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


__all__ = ["DEFAULT_BAND_EDGES", "SPECTRAL_FEATURES", "UMustSpectralAudioCodecConfig"]
