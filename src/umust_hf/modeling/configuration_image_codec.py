"""Configuration of the score-image codec (RQ-VAE, paper Appendix D.1)."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from ..constants import CODEBOOK_SIZE, NUM_CODEBOOKS, SYSTEM_HEIGHT_PX


@strict
class UMustImageCodecConfig(PreTrainedConfig):
    r"""Configuration of [`UMustImageCodec`], a convolutional RQ-VAE for grayscale score images.

    The encoder folds ``stem_patch_size`` pixels per axis into channels, then halves the
    resolution ``len(channel_multipliers) - 1`` times, so the default five levels give the paper's
    16x compression (one token bundle per 16 x 16 patch). There are no
    attention blocks (the paper removed them so that tokens describe local glyphs, and it keeps
    the codes of a patch independent of the image width).

    Args:
        num_channels (`int`, defaults to 1): input channels (grayscale).
        base_channels (`int`, defaults to 128): channels of the first encoder level.
        channel_multipliers (`list[int]`, defaults to `[1, 1, 2, 2, 4]`): channels of each level as a
            multiple of `base_channels`; one down-sampling between consecutive levels.
        num_res_blocks (`int`, defaults to 2): residual blocks per level.
        stem_patch_size (`int`, defaults to 1): the encoder first folds `s x s` pixel blocks into
            channels (pixel unshuffle) and the decoder unfolds them at the end (pixel shuffle), so
            no conv runs at full resolution. 1 (paper-like) disables it; the CPU preset uses 4,
            which makes a training step several times cheaper and learning much faster.
        latent_dim (`int`, defaults to 256): the model dimension, i.e. the width of the quantised latent.
        num_codebooks (`int`, defaults to 4): residual quantisation depth (unshared codebooks).
        codebook_size (`int`, defaults to 1024): codes per codebook.
        codebook_dim (`int`, *optional*): lookup dimension; defaults to `latent_dim` (no projection).
        commitment_weight (`float`, defaults to 0.25): weight of the quantiser's commitment loss.
        codebook_decay (`float`, defaults to 0.99): EMA decay of the codebooks (as kakaobrain's RQ-VAE).
        dead_code_threshold (`float`, defaults to 0.1): a code whose EMA usage (vectors per step)
            falls below this, i.e. one used less than about once per ``1 / threshold`` steps, is
            re-seeded from the current batch. The trainer zeroes all usages before the first step
            (:meth:`UMustImageCodec.reset_codebook_usage`), which seeds every codebook from data, so
            no k-means initialisation is needed and encoding never mutates state.
        image_height (`int`, defaults to 192): height of the normalised system images the codec sees.
        initializer_range (`float`, defaults to 0.02): kept for `PreTrainedModel` conventions.

    Example:

    ```python
    >>> from umust_hf import UMustImageCodec, UMustImageCodecConfig
    >>> model = UMustImageCodec(UMustImageCodecConfig.cpu())
    ```
    """

    model_type = "umust_image_codec"

    num_channels: int = 1
    base_channels: int = 128
    channel_multipliers: list[int] | None = None
    num_res_blocks: int = 2
    stem_patch_size: int = 1
    latent_dim: int = 256
    num_codebooks: int = NUM_CODEBOOKS
    codebook_size: int = CODEBOOK_SIZE
    codebook_dim: int | None = None
    commitment_weight: float = 0.25
    codebook_decay: float = 0.99
    dead_code_threshold: float = 0.1
    image_height: int = SYSTEM_HEIGHT_PX
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.channel_multipliers is None:
            self.channel_multipliers = [1, 1, 2, 2, 4]
        self.channel_multipliers = [int(m) for m in self.channel_multipliers]
        if self.codebook_dim is None:
            self.codebook_dim = self.latent_dim
        if len(self.channel_multipliers) < 1 or min(self.channel_multipliers) < 1:
            raise ValueError(f"channel_multipliers must be positive integers, got {self.channel_multipliers}")
        if self.num_res_blocks < 1 or self.base_channels < 1 or self.latent_dim < 1 or self.stem_patch_size < 1:
            raise ValueError("num_res_blocks, base_channels and latent_dim must be positive")
        if self.num_codebooks < 1 or self.codebook_size < 2:
            raise ValueError("need at least one codebook of at least two codes")
        if self.image_height % self.downsample_factor:
            raise ValueError(
                f"image_height {self.image_height} is not a multiple of the down-sampling factor {self.downsample_factor}"
            )
        super().__post_init__(**kwargs)

    @property
    def downsample_factor(self) -> int:
        """Pixels per token along each axis (16 for the default five levels)."""
        return self.stem_patch_size * 2 ** (len(self.channel_multipliers) - 1)

    @classmethod
    def paper(cls, **overrides) -> UMustImageCodecConfig:
        """The paper's codec: model dimension 256, 4 x 1024 unshared codebooks, 16x, no attention."""
        return cls(**overrides)

    @classmethod
    def cpu(cls, **overrides) -> UMustImageCodecConfig:
        """A narrow codec that trains in minutes on a laptop CPU: same 16x grid and 4 x 1024 codebooks.

        Faster codebook EMA and a lower dead-code threshold suit its small batches (about 128
        latent vectors per step for 1024 codes per level).
        """
        values = dict(
            base_channels=32,
            channel_multipliers=[1, 2, 2],
            stem_patch_size=4,
            num_res_blocks=1,
            latent_dim=64,
            codebook_decay=0.95,
            dead_code_threshold=0.02,
        )
        values.update(overrides)
        return cls(**values)

