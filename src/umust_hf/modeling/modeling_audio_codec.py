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
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.weight_norm import WeightNorm
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from ..errors import UserError
from .configuration_audio_codec import UMustAudioCodecConfig

#: The paper's token-baking augmentation: nine shifts of -20..+20 samples, 5 apart (index 4 = unshifted).
BAKING_SHIFTS: tuple[int, ...] = tuple(range(-20, 21, 5))


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


def audio_shift_variants(audio: torch.Tensor, shifts: Iterable[int] = BAKING_SHIFTS) -> torch.Tensor:
    """Copies of ``audio`` read ``s`` samples later for each shift ``s`` (zeros past either edge).

    Args:
        audio: ``(..., T)`` waveform.
        shifts: sample offsets; variant ``i`` at time ``t`` is ``audio[..., t + shifts[i]]``.

    Returns:
        ``(len(shifts), ..., T)``; same length as the input, so every variant has the same frames.
    """
    shifts = [int(s) for s in shifts]
    if not shifts:
        raise ValueError("audio_shift_variants needs at least one shift")
    length = audio.shape[-1]
    pad = max(abs(s) for s in shifts)
    padded = nn.functional.pad(audio, (pad, pad))
    return torch.stack([padded[..., pad + s : pad + s + length] for s in shifts])


@dataclass
class UMustAudioCodecOutput(ModelOutput):
    r"""Output of a full encode -> quantise -> decode pass.

    Args:
        audio_values: ``(B, 1, T)`` reconstruction, cropped to the input length.
        audio_codes: ``(B, frames, num_codebooks)`` token ids in ``0..codebook_size-1``.
        quantized_representation: ``(B, latent_dim, frames)`` sum of the codebook vectors.
        commitment_loss: scalar, pulls encoder outputs towards their codes (DAC weight 0.25).
        codebook_loss: scalar, pulls codes towards encoder outputs (DAC weight 1).
        projected_latents: ``(B, num_codebooks * codebook_dim, frames)`` what each residual stage
            looked up (its ``in_proj`` output, before l2 normalisation), stage after stage; the
            trainer's codebook revival re-seeds dead codes from these.
    """

    audio_values: torch.Tensor | None = None
    audio_codes: torch.LongTensor | None = None
    quantized_representation: torch.Tensor | None = None
    commitment_loss: torch.Tensor | None = None
    codebook_loss: torch.Tensor | None = None
    projected_latents: torch.Tensor | None = None


class UMustAudioCodec(PreTrainedModel):
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

    # ------------------------------------------------------------------ shapes
    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def num_frames(self, num_samples: int | torch.Tensor) -> int | torch.Tensor:
        """Frames the codec makes from ``num_samples`` samples: ``ceil(n / hop)``."""
        if isinstance(num_samples, torch.Tensor):
            return torch.div(num_samples + self.hop_length - 1, self.hop_length, rounding_mode="floor")
        return -(-int(num_samples) // self.hop_length)

    def _as_waveform(self, input_values: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Check ``(B, 1, T)`` or ``(B, T)`` input, zero it where ``padding_mask`` (B, T) is 0 and
        right-pad it to a multiple of the hop: ``(B, 1, ceil(T / hop) * hop)``."""
        if not isinstance(input_values, torch.Tensor):
            raise UserError(f"input_values must be a torch.Tensor of shape (B, 1, T), got {type(input_values).__name__}")
        if input_values.dim() == 2:
            input_values = input_values[:, None, :]
        if input_values.dim() != 3 or input_values.shape[1] != 1:
            raise UserError(
                f"input_values must be mono audio of shape (B, 1, T) or (B, T), got {tuple(input_values.shape)}; "
                "use UMustFeatureExtractor to downmix and resample"
            )
        if input_values.shape[-1] == 0:
            raise UserError("input_values has no samples (T = 0)")
        if not input_values.is_floating_point():
            raise UserError(f"input_values must be floating point in [-1, 1], got dtype {input_values.dtype}")
        param = next(self.parameters())
        input_values = input_values.to(device=param.device, dtype=param.dtype)
        if padding_mask is not None:
            if tuple(padding_mask.shape) != (input_values.shape[0], input_values.shape[-1]):
                raise UserError(
                    f"padding_mask must have shape (B, T) = {(input_values.shape[0], input_values.shape[-1])}, "
                    f"got {tuple(padding_mask.shape)}"
                )
            input_values = input_values * padding_mask.to(input_values)[:, None, :]
        right_pad = self.num_frames(input_values.shape[-1]) * self.hop_length - input_values.shape[-1]
        return nn.functional.pad(input_values, (0, right_pad))

    def _check_codes(self, audio_codes: torch.Tensor) -> torch.Tensor:
        if not isinstance(audio_codes, torch.Tensor) or audio_codes.is_floating_point() or audio_codes.is_complex():
            raise UserError("audio_codes must be an integer torch.Tensor of shape (B, T, num_codebooks)")
        if audio_codes.dim() == 2:
            audio_codes = audio_codes[None]
        k = self.config.num_codebooks
        if audio_codes.dim() != 3 or audio_codes.shape[-1] > k or audio_codes.shape[-1] == 0:
            raise UserError(f"audio_codes must have shape (B, T, {k}) (or fewer codebooks), got {tuple(audio_codes.shape)}")
        if audio_codes.shape[1] == 0:
            raise UserError("audio_codes has no frames (T = 0)")
        lo, hi = int(audio_codes.min()), int(audio_codes.max())
        if lo < 0 or hi >= self.config.codebook_size:
            raise UserError(f"audio_codes must lie in 0..{self.config.codebook_size - 1}, found values {lo}..{hi}")
        return audio_codes.to(device=next(self.parameters()).device, dtype=torch.long)

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
    def encode_shift_variants(
        self, input_values: torch.Tensor, shifts: Iterable[int] = BAKING_SHIFTS
    ) -> torch.LongTensor:
        """Tokens of every shift variant (the paper's token-baking augmentation).

        Args:
            input_values: ``(B, 1, T)`` or ``(B, T)`` audio.
            shifts: sample offsets, default ``-20, -15, ..., 20``.

        Returns:
            ``(len(shifts), B, ceil(T / hop), num_codebooks)``; variant ``shifts.index(0)`` equals ``encode``.
        """
        audio = self._as_waveform(input_values)[..., : input_values.shape[-1]]
        variants = audio_shift_variants(audio, shifts)  # (S, B, 1, T)
        num_shifts, batch = variants.shape[:2]
        codes = self.encode(variants.reshape(num_shifts * batch, 1, -1))
        return codes.reshape(num_shifts, batch, *codes.shape[1:])

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


__all__ = ["BAKING_SHIFTS", "UMustAudioCodec", "UMustAudioCodecOutput", "build_dac", "audio_shift_variants"]


def register() -> None:
    """Make ``AutoConfig``/``AutoModel`` resolve ``model_type="umust_audio_codec"`` (idempotent)."""
    AutoConfig.register(UMustAudioCodecConfig.model_type, UMustAudioCodecConfig, exist_ok=True)
    AutoModel.register(UMustAudioCodecConfig, UMustAudioCodec, exist_ok=True)
