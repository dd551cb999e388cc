"""Sizes and budgets of one demo run: the default (about 15 minutes on 2 CPU cores) and ``quick`` (CI).

Sequence length decides the CPU cost of everything downstream, so the demo keeps only
short excerpts (all four modalities stay aligned: nothing is cropped, whole excerpts are
filtered by duration and image width) and sizes the model's position tables to them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..constants import HOP_LENGTH, PATCH_SIZE, SAMPLE_RATE, SYSTEM_HEIGHT_PX

#: Audio frames per second of the codec (44.1 kHz, hop 512).
AUDIO_FRAMES_PER_SECOND = SAMPLE_RATE / HOP_LENGTH


@dataclass(frozen=True)
class DemoSettings:
    """Everything that sizes a demo run (saved as ``umust-demo/settings.json``)."""

    corpus_pieces: int = 80
    seed: int = 0
    num_proc: int = 2
    #: excerpts longer than this (seconds of audio) are left out before baking; examples whose
    #: normalised system is wider than ``max_image_columns`` 16-px patches are dropped by the bake
    max_seconds: float = 8.0
    max_image_columns: int = 48
    max_train_excerpts: int | None = None  # baking costs about 1 CPU-second per excerpt
    eval_excerpts: int = 6
    codec_minutes: float = 1.0  # the DAC and image codecs' training budgets
    codec_max_steps: int | None = None
    #: the demo's audio codec: "spectral" (k-means over log-STFT bands, which keeps the notes on a CPU:
    #: docs/codecs.md) or "dac" (the paper's codec, trained for ``codec_minutes``)
    audio_codec: str = "spectral"
    #: training frames the spectral codec's k-means sees (fitting time grows with it)
    spectral_codec_frames: int = 60_000
    i2a_steps: int | None = None  # None: the demo recipe's own step count
    a2i_steps: int | None = None
    #: wall-time caps per model (I2A's OMR gets the larger share); each cap also shrinks to what
    #: the overall budget still allows
    i2a_minutes: float = 6.5
    a2i_minutes: float = 2.5
    #: wall time kept back for the six tasks, metrics and figure when a training cap shrinks
    eval_reserve_minutes: float = 1.5
    batch_size: int | None = None
    #: notation/MIDI tokens: generous bounds for the short excerpts (over-long examples are dropped)
    max_notation_positions: int = 400
    max_midi_positions: int = 400
    budget_minutes: float = 15.0
    #: cap on generated frames per output (None: the model's length ratios from training, see
    #: ``umust_hf.modeling.generation_umust``, within the target's position table)
    max_new_tokens: int | None = None

    @property
    def max_audio_positions(self) -> int:
        """Audio frames of the longest kept excerpt, plus SOS/EOS."""
        return int(self.max_seconds * AUDIO_FRAMES_PER_SECOND) + 8

    @property
    def max_image_positions(self) -> int:
        """Token bundles of the widest kept system (rows x columns), plus SEP/SOS/EOS."""
        rows = SYSTEM_HEIGHT_PX // PATCH_SIZE
        return rows * self.max_image_columns + 8

    def model_overrides(self) -> dict[str, int]:
        """``UMustConfig.from_preset("tiny", **overrides)``: position tables sized for the demo.

        All four tables get the same length: a training batch mixes tasks, and the encoder pads
        every source in it to the longest one, whatever its modality.
        """
        length = max(self.max_audio_positions, self.max_image_positions, self.max_notation_positions,
                     self.max_midi_positions)
        return {f"max_{modality}_positions": length for modality in ("audio", "image", "notation", "midi")}

    def minutes_cap(self, direction: str) -> float:
        """The wall-time cap of the ``"i2a"`` or ``"a2i"`` model."""
        return {"i2a": self.i2a_minutes, "a2i": self.a2i_minutes}[direction]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def quick(cls, **overrides: Any) -> DemoSettings:
        """Tiny settings for a CI test: minutes, not quality."""
        base = cls(
            corpus_pieces=4, num_proc=1, max_seconds=12.0, max_image_columns=80, eval_excerpts=2,
            codec_minutes=0.3, codec_max_steps=8, i2a_steps=6, a2i_steps=6, i2a_minutes=1.0, a2i_minutes=1.0,
            batch_size=2, budget_minutes=4.0, max_new_tokens=48, spectral_codec_frames=4_000,
        )
        return replace(base, **overrides)
