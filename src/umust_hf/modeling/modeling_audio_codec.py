"""descript-audio-codec's DAC wrapped as a ``PreTrainedModel``: audio <-> ``(B, T, 4)`` tokens.

We hold a real ``dac.DAC`` (so its encoder, residual quantiser and decoder are the maintained
code, and its discriminator and losses train it unchanged) and add what Hugging Face needs:
a config, ``save_pretrained``/``from_pretrained`` with safetensors, Auto* registration and a
token layout of ``(batch, frames, codebooks)`` like every other modality in U-MUST.

Weight norm: ``dac`` uses the old hook-based ``torch.nn.utils.weight_norm`` (``weight_g`` /
``weight_v``). transformers renames those keys to ``parametrizations.weight.original0/1`` when
it loads *any* checkpoint, which would leave hook-based modules silently un-loaded. We therefore
convert every layer to ``torch.nn.utils.parametrizations.weight_norm`` right after building it;
the loader's renaming then also maps original descript keys onto ours, and ``_init_weights``
initialises the ``original0``/``original1`` pair (meta-device loading never touches a stale
cached ``weight``, because parametrized weights are recomputed on every access).
"""

from __future__ import annotations

import math
import os
import warnings

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.weight_norm import WeightNorm
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init

from .audio_codec_utils_umust import (  # re-exported: the names callers import from here
    BAKING_SHIFTS,
    AudioCodecMixin,
    UMustAudioCodecOutput,
    UserError,
    audio_shift_variants,
)
from .configuration_audio_codec import UMustAudioCodecConfig

def _import_dac():
    """Import descript-audio-codec quietly (its ``torch.jit.script`` use warns on import)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        import dac  # heavy: dac pulls in audiotools; imported quietly, only when a codec is built
    return dac


def build_dac(config: UMustAudioCodecConfig) -> nn.Module:
    """A ``dac.DAC`` for ``config`` with parametrized weight norm (see the module docstring)."""
    dac = _import_dac()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.nn.utils.weight_norm is deprecated
        model = dac.DAC(**config.dac_kwargs())
    use_parametrized_weight_norm(model)
    return model


def use_parametrized_weight_norm(module: nn.Module) -> nn.Module:
    """Replace hook-based weight norm by ``parametrizations.weight_norm`` in place, keeping each weight."""
    for sub in module.modules():
        hooks = [h for h in sub._forward_pre_hooks.values() if isinstance(h, WeightNorm)]
        for hook in hooks:
            dim = hook.dim
            nn.utils.remove_weight_norm(sub, hook.name)
            nn.utils.parametrizations.weight_norm(sub, hook.name, dim=dim)
    return module


class UMustAudioCodec(AudioCodecMixin, PreTrainedModel):
    """DAC audio codec: 44.1 kHz mono waveform <-> ``(B, T, 4)`` tokens (T = ceil(samples / 512))."""

    config_class = UMustAudioCodecConfig  # explicit: postponed annotations hide the class from transformers
    config: UMustAudioCodecConfig
    base_model_prefix = "umust_audio_codec"
    main_input_name = "input_values"
    _no_split_modules = ["ResidualUnit"]

    def __init__(self, config: UMustAudioCodecConfig):
        super().__init__(config)
        self.dac = build_dac(config)
        self.post_init()

    # ------------------------------------------------------------------ weights
    def _init_weights(self, module: nn.Module) -> None:
        """DAC's own initialisation, written against the weight-norm parametrization.

        Convolutions get PyTorch's default (Kaiming-uniform) direction ``original1`` and a
        magnitude ``original0`` equal to its norm (what ``weight_norm`` sets up); DAC zeroes the
        biases of plain convolutions; Snake slopes start at 1; codebooks are standard normal.
        """
        if isinstance(module, (nn.Conv1d, nn.ConvTranspose1d)):
            if parametrize.is_parametrized(module, "weight"):
                direction = module.parametrizations.weight.original1
                magnitude = module.parametrizations.weight.original0
                init.kaiming_uniform_(direction, a=math.sqrt(5))
                if direction.device.type != "meta":
                    dims = tuple(range(1, direction.dim()))
                    init.copy_(magnitude, torch.linalg.vector_norm(direction, dim=dims, keepdim=True))
            else:
                direction = module.weight
                init.kaiming_uniform_(direction, a=math.sqrt(5))
            if module.bias is not None and isinstance(module, nn.ConvTranspose1d):
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(direction)
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                init.uniform_(module.bias, -bound, bound)
            elif module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=1.0)
        elif hasattr(module, "alpha") and type(module).__name__ == "Snake1d":
            init.ones_(module.alpha)

    # ------------------------------------------------------------------ API
    @torch.no_grad()
    def encode(self, input_values: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.LongTensor:
        """Waveform to tokens.

        Args:
            input_values: ``(B, 1, T)`` or ``(B, T)`` float audio at ``config.sampling_rate``.
            padding_mask: optional ``(B, T)``, 1 on real samples; padded samples are zeroed
                first so that garbage after the end cannot leak into the last real frame.

        Returns:
            ``(B, ceil(T / hop), num_codebooks)`` int64 codes in ``0..codebook_size-1``.
        """
        audio = self._as_waveform(input_values, padding_mask)
        latents = self.dac.encoder(audio)
        _, codes, _, _, _ = self.dac.quantizer(latents, self.config.num_codebooks)
        return codes[:, : self.config.num_codebooks].transpose(1, 2).contiguous()

    @torch.no_grad()
    def decode(self, audio_codes: torch.Tensor) -> torch.Tensor:
        """Tokens to waveform (no gradients; train through ``forward``).

        Args:
            audio_codes: ``(B, T, K)`` or ``(T, K)`` integer codes, ``K <= num_codebooks`` (fewer
                codebooks give a coarser reconstruction, as in DAC).

        Returns:
            ``(B, 1, T * hop)`` float audio in ``[-1, 1]``.
        """
        codes = self._check_codes(audio_codes)
        z, _, _ = self.dac.quantizer.from_codes(codes.transpose(1, 2))
        return self.dac.decode(z)

    def forward(self, input_values: torch.Tensor, padding_mask: torch.Tensor | None = None) -> UMustAudioCodecOutput:
        """Encode, quantise and decode ``(B, 1, T)`` audio; returns codes, reconstruction and VQ losses."""
        length = input_values.shape[-1]
        audio = self._as_waveform(input_values, padding_mask)
        z, codes, latents, commitment_loss, codebook_loss = self.dac.quantizer(self.dac.encoder(audio), self.config.num_codebooks)
        reconstruction = self.dac.decode(z)[..., :length]
        return UMustAudioCodecOutput(
            audio_values=reconstruction,
            audio_codes=codes.transpose(1, 2),
            quantized_representation=z,
            commitment_loss=commitment_loss,
            codebook_loss=codebook_loss,
            projected_latents=latents,
        )

    @torch.no_grad()
    def get_codebook_embeddings(self) -> torch.Tensor:
        """``(num_codebooks, codebook_size, latent_dim)``: each code's contribution to the latent.

        This is ``out_proj(codebook)``, the vector a code adds before decoding; U-MUST initialises
        its audio token embeddings from it.
        """
        rows = []
        for quantizer in self.dac.quantizer.quantizers[: self.config.num_codebooks]:
            vectors = quantizer.codebook.weight.t()[None]  # (1, codebook_dim, codebook_size)
            rows.append(quantizer.out_proj(vectors)[0].t())
        return torch.stack(rows)

    # ------------------------------------------------------------------ descript checkpoints
    @classmethod
    def from_descript_checkpoint(cls, path: str | os.PathLike, num_codebooks: int = 4) -> UMustAudioCodec:
        """Load a checkpoint written by ``dac.DAC.save(path, package=False)`` (the released format).

        The file holds ``{"state_dict": ..., "metadata": {"kwargs": DAC(...) arguments}}``. We keep
        the first ``num_codebooks`` residual quantizers and drop the rest, which is exact: residual
        codebook ``i`` only sees what codebooks ``< i`` left over.
        """
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise UserError(f"{path}: no such descript-audio-codec checkpoint file")
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - any unpickling failure means "not this format"
            raise UserError(
                f"{path}: not a descript-audio-codec weights file ({type(error).__name__}: {str(error)[:200]}). "
                "Re-save it with dac.DAC.load(path).save(new_path, package=False)."
            ) from error
        if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "kwargs" not in checkpoint.get("metadata", {}):
            raise UserError(f"{path}: expected a dict with 'state_dict' and 'metadata.kwargs' (dac.DAC.save(..., package=False))")
        kwargs = dict(checkpoint["metadata"]["kwargs"])
        available = int(kwargs.get("n_codebooks", 9))
        if not 1 <= num_codebooks <= available:
            raise UserError(f"{path}: has {available} codebooks, cannot keep {num_codebooks}")
        codebook_dim = kwargs.get("codebook_dim", 8)
        if isinstance(codebook_dim, (list, tuple)):
            if len(set(codebook_dim[:num_codebooks])) != 1:
                raise UserError(f"{path}: codebooks of different widths {codebook_dim} are not supported")
            codebook_dim = codebook_dim[0]
        config = UMustAudioCodecConfig(
            sampling_rate=int(kwargs.get("sample_rate", 44100)),
            encoder_dim=int(kwargs.get("encoder_dim", 64)),
            encoder_rates=list(kwargs.get("encoder_rates", [2, 4, 8, 8])),
            latent_dim=kwargs.get("latent_dim"),
            decoder_dim=int(kwargs.get("decoder_dim", 1536)),
            decoder_rates=list(kwargs.get("decoder_rates", [8, 8, 4, 2])),
            num_codebooks=num_codebooks,
            codebook_size=int(kwargs.get("codebook_size", 1024)),
            codebook_dim=int(codebook_dim),
            quantizer_dropout=float(kwargs.get("quantizer_dropout", 0.0) or 0.0),
        )
        state_dict = {}
        for key, value in checkpoint["state_dict"].items():
            parts = key.split(".")
            if key.startswith("quantizer.quantizers.") and int(parts[2]) >= num_codebooks:
                continue
            key = key.replace(".weight_g", ".parametrizations.weight.original0")
            key = key.replace(".weight_v", ".parametrizations.weight.original1")
            state_dict["dac." + key] = value
        model = cls(config)
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
        if missing or unexpected:
            raise UserError(
                f"{path}: weights do not match the architecture in its metadata "
                f"(missing {missing[:5]}{'...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]})"
            )
        return model.eval()


__all__ = ["AudioCodecMixin", "BAKING_SHIFTS", "UMustAudioCodec", "UMustAudioCodecOutput", "build_dac", "audio_shift_variants"]


def register() -> None:
    """Make ``AutoConfig``/``AutoModel`` resolve ``model_type="umust_audio_codec"`` (idempotent)."""
    AutoConfig.register(UMustAudioCodecConfig.model_type, UMustAudioCodecConfig, exist_ok=True)
    AutoModel.register(UMustAudioCodecConfig, UMustAudioCodec, exist_ok=True)
