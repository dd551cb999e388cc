"""Score-image codec: a convolutional RQ-VAE (paper Appendix D.1) as a `PreTrainedModel`.

Structure follows kakaobrain's RQ-VAE (conv encoder -> residual quantiser -> conv decoder) with
the attention blocks removed, as the paper did. Quantisation is vector-quantize-pytorch's
`ResidualVQ` (EMA codebooks, dead-code re-seeding), not a hand-written one.

Normalisation is a per-pixel LayerNorm over channels rather than GroupNorm: GroupNorm pools
statistics over the whole image, so the codes of a patch would depend on how wide the system is
and on the crop size used in training (the artefact of the paper's Figure 11). With per-pixel
norms the codec is a purely local function with a finite receptive field.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput
from vector_quantize_pytorch import ResidualVQ, VectorQuantize

from .configuration_image_codec import UMustImageCodecConfig


@dataclass
class UMustImageCodecOutput(ModelOutput):
    r"""Output of [`UMustImageCodec.forward`].

    Args:
        reconstruction (`torch.FloatTensor` of shape `(B, C, H, W)`): decoded image (not clamped).
        codes (`torch.LongTensor` of shape `(B, H/16, W/16, num_codebooks)`): code indices.
        quantizer_loss (`torch.FloatTensor` of shape `()`): commitment loss summed over codebooks.
        latents (`torch.FloatTensor` of shape `(B, latent_dim, H/16, W/16)`): encoder output before quantisation.
    """

    reconstruction: torch.FloatTensor | None = None
    codes: torch.LongTensor | None = None
    quantizer_loss: torch.FloatTensor | None = None
    latents: torch.FloatTensor | None = None


class UMustChannelNorm(nn.Module):
    """LayerNorm over the channel axis of a `(B, C, H, W)` map, independently at every pixel."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden.permute(0, 2, 3, 1)
        hidden = F.layer_norm(hidden, hidden.shape[-1:], self.weight, self.bias, self.eps)
        return hidden.permute(0, 3, 1, 2)


class UMustResBlock(nn.Module):
    """Pre-norm residual block: norm -> SiLU -> conv3x3, twice, plus a 1x1 skip when widths differ."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.norm1 = UMustChannelNorm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = UMustChannelNorm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        residual = self.skip(hidden)
        hidden = self.conv1(F.silu(self.norm1(hidden)))
        hidden = self.conv2(F.silu(self.norm2(hidden)))
        return residual + hidden


class UMustImageEncoder(nn.Module):
    """`(B, C, H, W)` pixels -> `(B, latent_dim, H/f, W/f)` latents, f = `config.downsample_factor`."""

    def __init__(self, config: UMustImageCodecConfig):
        super().__init__()
        widths = [config.base_channels * m for m in config.channel_multipliers]
        stem = config.stem_patch_size
        self.unshuffle = nn.PixelUnshuffle(stem) if stem > 1 else nn.Identity()
        self.conv_in = nn.Conv2d(config.num_channels * stem * stem, widths[0], 3, padding=1)
        blocks: list[nn.Module] = []
        in_width = widths[0]
        for level, width in enumerate(widths):
            for _ in range(config.num_res_blocks):
                blocks.append(UMustResBlock(in_width, width))
                in_width = width
            if level < len(widths) - 1:
                blocks.append(nn.Conv2d(width, width, 3, stride=2, padding=1))
        blocks.append(UMustResBlock(in_width, in_width))  # mid block (no attention)
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = UMustChannelNorm(in_width)
        self.conv_out = nn.Conv2d(in_width, config.latent_dim, 3, padding=1)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden = self.blocks(self.conv_in(self.unshuffle(pixel_values)))
        return self.conv_out(F.silu(self.norm_out(hidden)))


class UMustUpsample(nn.Module):
    """Nearest-neighbour x2 then conv3x3 (no checkerboard artefacts, unlike transposed convs)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(hidden, scale_factor=2.0, mode="nearest"))


class UMustImageDecoder(nn.Module):
    """`(B, latent_dim, h, w)` quantised latents -> `(B, C, h*f, w*f)` pixels (mirror of the encoder)."""

    def __init__(self, config: UMustImageCodecConfig):
        super().__init__()
        widths = [config.base_channels * m for m in reversed(config.channel_multipliers)]
        self.conv_in = nn.Conv2d(config.latent_dim, widths[0], 3, padding=1)
        blocks: list[nn.Module] = [UMustResBlock(widths[0], widths[0])]  # mid block
        in_width = widths[0]
        for level, width in enumerate(widths):
            for _ in range(config.num_res_blocks):
                blocks.append(UMustResBlock(in_width, width))
                in_width = width
            if level < len(widths) - 1:
                blocks.append(UMustUpsample(width))
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = UMustChannelNorm(in_width)
        stem = config.stem_patch_size
        self.conv_out = nn.Conv2d(in_width, config.num_channels * stem * stem, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stem) if stem > 1 else nn.Identity()

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        hidden = self.blocks(self.conv_in(latents))
        return self.shuffle(self.conv_out(F.silu(self.norm_out(hidden))))


class UMustImageCodecPreTrainedModel(PreTrainedModel):
    config: UMustImageCodecConfig
    config_class = UMustImageCodecConfig  # the annotation alone is a string under postponed annotations
    base_model_prefix = "image_codec"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules: list[str] = []

    def _init_weights(self, module: nn.Module) -> None:
        """PyTorch's default conv init (fan-in uniform) trains these conv stacks faster than N(0, 0.02)."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, UMustChannelNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        # vector-quantize-pytorch keeps constants in non-persistent buffers; `from_pretrained` builds
        # the model on the meta device, so they must be refilled here or they hold garbage
        # (`zero` starts the loss sum, `beam_score_weights` weights beam search).
        elif isinstance(module, VectorQuantize):
            init.zeros_(module.zero)
        elif isinstance(module, ResidualVQ):
            init.ones_(module.beam_score_weights)


class UMustImageCodec(UMustImageCodecPreTrainedModel):
    """RQ-VAE for grayscale score images: any width, height a multiple of 16.

    Pixels are expected in [-1, 1] (white = 1), as produced by `UMustImageProcessor`.
    """

    def __init__(self, config: UMustImageCodecConfig):
        super().__init__(config)
        self.encoder = UMustImageEncoder(config)
        self.quantizer = ResidualVQ(
            dim=config.latent_dim,
            num_quantizers=config.num_codebooks,
            codebook_size=config.codebook_size,
            codebook_dim=config.codebook_dim,
            shared_codebook=False,
            kmeans_init=False,
            decay=config.codebook_decay,
            commitment_weight=config.commitment_weight,
            threshold_ema_dead_code=config.dead_code_threshold,
        )
        self.decoder = UMustImageDecoder(config)
        self.post_init()

    @property
    def downsample_factor(self) -> int:
        return self.config.downsample_factor

    def _check_pixels(self, pixel_values: torch.Tensor) -> None:
        if pixel_values.ndim != 4 or pixel_values.shape[1] != self.config.num_channels:
            raise ValueError(
                f"pixel_values must have shape (batch, {self.config.num_channels}, height, width), "
                f"got {tuple(pixel_values.shape)}"
            )
        factor = self.downsample_factor
        height, width = pixel_values.shape[-2:]
        if height == 0 or width == 0 or height % factor or width % factor:
            raise ValueError(
                f"image height and width must be positive multiples of {factor}, got {height} x {width} "
                "(UMustImageProcessor pads systems to that)"
            )

    @contextlib.contextmanager
    def _frozen_quantizer(self) -> Iterator[None]:
        """Run the quantiser in eval mode: encoding must never update the EMA codebooks."""
        was_training = self.quantizer.training
        self.quantizer.eval()
        try:
            yield
        finally:
            self.quantizer.train(was_training)

    @torch.no_grad()
    def encode(self, pixel_values: torch.Tensor) -> torch.LongTensor:
        """`(B, 1, H, W)` pixels in [-1, 1] -> `(B, H/16, W/16, num_codebooks)` code indices."""
        self._check_pixels(pixel_values)
        latents = self.encoder(pixel_values.to(self.dtype))
        with self._frozen_quantizer():
            _, codes, _ = self.quantize(latents)
        return codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.FloatTensor:
        """`(B, h, w, num_codebooks)` code indices -> `(B, 1, 16h, 16w)` pixels clamped to [-1, 1]."""
        if codes.ndim != 4 or codes.shape[-1] != self.config.num_codebooks:
            raise ValueError(
                f"codes must have shape (batch, rows, columns, {self.config.num_codebooks}), got {tuple(codes.shape)}"
            )
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.config.codebook_size):
            raise ValueError(
                f"code indices must lie in [0, {self.config.codebook_size}), got [{int(codes.min())}, {int(codes.max())}]"
            )
        return self.decoder(self.codes_to_latents(codes).to(self.dtype)).clamp(-1.0, 1.0)

    def quantize(self, latents: torch.Tensor) -> tuple[torch.FloatTensor, torch.LongTensor, torch.FloatTensor]:
        """`(B, D, h, w)` latents -> quantised `(B, D, h, w)`, codes `(B, h, w, K)`, per-codebook losses `(K,)`."""
        batch, _, rows, columns = latents.shape
        flat = latents.float().flatten(2).transpose(1, 2)  # (B, h*w, D)
        quantized, codes, losses = self.quantizer(flat)
        quantized = quantized.transpose(1, 2).reshape(batch, -1, rows, columns)
        return quantized, codes.reshape(batch, rows, columns, -1), losses.reshape(-1)

    def codes_to_latents(self, codes: torch.Tensor) -> torch.FloatTensor:
        """`(B, h, w, K)` indices -> `(B, latent_dim, h, w)` summed codebook vectors."""
        batch, rows, columns, _ = codes.shape
        latents = self.quantizer.get_output_from_indices(codes.long().reshape(batch, rows * columns, -1))
        return latents.transpose(1, 2).reshape(batch, -1, rows, columns)  # (B, D, h, w)

    @torch.no_grad()
    def reset_codebook_usage(self) -> None:
        """Mark every code unused, so the next training forward re-seeds all codebooks from the batch.

        Used once before training: a data-dependent start through the quantiser's own dead-code
        re-seeding (a step replaces at most as many codes as it has latent vectors).
        """
        for layer in self.quantizer.layers:
            layer._codebook.cluster_size.zero_()

    def get_codebooks(self) -> torch.FloatTensor:
        """`(num_codebooks, codebook_size, latent_dim)` code vectors, e.g. to seed token embeddings."""
        codebooks = self.quantizer.codebooks  # (K, N, codebook_dim)
        return self.quantizer.project_out(codebooks).detach()

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> UMustImageCodecOutput:
        """Encode, quantise (updating EMA codebooks in training mode) and decode `(B, 1, H, W)` pixels."""
        self._check_pixels(pixel_values)
        latents = self.encoder(pixel_values)
        quantized, codes, losses = self.quantize(latents)
        reconstruction = self.decoder(quantized.to(latents.dtype))
        return UMustImageCodecOutput(
            reconstruction=reconstruction, codes=codes, quantizer_loss=losses.sum(), latents=latents
        )


__all__ = ["UMustImageCodec", "UMustImageCodecOutput", "UMustImageCodecPreTrainedModel"]


def register() -> None:
    """Make ``AutoConfig``/``AutoModel`` resolve ``model_type="umust_image_codec"`` (idempotent)."""
    AutoConfig.register(UMustImageCodecConfig.model_type, UMustImageCodecConfig, exist_ok=True)
    AutoModel.register(UMustImageCodecConfig, UMustImageCodec, exist_ok=True)
