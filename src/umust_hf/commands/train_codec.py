"""``umust train-codec``: train the score-image (RQ-VAE) or audio (DAC) codec on a corpus."""

from __future__ import annotations

import argparse
import json

from ..errors import UserError

HELP = "train the image (RQ-VAE) or audio (DAC, or the spectral k-means) codec and save it with save_pretrained (resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--modality", required=True, choices=["image", "audio"], help="which codec to train")
    parser.add_argument("--data", required=True, help="embedded corpus directory or a folder of images / audio files")
    parser.add_argument("--out", required=True, help="output directory (resumes from OUT/checkpoint if present)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget in minutes")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this many optimiser steps in total")
    parser.add_argument("--preset", choices=["cpu", "paper", "cpu_spectral"], default="cpu",
                        help="codec size (default: %(default)s); cpu_spectral (audio only): residual k-means over "
                             "log-mel frames, decoded by Griffin-Lim, fitted in minutes (needs neither budget flag)")
    parser.add_argument("--features", choices=["mel", "stft"], default="mel",
                        help="with --preset cpu_spectral: the frames quantised, 128-band log-mel or 512-bin "
                             "log-STFT (default: %(default)s)")
    parser.add_argument("--bands", action="store_true",
                        help="with --preset cpu_spectral: one frequency band per codebook (product quantisation) "
                             "instead of residual codebooks over whole frames")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    if args.preset != "cpu_spectral" and (args.bands or args.features != "mel"):
        raise UserError("--features and --bands choose the spectral codec's frames; use them with --preset cpu_spectral")
    if args.preset == "cpu_spectral":
        if args.modality != "audio":
            raise UserError("--preset cpu_spectral is an audio codec; use it with --modality audio")
        from ..training.spectral_codec_trainer import train_spectral_audio_codec  # heavy: torch, transformers

        from ..modeling.configuration_spectral_audio_codec import (  # heavy: transformers
            DEFAULT_BAND_EDGES,
            UMustSpectralAudioCodecConfig,
        )

        config = UMustSpectralAudioCodecConfig.cpu_spectral(
            features=args.features, band_edges=DEFAULT_BAND_EDGES[args.features] if args.bands else None)
        summary = train_spectral_audio_codec(args.data, args.out, seed=args.seed, show_progress=not args.no_progress,
                                             config=config)
        print(json.dumps(summary, indent=2, default=str))
        return 0
    if args.max_steps is None and args.minutes is None:
        raise UserError("give --max-steps N or --minutes M (or both) so that training stops")
    kwargs = dict(
        max_steps=args.max_steps,
        minutes=args.minutes,
        seed=args.seed,
        show_progress=not args.no_progress,
        config=args.preset,
    )
    if args.modality == "image":
        from ..training.image_codec_trainer import train_image_codec  # heavy: torch, transformers, vector_quantize_pytorch

        summary = train_image_codec(args.data, args.out, **kwargs)
    else:
        from ..training.audio_codec_trainer import train_audio_codec  # heavy: torch, transformers, mir_eval, ...

        summary = train_audio_codec(args.data, args.out, **kwargs)
    print(json.dumps(summary, indent=2, default=str))
    return 0
