"""Generated frames per second: UMust (cached vs uncached) beside transformers' MusicGen decoder.

For each configuration (``tiny`` and a paper preset by default) the script builds, with random
weights and no download:

* ``UMustForConditionalGeneration`` and times ``generate()`` audio -> audio (4 codebooks per
  frame, the sub-decoder runs 4 slots per frame) with and without the KV cache;
* ``MusicgenForCausalLM`` with the same width, depth, heads and feed-forward width, 4 codebooks
  and cross-attention over an encoder state of the same length, timed with and without its cache.
  MusicGen predicts its 4 codebooks in parallel with a delay pattern, so it runs K - 1 extra
  steps to complete the same number of frames (counted in its time); it has no encoder, so only
  UMust's times include the encoder pass.

frames/s = batch x generated frames / wall seconds (best of ``--repeats`` after a warm-up); also
per CPU second of this process, which other processes on a shared machine disturb less.
Writes ``benchmarks/results/generation.json`` (atomically).

    python benchmarks/bench_generation.py                     # tiny + amt_a2i on CPU
    python benchmarks/bench_generation.py --device cuda --paper-frames 64
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

RESULTS = Path(__file__).resolve().parent / "results" / "generation.json"


def best_time(run: Callable[[], Any], repeats: int, device: torch.device) -> tuple[float, float]:
    """Best wall time and best process CPU time of ``run`` over ``repeats`` calls after a warm-up.

    On a shared CPU the process time (this process's own CPU seconds) is the steadier figure.
    """
    run()
    walls, cpus = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def rates(frames: int, seconds: tuple[float, float]) -> dict[str, float]:
    wall, cpu = seconds
    return {"seconds": wall, "frames_per_second": frames / wall, "cpu_seconds": cpu, "frames_per_cpu_second": frames / cpu}


def bench_umust(preset: str, batch: int, source_len: int, frames: int, repeats: int, device: torch.device,
                dtype: torch.dtype) -> dict[str, Any]:
    from umust_hf import UMustConfig, UMustForConditionalGeneration
    from umust_hf.vocabulary import EOS_ID

    torch.manual_seed(0)
    config = UMustConfig.from_preset(preset)
    model = UMustForConditionalGeneration(config).to(device=device, dtype=dtype).eval()
    codes = torch.randint(0, config.audio_codebook_size, (batch, source_len, config.num_codebooks))
    source = torch.stack([torch.from_numpy(config.vocabulary.to_bundle(c.numpy(), "audio")) for c in codes]).to(device)
    result: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters())}
    for use_cache in (True, False):
        def run() -> torch.Tensor:
            out = model.generate(source, source_modality="audio", target_modality="audio", max_new_tokens=frames,
                                 suppress_tokens=[EOS_ID], use_cache=use_cache)
            assert out.shape == (batch, frames + 1, config.num_codebooks), out.shape
            return out

        result["cached" if use_cache else "uncached"] = rates(batch * frames, best_time(run, repeats, device))
    return result


def bench_musicgen(preset: str, batch: int, source_len: int, frames: int, repeats: int, device: torch.device,
                   dtype: torch.dtype) -> dict[str, Any]:
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

    from umust_hf import UMustConfig

    reference = UMustConfig.from_preset(preset)
    torch.manual_seed(0)
    config = MusicgenDecoderConfig(
        vocab_size=reference.audio_codebook_size, hidden_size=reference.d_model,
        num_hidden_layers=reference.decoder_layers, num_attention_heads=reference.decoder_attention_heads,
        ffn_dim=reference.decoder_ffn_dim, num_codebooks=reference.num_codebooks,
        max_position_embeddings=max(2048, frames + 8), dropout=0.0, add_cross_attention=True,
        pad_token_id=reference.audio_codebook_size, bos_token_id=reference.audio_codebook_size,
    )
    model = MusicgenForCausalLM(config).to(device=device, dtype=dtype).eval()
    start = torch.full((batch * config.num_codebooks, 1), config.bos_token_id, dtype=torch.long, device=device)
    encoder_hidden_states = torch.randn(batch, source_len, reference.d_model, device=device, dtype=dtype)
    result: dict[str, Any] = {"parameters": sum(p.numel() for p in model.parameters()),
                              "head_dim": reference.d_model // reference.decoder_attention_heads}
    for use_cache in (True, False):
        def run() -> torch.Tensor:
            # the delay pattern needs K - 1 extra steps to complete `frames` frames
            steps = frames + config.num_codebooks - 1
            out = model.generate(start, encoder_hidden_states=encoder_hidden_states, max_new_tokens=steps,
                                  do_sample=False, use_cache=use_cache,
                                  pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id,
                                  decoder_start_token_id=config.bos_token_id, num_return_sequences=1, num_beams=1)
            # no EOS in this config: every row runs the full length
            assert out.shape == (batch, config.num_codebooks, frames), out.shape
            return out

        result["cached" if use_cache else "uncached"] = rates(batch * frames, best_time(run, repeats, device))
    return result


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as handle:
        json.dump(payload, handle, indent=2)
        handle.write("\n")
    os.replace(handle.name, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--paper-preset", default="amt_a2i")
    parser.add_argument("--tiny-frames", type=int, default=64)
    parser.add_argument("--tiny-source", type=int, default=64)
    parser.add_argument("--paper-frames", type=int, default=8)
    parser.add_argument("--paper-source", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    runs = [("tiny", args.tiny_source, args.tiny_frames), (args.paper_preset, args.paper_source, args.paper_frames)]
    results = []
    for preset, source_len, frames in runs:
        common = (preset, args.batch, source_len, frames, args.repeats, device, dtype)
        entry = {"preset": preset, "batch": args.batch, "source_frames": source_len, "new_frames": frames,
                 "umust": bench_umust(*common), "musicgen_decoder": bench_musicgen(*common)}
        print(json.dumps(entry))
        results.append(entry)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    write_json(args.output, {
        "what": "generated frames per second (4 codebooks per frame), random weights",
        "device": args.device, "device_name": device_name, "dtype": args.dtype, "threads": args.threads,
        "torch": torch.__version__, "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": os.getloadavg()[0],  # other processes sharing the CPU skew the figures
        "results": results,
    })


if __name__ == "__main__":
    main()
