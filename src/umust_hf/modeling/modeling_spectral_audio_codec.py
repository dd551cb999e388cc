"""A spectral audio codec: residual k-means over log-spectrogram frames, decoded by Griffin-Lim.

The DAC codec learns its latents by gradient descent, which on a 2-core CPU in minutes keeps onsets
but loses pitch. Here the "encoder" is a fixed log spectrogram, whose frames keep the notes by
construction, and the codebooks are k-means centroids fitted to training frames (residual: stage
``k`` quantises what stages ``< k`` left). The tokens have the DAC codec's layout (86.13 frames/s,
4 x 1024), so every task reads and writes them unchanged. The centroids are the only weights
(safetensors); nothing here needs scikit-learn. Fitting: :mod:`umust_hf.training.spectral_codec_trainer`.
"""

from __future__ import annotations

import torch
import torchaudio.functional as audio_functional
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init

from .configuration_spectral_audio_codec import UMustSpectralAudioCodecConfig
from .audio_codec_utils_umust import AudioCodecMixin, UMustAudioCodecOutput


class UMustSpectralAudioCodec(AudioCodecMixin, PreTrainedModel):
    """Spectral codec: 44.1 kHz mono waveform <-> ``(B, T, 4)`` tokens (T = ceil(samples / 512))."""

    config_class = UMustSpectralAudioCodecConfig
    config: UMustSpectralAudioCodecConfig
    base_model_prefix = "umust_spectral_audio_codec"
    main_input_name = "input_values"

    def __init__(self, config: UMustSpectralAudioCodecConfig):
        super().__init__(config)
        #: ``(num_codebooks, codebook_size, feature_dim)`` centroids, in dB
        self.codebooks = nn.Parameter(torch.zeros(config.num_codebooks, config.codebook_size, config.feature_dim),
                                      requires_grad=False)
        # fixed analysis tensors, derived from the config (filled by _init_weights, also after a meta-device load)
        self.register_buffer("window", torch.empty(config.n_fft), persistent=False)
        if config.features == "mel":
            freqs = config.n_fft // 2 + 1
            self.register_buffer("mel_banks", torch.empty(freqs, config.n_mels), persistent=False)
            self.register_buffer("mel_inverse", torch.empty(config.n_mels, freqs), persistent=False)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is not self:
            return
        cfg = self.config
        init.zeros_(self.codebooks)  # fitted by k-means, then loaded from safetensors
        init.copy_(self.window, torch.hann_window(cfg.n_fft))
        if cfg.features == "mel":
            banks = audio_functional.melscale_fbanks(  # librosa's default: slaney scale and norm
                cfg.n_fft // 2 + 1, 0.0, cfg.sampling_rate / 2, cfg.n_mels, cfg.sampling_rate,
                norm="slaney", mel_scale="slaney",
            )
            init.copy_(self.mel_banks, banks)  # (freqs, mels)
            init.copy_(self.mel_inverse, torch.linalg.pinv(banks))  # (mels, freqs)

    # ------------------------------------------------------------------ features
    def frames(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, 1, T * hop)`` audio -> ``(B, T, feature_dim)`` log-spectrogram frames in dB."""
        cfg = self.config
        spectrum = torch.stft(waveform[:, 0].float(), cfg.n_fft, cfg.hop_length, window=self.window,
                              center=True, return_complex=True).abs()[..., :-1]  # frame t centred on sample t * hop
        if cfg.features == "mel":
            power = torch.einsum("bft,fm->bmt", spectrum.square(), self.mel_banks)
            frames = 10.0 * torch.log10(power.clamp_min(10.0 ** (cfg.floor_db / 10.0)))
        else:
            frames = 20.0 * torch.log10(spectrum[:, : cfg.stft_bins].clamp_min(10.0 ** (cfg.floor_db / 20.0)))
        return frames.transpose(1, 2)

    def magnitudes(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, feature_dim)`` dB frames -> ``(B, n_fft // 2 + 1, T)`` STFT magnitudes (mel: pseudo-inverse)."""
        cfg = self.config
        if cfg.features == "mel":
            power = torch.einsum("btm,mf->bft", 10.0 ** (frames / 10.0), self.mel_inverse).clamp_min(0.0)
            return power.sqrt()
        magnitude = frames.new_zeros(frames.shape[0], cfg.n_fft // 2 + 1, frames.shape[1])
        magnitude[:, : cfg.stft_bins] = (10.0 ** (frames / 20.0)).transpose(1, 2)
        return magnitude

    def quantize(self, frames: torch.Tensor) -> tuple[torch.LongTensor, torch.Tensor]:
        """Codes ``(B, T, K)`` of ``(B, T, D)`` frames and their quantised frames: codebook ``k`` takes
        the nearest centroid, over its band (``config.band``), to what codebooks ``< k`` left."""
        residual = frames.reshape(-1, frames.shape[-1])
        quantized = torch.zeros_like(residual)
        codes = []
        for k, codebook in enumerate(self.codebooks):
            band = self.config.band(k)
            index = torch.cdist(residual[:, band], codebook[:, band]).argmin(-1)
            step = codebook[index]  # zero outside its band
            quantized += step
            residual = residual - step
            codes.append(index)
        return torch.stack(codes, -1).reshape(*frames.shape[:2], -1), quantized.reshape(frames.shape)

    def dequantize(self, codes: torch.LongTensor) -> torch.Tensor:
        """``(B, T, K)`` codes -> ``(B, T, D)`` frames (the sum of their centroids)."""
        return sum(self.codebooks[k][codes[..., k]] for k in range(codes.shape[-1]))

    # ------------------------------------------------------------------ API
    @torch.no_grad()
    def encode(self, input_values: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.LongTensor:
        """``(B, 1, T)`` or ``(B, T)`` float audio -> ``(B, ceil(T / hop), num_codebooks)`` int64 codes."""
        return self.quantize(self.frames(self._as_waveform(input_values, padding_mask)))[0]

    @torch.no_grad()
    def decode(self, audio_codes: torch.Tensor) -> torch.Tensor:
        """``(B, T, K)`` codes (``K <= num_codebooks``) -> ``(B, 1, T * hop)`` audio in ``[-1, 1]`` (Griffin-Lim)."""
        codes = self._check_codes(audio_codes)
        return self.synthesize(self.dequantize(codes))

    @torch.no_grad()
    def synthesize(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` dB frames -> ``(B, 1, T * hop)`` audio by Griffin-Lim, each row peak-normalised to 0.5."""
        cfg = self.config
        magnitudes = self.magnitudes(frames)
        magnitudes = torch.cat([magnitudes, magnitudes[..., -1:]], -1)  # the STFT of T * hop samples has T + 1 frames
        audio = audio_functional.griffinlim(
            magnitudes, self.window, cfg.n_fft, cfg.hop_length, cfg.n_fft, power=1.0,
            n_iter=cfg.griffin_lim_iters, momentum=0.99, length=frames.shape[1] * cfg.hop_length, rand_init=False,
        )
        peak = audio.abs().amax(-1, keepdim=True).clamp_min(1e-6)
        return (0.5 * audio / peak)[:, None]

    def forward(self, input_values: torch.Tensor, padding_mask: torch.Tensor | None = None) -> UMustAudioCodecOutput:
        """Encode and decode ``(B, 1, T)`` audio (no training signal: the codebooks are fitted by k-means)."""
        length = input_values.shape[-1]
        codes = self.encode(input_values, padding_mask)
        return UMustAudioCodecOutput(audio_values=self.decode(codes)[..., :length], audio_codes=codes.transpose(1, 2))

    @torch.no_grad()
    def get_codebook_embeddings(self) -> torch.Tensor:
        """``(num_codebooks, codebook_size, feature_dim)``: the centroids (what a code adds to a frame)."""
        return self.codebooks.detach().clone()


UMustSpectralAudioCodecConfig.register_for_auto_class()
UMustSpectralAudioCodec.register_for_auto_class("AutoModel")


def register() -> None:
    """Make ``AutoConfig``/``AutoModel`` resolve ``model_type="umust_spectral_audio_codec"`` (idempotent)."""
    AutoConfig.register(UMustSpectralAudioCodecConfig.model_type, UMustSpectralAudioCodecConfig, exist_ok=True)
    AutoModel.register(UMustSpectralAudioCodecConfig, UMustSpectralAudioCodec, exist_ok=True)


__all__ = ["UMustSpectralAudioCodec", "register"]
