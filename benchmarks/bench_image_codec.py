"""Image codec speed (system images encoded/decoded per second) and, optionally, reconstruction quality.

    python benchmarks/bench_image_codec.py [--width 1024] [--batch 4] [--repeats 3] [--threads N]
        [--checkpoint umust-codecs/image --data CORPUS_DIR [--png comparison.png]]

Writes ``benchmarks/results/image_codec.json``. Speed does not depend on the weights, so
randomly initialised codecs are timed on `(batch, 1, 192, width)` inputs (one normalised system
is 192 px tall; 1024 px is a typical system width); one warm-up call precedes the timed ones and
the median of ``--repeats`` is reported, with the process CPU time beside the wall time because
the machine may be shared. With ``--checkpoint`` and ``--data`` it also reports held-out PSNR of
an untrained codec of the same config, the trained codec and an all-white prediction, and writes
a comparison PNG (rows: original / untrained / trained, per held-out system).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine_facts

from umust_hf import UMustImageCodec, UMustImageCodecConfig
from umust_hf.io_utils import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "image_codec.json"


def _median_times(fn, repeats: int) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds of ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def bench_speed(preset: str, width: int, batch: int, repeats: int) -> dict:
    config = getattr(UMustImageCodecConfig, preset)()
    torch.manual_seed(0)
    codec = UMustImageCodec(config).eval()
    pixels = torch.rand(batch, 1, config.image_height, width) * 2 - 1
    with torch.inference_mode():
        codes = codec.encode(pixels)  # warm-up
        codec.decode(codes)
        encode_wall, encode_cpu = _median_times(lambda: codec.encode(pixels), repeats)
        decode_wall, decode_cpu = _median_times(lambda: codec.decode(codes), repeats)
    return {
        "preset": preset,
        "parameters_millions": round(sum(p.numel() for p in codec.parameters()) / 1e6, 3),
        "latent_dim": config.latent_dim,
        "codebooks": f"{config.num_codebooks} x {config.codebook_size}",
        "input_shape": list(pixels.shape),
        "codes_shape": list(codes.shape),
        "encode_seconds": round(encode_wall, 3),
        "encode_cpu_seconds": round(encode_cpu, 3),
        "decode_seconds": round(decode_wall, 3),
        "decode_cpu_seconds": round(decode_cpu, 3),
        "encode_images_per_second": round(batch / encode_wall, 3),
        "decode_images_per_second": round(batch / decode_wall, 3),
    }


def bench_quality(checkpoint: Path, data: Path, png: Path | None, max_width: int) -> dict:
    from PIL import Image

    from umust_hf.training.image_codec_trainer import (
        load_system_images,
        reconstruction_psnr,
    )

    _, heldout = load_system_images(data)
    if not heldout:
        raise SystemExit(f"{data} has no held-out images")
    heldout = [image[:, :max_width] for image in heldout]
    trained = UMustImageCodec.from_pretrained(checkpoint).eval()
    torch.manual_seed(0)
    untrained = UMustImageCodec(trained.config).eval()
    white = float(np.mean([10 * np.log10(1.0 / max(np.mean((1.0 - image) ** 2), 1e-10)) for image in heldout]))
    summary_path = checkpoint / "training_summary.json"
    result = {
        "checkpoint": str(checkpoint),
        "heldout_images": len(heldout),
        "heldout_max_width": max_width,
        "psnr_db_all_white": round(white, 2),
        "psnr_db_untrained": round(reconstruction_psnr(untrained, heldout), 2),
        "psnr_db_trained": round(reconstruction_psnr(trained, heldout), 2),
        "training": json.loads(summary_path.read_text()) if summary_path.is_file() else None,
    }
    if png is not None:
        rows = []
        with torch.inference_mode():
            for image in heldout[:3]:
                width = -(-image.shape[1] // 16) * 16
                canvas = np.ones((image.shape[0], width), np.float32)
                canvas[:, : image.shape[1]] = image
                pixels = torch.from_numpy(canvas)[None, None] * 2 - 1
                for model in (None, untrained, trained):
                    out = pixels if model is None else model.decode(model.encode(pixels))
                    rows.append(((out[0, 0].numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8))
        gap = 6
        sheet = np.full((len(rows) * (192 + gap), max(r.shape[1] for r in rows)), 160, np.uint8)
        for index, row in enumerate(rows):
            sheet[index * (192 + gap) : index * (192 + gap) + 192, : row.shape[1]] = row
        png.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(png)
        result["comparison_png"] = str(png)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024, help="system width in pixels (multiple of 16)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"], choices=["cpu", "paper"])
    parser.add_argument("--checkpoint", type=Path, default=None, help="trained codec directory (quality section)")
    parser.add_argument("--data", type=Path, default=None, help="corpus or image folder for held-out quality")
    parser.add_argument("--png", type=Path, default=None, help="comparison PNG (default: CHECKPOINT/comparison.png)")
    parser.add_argument("--quality-max-width", type=int, default=1024)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {**machine_facts("image codec encode/decode throughput (192-px system images per second, higher is faster)"), "repeats": args.repeats, "results": []}
    for preset in args.presets:
        row = bench_speed(preset, args.width, args.batch, args.repeats)
        print(json.dumps(row))
        results["results"].append(row)
    if args.checkpoint is not None:
        if args.data is None:
            parser.error("--checkpoint needs --data")
        png = args.png or args.checkpoint / "comparison.png"
        results["quality"] = bench_quality(args.checkpoint, args.data, png, args.quality_max_width)
        print(json.dumps(results["quality"]))
    atomic_write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
