"""Keep DAC's residual codebooks in use: data-driven initialisation and dead-code restarts.

Why this exists: descript-audio-codec's ``VectorQuantize`` picks, for each frame, the codebook
row with the highest cosine similarity to the frame's projected latent (``in_proj`` output,
``codebook_dim`` 8) and learns the codebook only through the codebook loss of the rows it picks.
Rows start as standard-normal noise while a freshly initialised encoder's latents fill a narrow
cone, so a handful of rows win every lookup and the rest never get a gradient: a CPU codec trained
for minutes uses a few of its 1024 codes per codebook, which leaves the audio tokens almost
nothing to say. Restarts alone fix that (figures in ``docs/experiments.md``); k-means seeding is kept as an option (the trainer's
``codebook_init_frames``), off by default because it measured worse reconstruction onsets. The usual cures (SoundStream's k-means initialisation and dead-code
restarts, also what ``vector-quantize-pytorch`` does for our image codec) are applied here from
outside dac's package, to the ``VectorQuantize`` modules as they are:

* :meth:`CodebookRevival.initialise`: stage by stage (each stage sees the residual the earlier
  stages leave), spherical k-means (``vector_quantize_pytorch``'s ``kmeans``) over projected
  latents of real audio; each row becomes the mean of the *raw* latents of its cluster, so the
  lookup direction and the decoded magnitude both match the data.
* :meth:`CodebookRevival.observe` and :meth:`CodebookRevival.revive`: count training steps since
  each code was last picked and keep a ring buffer of recent projected latents per stage; codes
  unused for ``dead_after`` steps are replaced by random buffered latents of their own stage
  (and their Adam moments are cleared, so stale momentum does not drag them off again).

All state (counters, buffers, its own random generator) is in :meth:`state_dict`, so a resumed
run continues exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def _sample_rows(samples: torch.Tensor, num: int, generator: torch.Generator) -> torch.Tensor:
    """``num`` rows of ``samples (N, D)``: without replacement when there are enough, else with."""
    if samples.shape[0] >= num:
        index = torch.randperm(samples.shape[0], generator=generator)[:num]
    else:
        index = torch.randint(0, samples.shape[0], (num,), generator=generator)
    return samples[index]


class CodebookRevival:
    """Initialise and revive the codebooks of dac ``VectorQuantize`` stages.

    Args:
        quantizers: the residual stages in order (``codec.dac.quantizer.quantizers[:K]``).
        dead_after: a code not picked in this many consecutive training steps counts as dead.
        buffer_size: recent projected latents remembered per stage (the pool for restarts).
        seed: seeds the generator used for k-means starts and restart draws.
    """

    def __init__(self, quantizers: Sequence[nn.Module], *, dead_after: int = 50, buffer_size: int = 4096, seed: int = 0):
        if dead_after <= 0 or buffer_size <= 0:
            raise ValueError(f"dead_after and buffer_size must be positive, got {dead_after} / {buffer_size}")
        self.quantizers = list(quantizers)
        self.dead_after = int(dead_after)
        self.buffer_size = int(buffer_size)
        first = self.quantizers[0].codebook.weight
        num, size, dim = len(self.quantizers), first.shape[0], first.shape[1]
        #: ``(K, codebook_size)`` training steps since each code was last picked.
        self.steps_unused = torch.zeros(num, size, dtype=torch.long)
        #: ``(K, buffer_size, codebook_dim)`` ring buffer of recent projected latents per stage.
        self.buffer = torch.zeros(num, self.buffer_size, dim)
        self.buffer_fill = 0
        self.buffer_next = 0
        self.revived_total = torch.zeros(num, dtype=torch.long)
        self.generator = torch.Generator().manual_seed(int(seed))

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialise(self, latents: torch.Tensor, kmeans_iters: int = 10) -> None:
        """Seed every codebook from ``latents``, the encoder output ``(B, latent_dim, T)`` of real audio.

        Stage ``k`` clusters ``in_proj_k`` of the residual left by stages ``< k`` after they were
        seeded, exactly what it will see in a forward pass.
        """
        from vector_quantize_pytorch.vector_quantize_pytorch import kmeans  # heavy: vector_quantize_pytorch

        residual = latents.detach()
        for quantizer in self.quantizers:
            raw = quantizer.in_proj(residual).transpose(1, 2).reshape(-1, quantizer.codebook_dim)  # (B*T, d)
            unit = F.normalize(raw, dim=-1)
            size = quantizer.codebook_size
            means, _ = kmeans(unit[None], size, num_iters=kmeans_iters, use_cosine_sim=True,
                              sample_fn=lambda samples, num: _sample_rows(samples[0], num, self.generator)[None])
            assignment = (unit @ means[0].t()).argmax(dim=-1)  # (B*T,)
            counts = torch.bincount(assignment, minlength=size).to(raw.dtype)
            sums = torch.zeros(size, raw.shape[-1], dtype=raw.dtype).index_add_(0, assignment, raw)
            # empty clusters keep their k-means direction at the data's typical length
            fallback = means[0] * raw.norm(dim=-1).median()
            rows = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], fallback)
            quantizer.codebook.weight.copy_(rows)
            quantized, *_ = quantizer(residual)
            residual = residual - quantized
        self.steps_unused.zero_()

    # ------------------------------------------------------------------ during training
    @torch.no_grad()
    def observe(self, projected_latents: torch.Tensor, codes: torch.Tensor) -> None:
        """Record one training step.

        Args:
            projected_latents: ``(B, K * codebook_dim, T)`` (``UMustAudioCodecOutput.projected_latents``).
            codes: ``(B, T, K)`` codes picked in that step.
        """
        num = len(self.quantizers)
        dim = self.buffer.shape[-1]
        self.steps_unused += 1
        for k in range(num):
            self.steps_unused[k, codes[..., k].reshape(-1).cpu()] = 0
        frames = projected_latents.detach().float().cpu()
        frames = frames.reshape(frames.shape[0], num, dim, -1).permute(1, 0, 3, 2).reshape(num, -1, dim)  # (K, B*T, d)
        frames = frames[:, -self.buffer_size :]
        count = frames.shape[1]
        positions = (self.buffer_next + torch.arange(count)) % self.buffer_size
        self.buffer[:, positions] = frames
        self.buffer_next = int((self.buffer_next + count) % self.buffer_size)
        self.buffer_fill = min(self.buffer_fill + count, self.buffer_size)

    def dead_codes(self) -> torch.Tensor:
        """``(K, codebook_size)`` bool: codes unused for at least ``dead_after`` steps."""
        return self.steps_unused >= self.dead_after

    @torch.no_grad()
    def revive(self, optimizer: torch.optim.Optimizer | None = None) -> list[int]:
        """Replace dead codes by random recent latents of their stage; returns how many per codebook."""
        if self.buffer_fill == 0:
            return [0] * len(self.quantizers)
        dead = self.dead_codes()
        revived = []
        for k, quantizer in enumerate(self.quantizers):
            rows = dead[k].nonzero().flatten()
            revived.append(int(rows.numel()))
            if not rows.numel():
                continue
            pool = self.buffer[k, : self.buffer_fill]
            weight = quantizer.codebook.weight
            weight[rows] = _sample_rows(pool, rows.numel(), self.generator).to(weight)
            self.steps_unused[k, rows] = 0
            self.revived_total[k] += rows.numel()
            state = optimizer.state.get(weight, {}) if optimizer is not None else {}
            for moment in ("exp_avg", "exp_avg_sq"):
                if moment in state:
                    state[moment][rows.to(state[moment].device)] = 0
        return revived

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "steps_unused": self.steps_unused.clone(), "buffer": self.buffer.clone(),
            "buffer_fill": self.buffer_fill, "buffer_next": self.buffer_next,
            "revived_total": self.revived_total.clone(), "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        if tuple(state["buffer"].shape) != tuple(self.buffer.shape):
            raise ValueError(f"codebook revival state has buffer shape {tuple(state['buffer'].shape)}, expected {tuple(self.buffer.shape)}")
        self.steps_unused.copy_(state["steps_unused"])
        self.buffer.copy_(state["buffer"])
        self.buffer_fill, self.buffer_next = int(state["buffer_fill"]), int(state["buffer_next"])
        self.revived_total.copy_(state["revived_total"])
        self.generator.set_state(state["generator"])


def code_statistics(codes: torch.Tensor, codebook_size: int) -> tuple[list[int], list[float]]:
    """Distinct codes and perplexity per codebook of ``codes (N, K)``.

    Perplexity is ``exp`` of the entropy of the code histogram: the number of equally likely codes
    with the same spread (1 = collapsed onto one code, ``codebook_size`` = perfectly uniform).
    """
    used, perplexity = [], []
    for k in range(codes.shape[-1]):
        counts = torch.bincount(codes[:, k].reshape(-1).long(), minlength=codebook_size).double()
        probs = counts[counts > 0] / counts.sum()
        used.append(int((counts > 0).sum()))
        perplexity.append(float(torch.exp(-(probs * probs.log()).sum())))
    return used, perplexity


__all__ = ["CodebookRevival", "code_statistics"]
