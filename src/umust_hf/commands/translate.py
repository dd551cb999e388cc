"""``umust omr|transcribe|synthesize|render|score2audio|audio2score``: translate one file with a trained model.

Each command is a :class:`TranslateCommand` (the CLI looks them up as ``translate:<NAME>``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class TranslateCommand:
    task: str
    HELP: str
    example: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("input", help="source file")
        parser.add_argument("output", help=f"output file (e.g. {self.example})")
        parser.add_argument("--model", required=True, help="a trained model directory (e.g. umust-i2a from `umust demo`)")
        parser.add_argument("--max-new-tokens", type=int, help="cap on generated frames (default: the model's limit)")
        decoding = parser.add_mutually_exclusive_group()
        decoding.add_argument("--sample", action="store_true",
                              help="sample (default for audio outputs, as the official U-MusT engine does)")
        decoding.add_argument("--greedy", action="store_true", help="greedy decoding (default for other outputs)")
        parser.add_argument("--temperature", type=float, default=1.0)
        parser.add_argument("--top-k", type=int)
        parser.add_argument("--top-p", type=float)
        parser.add_argument("--seed", type=int, default=0, help="seed of the sampled draws")

    def run(self, args: argparse.Namespace) -> int:
        from ..translation import UMustTranslator  # heavy: torch, transformers

        translator = UMustTranslator.from_pretrained(args.model)
        # the sampling options are dropped where the target is decoded greedily (translation.decoding_for)
        generate_kwargs = {"sampling_seed": args.seed, "temperature": args.temperature, "top_k": args.top_k,
                           "top_p": args.top_p}
        if args.sample or args.greedy:
            generate_kwargs["do_sample"] = args.sample
        if args.max_new_tokens:
            generate_kwargs["max_new_tokens"] = args.max_new_tokens
        written = translator.translate_file(self.task, args.input, args.output, **generate_kwargs)
        for path in written:
            print(f"wrote {path}")
        return 0


OMR = TranslateCommand("omr", "score image -> MusicXML (+ .lmx beside it): optical music recognition", "system.musicxml")
TRANSCRIBE = TranslateCommand("amt", "audio -> MIDI: automatic music transcription", "notes.mid")
SYNTHESIZE = TranslateCommand("m2a", "MIDI -> audio: synthesis", "performance.wav")
RENDER = TranslateCommand("l2i", "LMX or MusicXML -> score image: engraving", "system.png")
SCORE2AUDIO = TranslateCommand("i2a", "score image -> audio: play a score directly", "performance.wav")
AUDIO2SCORE = TranslateCommand("a2i", "audio -> score image: write down what you hear", "system.png")
