"""Fréchet Audio Distance (paper Tables 3 and 6), following fadtk's method.

FAD fits one Gaussian to all embedding frames of the reference set and one to all frames
of the generated set (fadtk concatenates the per-clip frame embeddings) and reports

    FAD = ||mu_r - mu_g||^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2))

with sample covariances (``np.cov``, ddof 1) as in fadtk. The trace of the matrix square
root is computed in the symmetric form ``tr((S_r^(1/2) S_g S_r^(1/2))^(1/2))``, which has
the same value and stays real and stable where ``S_r S_g`` is near-singular. FAD∞
(Gui et al. 2024, fadtk ``score_inf``) resamples the generated frames at growing ``n``,
fits FAD against ``1/n`` and reports the intercept.

Embedding. fadtk's models (VGGish, CLAP, EnCodec, MERT, DAC...) all download weights at
run time, which this package may not do. The default embedding is therefore
:class:`LogMelEmbedding`: VGGish's documented front end (16 kHz, 25 ms Hann windows, 10 ms
hop, 64 mel bands 125-7500 Hz, ``log(mel + 0.01)``) without the network, averaged over
100 ms, i.e. 10 vectors of 64 numbers per second. It is deterministic, needs no weights,
and is sensitive to timbre, loudness and spectral balance, the qualities FAD is meant to
compare; its absolute values are not comparable with the paper's numbers (which use a
learned embedding). Any callable ``(audio, sample_rate) -> (frames, dim)`` can replace it,
for example the encoder latents of our trained DAC, as fadtk's ``dac-44kHz`` model does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import gcd

import numpy as np
from scipy.signal import resample_poly

#: An embedding maps mono audio ``(samples,)`` at a sample rate to frames ``(T, D)``.
AudioEmbedding = Callable[[np.ndarray, int], np.ndarray]
EmbeddingSet = np.ndarray | Sequence[np.ndarray]


def _stack(embeddings: EmbeddingSet, name: str) -> np.ndarray:
    """Concatenate per-clip ``(T_i, D)`` frame embeddings into one ``(sum T_i, D)`` array."""
    if isinstance(embeddings, np.ndarray):
        array = embeddings
    else:
        clips = [np.atleast_2d(np.asarray(clip, dtype=np.float64)) for clip in embeddings]
        if not clips:
            raise ValueError(f"{name}: no embeddings")
        array = np.concatenate(clips, axis=0)
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name}: expected (frames, dim) embeddings, got shape {array.shape}")
    if array.shape[0] < 2:
        raise ValueError(f"{name}: need at least 2 embedding frames for a covariance, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: embeddings contain NaN or infinite values")
    return array


def embedding_statistics(embeddings: EmbeddingSet) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and sample covariance ``(D, D)`` of all frames."""
    array = _stack(embeddings, "embeddings")
    return array.mean(axis=0), np.atleast_2d(np.cov(array, rowvar=False))


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Fréchet distance between the Gaussians N(mu1, cov1) and N(mu2, cov2)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    if mu1.shape != mu2.shape or cov1.shape != cov2.shape:
        raise ValueError(f"embedding sizes differ: {mu1.shape} vs {mu2.shape}")
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum())
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_sqrt, 0.0))


def frechet_audio_distance(reference_embeddings: EmbeddingSet, generated_embeddings: EmbeddingSet) -> float:
    """FAD between two embedding sets, each ``(frames, D)`` or a list of per-clip ``(T_i, D)``."""
    mu_r, cov_r = embedding_statistics(_stack(reference_embeddings, "reference embeddings"))
    mu_g, cov_g = embedding_statistics(_stack(generated_embeddings, "generated embeddings"))
    return frechet_distance(mu_r, cov_r, mu_g, cov_g)


@dataclass(frozen=True)
class FadInfResult:
    """FAD∞ (the intercept of FAD against 1/n), the fit's slope and R², and its points."""

    score: float
    slope: float
    r2: float
    points: list[tuple[int, float]]


def fad_infinity(
    reference_embeddings: EmbeddingSet,
    generated_embeddings: EmbeddingSet,
    *,
    steps: int = 25,
    min_n: int = 500,
    seed: int = 0,
) -> FadInfResult:
    """FAD∞ as in fadtk: FAD for ``steps`` sample sizes from ``min_n`` to all generated frames
    (frames drawn with replacement), extrapolated linearly in ``1/n`` to ``n = inf``."""
    mu_r, cov_r = embedding_statistics(_stack(reference_embeddings, "reference embeddings"))
    generated = _stack(generated_embeddings, "generated embeddings")
    if generated.shape[0] < min_n:
        raise ValueError(f"FAD∞ needs at least min_n={min_n} generated frames, got {generated.shape[0]}")
    rng = np.random.default_rng(seed)
    sizes = [int(n) for n in np.linspace(min_n, generated.shape[0], steps)]
    points = []
    for n in sizes:
        sample = generated[rng.integers(0, generated.shape[0], size=n)]
        mu_g, cov_g = embedding_statistics(sample)
        points.append((n, frechet_distance(mu_r, cov_r, mu_g, cov_g)))
    xs = 1.0 / np.asarray(sizes, dtype=float)
    ys = np.asarray([score for _, score in points])
    slope, intercept = np.polyfit(xs, ys, 1)
    residual = np.sum((ys - (slope * xs + intercept)) ** 2)
    total = np.sum((ys - ys.mean()) ** 2)
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return FadInfResult(float(intercept), float(slope), float(r2), points)


class LogMelEmbedding:
    """VGGish's log-mel front end as a weight-free FAD embedding (see the module docstring).

    ``__call__(audio (samples,), sample_rate) -> (frames, n_mels)``, one frame per
    ``pool_frames`` STFT hops (100 ms by default).
    """

    name = "logmel64"

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_mels: int = 64,
        min_frequency: float = 125.0,
        max_frequency: float = 7500.0,
        window_seconds: float = 0.025,
        hop_seconds: float = 0.010,
        pool_frames: int = 10,
        log_offset: float = 0.01,
    ) -> None:
        from transformers.audio_utils import mel_filter_bank, optimal_fft_length, window_function  # heavy: transformers

        self.sample_rate = sample_rate
        self.frame_length = int(round(window_seconds * sample_rate))
        self.hop_length = int(round(hop_seconds * sample_rate))
        self.fft_length = optimal_fft_length(self.frame_length)
        self.pool_frames = pool_frames
        self.log_offset = log_offset
        self.window = window_function(self.frame_length, "hann", frame_length=self.fft_length)
        self.mel_filters = mel_filter_bank(
            num_frequency_bins=self.fft_length // 2 + 1,
            num_mel_filters=n_mels,
            min_frequency=min_frequency,
            max_frequency=max_frequency,
            sampling_rate=sample_rate,
            mel_scale="htk",
        )

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        from transformers.audio_utils import spectrogram  # heavy: transformers

        waveform = np.asarray(audio, dtype=np.float64)
        if waveform.ndim == 2:  # (channels, samples) -> mono
            waveform = waveform.mean(axis=0)
        if waveform.ndim != 1 or waveform.size == 0:
            raise ValueError(f"expected mono audio (samples,), got shape {np.shape(audio)}")
        if sample_rate != self.sample_rate:
            common = gcd(int(sample_rate), self.sample_rate)
            waveform = resample_poly(waveform, self.sample_rate // common, int(sample_rate) // common)
        mel = spectrogram(
            waveform.astype(np.float32),
            self.window,
            frame_length=self.fft_length,
            hop_length=self.hop_length,
            fft_length=self.fft_length,
            power=1.0,
            center=True,
            mel_filters=self.mel_filters,
            mel_floor=0.0,
        )  # (n_mels, frames), magnitude mel as VGGish
        log_mel = np.log(mel + self.log_offset).T  # (frames, n_mels)
        usable = max(len(log_mel) // self.pool_frames, 1) * self.pool_frames
        log_mel = np.pad(log_mel, ((0, max(usable - len(log_mel), 0)), (0, 0)), mode="edge")[:usable]
        return log_mel.reshape(-1, self.pool_frames, log_mel.shape[1]).mean(axis=1)


def embed_audio_set(
    clips: Sequence[tuple[np.ndarray, int]], embedding: AudioEmbedding | None = None, *, show_progress: bool = False
) -> list[np.ndarray]:
    """Embed ``(audio, sample_rate)`` clips, one ``(T_i, D)`` array each."""
    from tqdm.auto import tqdm  # heavy: tqdm

    embedding = embedding or LogMelEmbedding()
    return [
        np.asarray(embedding(audio, sr)) for audio, sr in tqdm(clips, desc="FAD embeddings", disable=not show_progress)
    ]


class CodecLatentEmbedding:
    """Continuous encoder latents of an audio codec as a FAD embedding (fadtk's ``dac-44kHz``
    model uses DAC's encoder output the same way).

    Works with our :class:`~umust_hf.modeling.modeling_audio_codec.UMustAudioCodec` (or any
    module with ``.dac.encoder`` and ``.config.sampling_rate``), so a codec trained and saved
    locally gives a learned, offline embedding. ``__call__(audio (samples,), sample_rate)``
    returns ``(frames, latent_dim)``, one frame per codec hop.
    """

    def __init__(self, codec) -> None:
        self.codec = codec.eval()
        self.sample_rate = int(codec.config.sampling_rate)
        self.name = f"codec-latent-{type(codec).__name__}"

    def __call__(self, audio: np.ndarray, sample_rate: int) -> np.ndarray:
        import torch  # heavy: torch

        waveform = np.asarray(audio, dtype=np.float64)
        if waveform.ndim != 1 or waveform.size == 0:
            raise ValueError(f"expected mono audio (samples,), got shape {np.shape(audio)}")
        if sample_rate != self.sample_rate:
            common = gcd(int(sample_rate), self.sample_rate)
            waveform = resample_poly(waveform, self.sample_rate // common, int(sample_rate) // common)
        hop = int(np.prod(self.codec.config.encoder_rates))
        waveform = np.pad(waveform, (0, -len(waveform) % hop))
        parameter = next(self.codec.parameters())
        tensor = torch.as_tensor(waveform, dtype=parameter.dtype, device=parameter.device)[None, None]
        with torch.no_grad():
            latents = self.codec.dac.encoder(tensor)  # (1, latent_dim, frames)
        return latents[0].transpose(0, 1).float().cpu().numpy()
