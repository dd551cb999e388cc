"""Seconds per training step: the sliced-head loss (default) against the full masked-softmax head.

The loss of :class:`umust_hf.UMustForConditionalGeneration` scores each (target modality,
codebook) only against its own ids and runs the sub-decoder only where there are labels; the
reference computes the ``(B, T, K, V)`` logits over the whole unified vocabulary and takes the
cross-entropy there (``return_logits=True`` + ``loss_from_logits``): same loss, same gradients.
Random weights and random bundles; one optimiser step = forward + backward + AdamW.
Writes ``benchmarks/results/training.json`` (atomically).

    python benchmarks/bench_training.py                  # tiny preset on CPU, batch 8
    python benchmarks/bench_training.py --device cuda --preset omr_i2a_m2a --batch 4
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from _common import machine_facts
from umust_hf import UMustConfig, UMustForConditionalGeneration
from umust_hf.io_utils import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results" / "training.json"
#: (task, source modality, source length, target modality, target length): demo-sized examples
CASES = (("omr", "image", 448, "notation", 160), ("m2a", "midi", 200, "audio", 516),
         ("amt", "audio", 516, "midi", 200))


def random_bundles(config: UMustConfig, modality: str, batch: int, length: int, seed: int) -> torch.Tensor:
    """``(batch, length, K)`` random valid unified ids of ``modality`` (PAD in unused codebooks)."""
    vocabulary = config.vocabulary
    generator = torch.Generator().manual_seed(seed)
    if vocabulary.num_streams(modality) > 1:  # codec codes 0..size-1 in every codebook
        local = torch.randint(0, vocabulary.codebook_size(modality), (batch, length, vocabulary.num_codebooks),
                              generator=generator)
    else:  # tokenizer ids: 0..3 are the specials
        local = torch.randint(4, 4 + vocabulary.codebook_size(modality), (batch, length), generator=generator)
    return torch.stack([torch.from_numpy(vocabulary.to_bundle(row.numpy(), modality)) for row in local])


def step_seconds(model: UMustForConditionalGeneration, inputs: dict[str, Any], full: bool, steps: int) -> float:
    """Median wall seconds of one optimiser step over ``steps`` steps after a warm-up step."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):
        started = time.perf_counter()
        if full:
            out = model(**inputs, return_logits=True)
            target = torch.full((len(out.logits),), model.config.vocabulary.modality_index(inputs["target_modality"]),
                                device=out.logits.device)
            loss = model.loss_from_logits(out.logits, model._checked_labels(inputs["labels"], target))[0]
        else:
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return sorted(times[1:])[len(times[1:]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    config = UMustConfig.from_preset(args.preset, **{f"max_{m}_positions": 1024 for m in ("audio", "image", "notation", "midi")})
    model = UMustForConditionalGeneration(config).to(args.device).train()
    results = []
    for task, source, source_length, target, target_length in CASES:
        inputs = {
            "input_ids": random_bundles(config, source, args.batch, source_length, 0).to(args.device),
            "labels": random_bundles(config, target, args.batch, target_length, 1).to(args.device),
            "source_modality": source, "target_modality": target,
        }
        full, sliced = (step_seconds(model, inputs, full, args.steps) for full in (True, False))
        results.append({"task": task, "source": [source, source_length], "target": [target, target_length],
                        "full_head_seconds": round(full, 4), "sliced_seconds": round(sliced, 4),
                        "speedup": round(full / sliced, 2)})
        print(results[-1])
    payload = {"what": "seconds per optimiser step (forward + backward + AdamW), random weights and bundles",
               "preset": args.preset, "batch": args.batch, **machine_facts("training"), "results": results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(RESULTS, json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
