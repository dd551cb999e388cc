"""Audio codec speed: audio-seconds encoded/decoded per wall-clock second, DAC presets and the spectral codec.

    python benchmarks/bench_audio_codec.py [--seconds 10] [--repeats 2] [--threads N]

Writes ``benchmarks/results/audio_codec.json``. Speed does not depend on the weights, so
randomly initialised codecs are timed; one warm-up call precedes the timed ones, and the
median of ``--repeats`` calls is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from _common import machine_facts

from umust_hf import UMustAudioCodec, UMustAudioCodecConfig, UMustSpectralAudioCodec, UMustSpectralAudioCodecConfig
from umust_hf.modeling.configuration_spectral_audio_codec import DEFAULT_BAND_EDGES
from umust_hf.io_utils import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results" / "audio_codec.json"


def _median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: spectral presets timed beside DAC's (the centroids' values do not change the speed)
SPECTRAL_PRESETS = {
    "cpu_spectral": {},
    "cpu_spectral_stft_bands": {"features": "stft", "band_edges": DEFAULT_BAND_EDGES["stft"]},
}


def make_codec(preset: str):
    torch.manual_seed(0)
    if preset in SPECTRAL_PRESETS:
        codec = UMustSpectralAudioCodec(UMustSpectralAudioCodecConfig.cpu_spectral(**SPECTRAL_PRESETS[preset]))
        with torch.no_grad():
            codec.codebooks.normal_(-40.0, 20.0)
        return codec.eval()
    return UMustAudioCodec(getattr(UMustAudioCodecConfig, preset)()).eval()


def bench(preset: str, seconds: float, repeats: int) -> dict:
    codec = make_codec(preset)
    config = codec.config
    samples = int(seconds * config.sampling_rate)
    audio = 0.1 * torch.randn(1, 1, samples)
    with torch.inference_mode():
        codes = codec.encode(audio[..., : config.sampling_rate])  # warm-up (also compiles DAC's scripted Snake)
        codec.decode(codes)
        codes = codec.encode(audio)
        encode_s = _median_seconds(lambda: codec.encode(audio), repeats)
        decode_s = _median_seconds(lambda: codec.decode(codes), repeats)
    return {
        "preset": preset,
        "parameters_millions": round(sum(p.numel() for p in codec.parameters()) / 1e6, 3),
        "encoder_dim": getattr(config, "encoder_dim", None),
        "decoder_dim": getattr(config, "decoder_dim", None),
        "audio_seconds": seconds,
        "frames": codes.shape[1],
        "encode_seconds": round(encode_s, 3),
        "decode_seconds": round(decode_s, 3),
        "encode_audio_seconds_per_second": round(seconds / encode_s, 3),
        "decode_audio_seconds_per_second": round(seconds / decode_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the timed audio")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"], choices=["cpu", "paper", *SPECTRAL_PRESETS])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {**machine_facts("audio codec encode/decode throughput (audio-seconds per second, higher is faster)"), "repeats": args.repeats, "results": []}
    for preset in args.presets:
        row = bench(preset, args.seconds, args.repeats)
        print(json.dumps(row))
        results["results"].append(row)
    atomic_write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
