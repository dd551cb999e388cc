"""What both audio codecs share: the output type, frame arithmetic, input and code checks, and the
shift variants of token baking. Imports only torch and transformers, so that a codec saved with its
code (``trust_remote_code``) runs without this package.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from transformers.utils import ModelOutput

try:  # inside the package, bad input raises the CLI's one-line error (imported by name: see below)
    UserError = importlib.import_module("..errors", __package__).UserError
except (ImportError, ValueError, TypeError):  # loaded as remote code, outside the package
    UserError = ValueError
# (a literal relative import of ..errors would make transformers copy a file that remote code lacks)


#: The paper's token-baking augmentation: nine shifts of -20..+20 samples, 5 apart (index 4 = unshifted).
BAKING_SHIFTS: tuple[int, ...] = tuple(range(-20, 21, 5))


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


class AudioCodecMixin:
    """What every audio codec here shares: frames of ``hop_length`` samples, input and code checks,
    and the shift-variant encoding of token baking (the subclass defines ``encode``)."""

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



__all__ = ["BAKING_SHIFTS", "AudioCodecMixin", "UMustAudioCodecOutput", "UserError", "audio_shift_variants"]
