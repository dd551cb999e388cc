"""Fit the spectral audio codec: residual k-means over training frames, then the codec probes.

Stage ``k``'s centroids are k-means (vector-quantize-pytorch's ``kmeans``, Lloyd iterations seeded
by sampled frames) over what stages ``< k`` left of up to ``max_frames`` log-spectrogram frames
drawn from the training clips. The held-out report is the DAC trainer's
(:func:`~.audio_codec_trainer.evaluate_codec`), so the two codecs' figures compare directly.
Resumable by stage: ``out_dir/checkpoint/state.pt`` holds the fitted stages.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm
from vector_quantize_pytorch.vector_quantize_pytorch import kmeans

from ..errors import UserError
from ..evaluation.audio_pitch import pitch_agreement_chance
from ..evaluation.transcribers import default_transcriber
from ..io_utils import atomic_write, atomic_write_json, atomic_write_text
from ..model_card import render_spectral_codec_card
from ..modeling.configuration_spectral_audio_codec import UMustSpectralAudioCodecConfig
from ..modeling.modeling_spectral_audio_codec import UMustSpectralAudioCodec
from ..processing.feature_extraction_umust import UMustFeatureExtractor
from .audio_codec_trainer import evaluate_codec, load_codec_training_audio, load_held_out_onsets

CHECKPOINT_DIR = "checkpoint"
METRICS_FILE = "training_metrics.json"
#: seconds of each held-out clip scored (as the DAC trainer's cpu preset)
EVAL_SECONDS = 4.0
EVAL_CLIPS = 12


def _settings(config: UMustSpectralAudioCodecConfig, max_frames: int) -> dict[str, Any]:
    """What a checkpoint's stages depend on (not what saving adds to a config, e.g. ``architectures``)."""
    keep = ("sampling_rate", "n_fft", "hop_length", "features", "n_mels", "stft_bins", "floor_db", "num_codebooks",
            "codebook_size", "band_edges")
    return {**{name: getattr(config, name) for name in keep}, "max_frames": max_frames}


@torch.no_grad()
def training_frames(codec: UMustSpectralAudioCodec, clips: list[np.ndarray], max_frames: int, seed: int) -> torch.Tensor:
    """``(N, feature_dim)`` frames of the clips, ``max_frames`` of them drawn at random when there are more."""
    frames = torch.cat([codec.frames(codec._as_waveform(torch.from_numpy(np.ascontiguousarray(clip))[None, None]))[0]
                        for clip in clips])
    if len(frames) > max_frames:
        frames = frames[torch.randperm(len(frames), generator=torch.Generator().manual_seed(seed))[:max_frames]]
    return frames


@torch.no_grad()
def fit_stage(residual: torch.Tensor, codebook_size: int, iterations: int, seed: int,
              band: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """k-means centroids ``(codebook_size, D)`` of ``residual (N, D)`` over ``band`` (zero outside it;
    default: all of D) and the residual they leave.

    With fewer distinct frames than centroids, the spare centroids repeat frames (never used twice)."""
    band = band or slice(0, residual.shape[-1])
    torch.manual_seed(seed)  # kmeans seeds its centroids with sampled frames
    inside = kmeans(residual[None, :, band].contiguous(), codebook_size, num_iters=iterations)[0][0]
    centroids = residual.new_zeros(codebook_size, residual.shape[-1])
    centroids[:, band] = inside
    index = torch.cdist(residual[:, band], inside).argmin(-1)
    return centroids, residual - centroids[index]


def train_spectral_audio_codec(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    config: UMustSpectralAudioCodecConfig | None = None,
    max_frames: int = 200_000,
    kmeans_iterations: int = 10,
    seed: int = 0,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fit (or finish fitting) a spectral codec on ``data_dir`` and save it to ``out_dir``; return its metrics."""
    if max_frames < 1 or kmeans_iterations < 1:
        raise UserError(f"max_frames and kmeans_iterations must be at least 1, got {max_frames} / {kmeans_iterations}")
    config = config or UMustSpectralAudioCodecConfig.cpu_spectral()
    out_dir = Path(out_dir)
    state_path = out_dir / CHECKPOINT_DIR / "state.pt"
    out_dir.mkdir(parents=True, exist_ok=True)
    train_clips, held_clips = load_codec_training_audio(data_dir)
    held_clips = held_clips[:EVAL_CLIPS]
    held_onsets = load_held_out_onsets(data_dir)
    held_onsets = None if held_onsets is None else held_onsets[:EVAL_CLIPS]
    codec = UMustSpectralAudioCodec(config).eval()
    started = time.monotonic()
    residual = training_frames(codec, train_clips, max_frames, seed)
    fitted: list[torch.Tensor] = []
    if state_path.exists():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        if state["settings"] != _settings(config, max_frames):
            raise UserError(f"{state_path}: fitted with other settings; use a new out_dir or delete it")
        fitted = list(state["codebooks"])
        for k, centroids in enumerate(fitted):  # replay the fitted stages' residuals
            band = config.band(k)
            residual = residual - centroids[torch.cdist(residual[:, band], centroids[:, band]).argmin(-1)]
    for stage in tqdm(range(len(fitted), config.num_codebooks), desc="spectral codec k-means", unit="stage",
                      disable=not show_progress):
        centroids, residual = fit_stage(residual, config.codebook_size, kmeans_iterations, seed + stage,
                                        band=config.band(stage))
        fitted.append(centroids)
        atomic_write(state_path, lambda temporary: torch.save(
            {"settings": _settings(config, max_frames), "codebooks": torch.stack(fitted)}, temporary))
    with torch.no_grad():
        codec.codebooks.copy_(torch.stack(fitted))
    seconds = time.monotonic() - started

    trained = evaluate_codec(codec, held_clips, EVAL_SECONDS, held_onsets, transcriber=default_transcriber())
    codec.save_pretrained(out_dir)
    UMustFeatureExtractor(sampling_rate=config.sampling_rate, hop_length=config.hop_length).save_pretrained(out_dir)
    sr = config.sampling_rate
    metrics = {
        "out_dir": str(out_dir),
        "codec": "spectral",
        "features": config.features,
        "seconds": round(seconds, 2),
        "train_clips": len(train_clips),
        "train_frames": min(max_frames, int(sum(-(-len(c) // config.hop_length) for c in train_clips))),
        "held_out_clips": len(held_clips),
        "eval_seconds": EVAL_SECONDS,
        **{f"{name}_trained": value for name, value in trained.items()},
        "min_codes_used_trained": min(trained["codebook_usage"]),
        "pitch_agreement_chance": pitch_agreement_chance([c[: int(EVAL_SECONDS * sr)] for c in held_clips], sr),
        "config": config.to_diff_dict(),
    }
    atomic_write_json(out_dir / METRICS_FILE, metrics)
    atomic_write_text(out_dir / "README.md", render_spectral_codec_card(metrics, path=str(out_dir)))
    return metrics


__all__ = ["fit_stage", "train_spectral_audio_codec", "training_frames"]
