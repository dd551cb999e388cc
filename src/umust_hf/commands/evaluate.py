"""``umust evaluate``: score predictions or a model and print the paper's Tables 3-7."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.tasks import REPORT_ORDER
from ..errors import UserError

HELP = "evaluate a model or a predictions file (SER, note F1, DTW-F1, FAD, EMD) in the paper's table layouts"

TASK_CHOICES = REPORT_ORDER


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=TASK_CHOICES, help="task to evaluate (default: every task)")
    parser.add_argument("--model", metavar="DIR", help="trained U-MUST model directory (needs --data)")
    parser.add_argument(
        "--processor", metavar="DIR", help="saved UMustProcessor for --model (default: the model directory)"
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        metavar="N",
        help="cap on generated tokens per output (default: the model's limits)",
    )
    parser.add_argument(
        "--multi-stage",
        choices=("soundfont", "model"),
        help="with --model, also score Table 3's multi-stage baseline: the model's OMR -> performance MIDI -> "
        "audio from the SoundFont or the model's MIDI-to-audio task",
    )
    parser.add_argument("--data", metavar="DIR", help="dataset saved with save_to_disk (e.g. the embedded corpus)")
    parser.add_argument("--split", default="test", help="dataset split (default: %(default)s)")
    parser.add_argument("--limit", type=int, metavar="N", help="evaluate at most N examples per task")
    parser.add_argument(
        "--predictions",
        action="append",
        metavar="[METHOD=]FILE",
        help="JSONL of gold/pred rows (layout: umust_hf.evaluation.predictions); "
        "repeat to compare methods as table rows",
    )
    parser.add_argument(
        "--baseline",
        action="append",
        choices=("random-pairing", "ground-truth"),
        help="score a model-free reference on --data: each excerpt against another one (chance level) "
        "or against itself (best values); repeatable",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random pairing (default: %(default)s)")
    parser.add_argument("--method", help="row label for --model (default: the model directory name)")
    parser.add_argument("--dataset", help="dataset label for the column headers (default: the --data name, or 'test')")
    parser.add_argument(
        "--transcriber",
        metavar="basic-pitch|DIR",
        help="what turns generated audio into notes for the DTW onset F1 of m2a/i2a: 'basic-pitch' (the default "
        "when installed; independent of the model, as the paper's Onsets and Frames) or a saved U-MUST model "
        "directory (its AMT task)",
    )
    parser.add_argument(
        "--omr-reader",
        metavar="DIR",
        help="U-MUST model whose OMR reads generated images back (pred_image rows of --predictions) for the "
        "token EMD of l2i/a2i (default: --model, if given)",
    )
    parser.add_argument(
        "--peer",
        action="append",
        choices=("basic-pitch",),
        help="with --data, also score an external AMT system on the same excerpts with the same note-F1 code "
        "(a row beside the trained model's)",
    )
    parser.add_argument(
        "--fad-codec",
        metavar="DIR",
        help="FAD embedding: encoder latents of this saved audio codec (default: the weight-free log-mel embedding)",
    )
    parser.add_argument(
        "--save-predictions",
        metavar="JSONL",
        help="also save the gold/pred rows scored from --model or --baseline (audio as WAV beside it), "
        "to re-score later with --predictions",
    )
    parser.add_argument(
        "--out", metavar="JSON", default="umust-evaluation.json", help="JSON report (default: %(default)s)"
    )


def _parse_prediction_arg(value: str) -> tuple[str, Path]:
    method, sep, path = value.partition("=")
    if sep and method and not Path(value).exists():
        return method, Path(path)
    return Path(value).stem, Path(value)


def _fad_embedding(codec_dir: str | None):
    """The FAD embedding: a saved codec's encoder latents, or None for the log-mel default."""
    if codec_dir is None:
        return None
    from ..evaluation.fad import CodecLatentEmbedding  # heavy: scipy
    from ..modeling.modeling_audio_codec import UMustAudioCodec  # heavy: torch, transformers

    if not Path(codec_dir).is_dir():
        raise UserError(f"--fad-codec: directory not found: {codec_dir}")
    try:
        codec = UMustAudioCodec.from_pretrained(codec_dir)
    except (OSError, ValueError) as error:
        raise UserError(f"--fad-codec: {codec_dir} is not a saved audio codec ({error})") from None
    return CodecLatentEmbedding(codec)


def _load_runner(model_dir: str | Path, args: argparse.Namespace):
    """A ``ModelRunner`` of the saved model in ``model_dir`` (with ``--processor`` and ``--max-new-tokens``)."""
    from ..evaluation.generation import ModelRunner  # heavy: torch, transformers
    from ..translation import UMustTranslator  # heavy: torch, transformers

    if not Path(model_dir).is_dir():
        raise UserError(f"model directory not found: {model_dir}")
    translator = UMustTranslator.from_pretrained(model_dir, processor_dir=args.processor)
    return ModelRunner(translator, max_new_tokens=args.max_new_tokens)


def _transcriber(args: argparse.Namespace, *, needed: bool):
    """The transcriber of the audio rows: ``--transcriber``, else basic-pitch when installed, else None
    (the audio rows then carry ``transcriber: null`` and say what to install)."""
    from ..evaluation.transcribers import default_transcriber, load_transcriber  # heavy: torch, transformers

    if args.transcriber:
        return load_transcriber(args.transcriber, load_runner=lambda model_dir: _load_runner(model_dir, args))
    return default_transcriber() if needed else None


def _peer_results(args: argparse.Namespace, transcriber, dataset: str) -> list:
    """``--peer basic-pitch``: the external transcriber's AMT rows on ``--data``, scored as a model's are."""
    from ..evaluation.baselines import load_split, peer_rows  # heavy: torch, transformers
    from ..evaluation.scoring import score_rows  # heavy: scipy, mir_eval, tqdm
    from ..evaluation.transcribers import BASIC_PITCH, load_transcriber  # heavy: torch, transformers

    if not args.data:
        raise UserError("--peer needs --data DIR (the excerpts it transcribes)")
    if args.task not in (None, "amt"):
        raise UserError(f"--peer scores an AMT system; it has no {args.task} row (use --task amt or no --task)")
    results = []
    for name in dict.fromkeys(args.peer):
        peer = transcriber if getattr(transcriber, "name", None) == name else load_transcriber(BASIC_PITCH)
        examples = load_split(args.data, args.split, args.limit, ("midi", "audio"))
        rows = peer_rows(examples, peer, source=f"{args.data}[{args.split}]")
        results.append(score_rows(rows, task="amt", method=f"{name} (peer)", dataset=dataset))
    return results


def run(args: argparse.Namespace) -> int:
    from ..evaluation.baselines import TASK_COLUMNS, baseline_rows, load_split  # heavy: torch, transformers
    from ..evaluation.generation import predict_with_model  # heavy: torch, transformers
    from ..evaluation.predictions import read_predictions, write_predictions  # heavy: torch, transformers
    from ..evaluation.scoring import score_rows  # heavy: scipy, mir_eval, tqdm
    from ..evaluation.tables import render_tables, results_to_json, write_json_atomic  # heavy: torch, transformers

    if args.limit is not None and args.limit < 1:
        raise UserError(f"--limit must be at least 1, got {args.limit}")
    if not args.predictions and not args.model and not args.baseline:
        raise UserError("give --predictions FILE, --baseline NAME with --data DIR, or --model DIR with --data DIR")
    embedding = _fad_embedding(args.fad_codec)
    dataset = args.dataset or (Path(args.data).name if args.data else "test")
    tasks = [args.task] if args.task else list(TASK_CHOICES)
    runner = reader = None
    if args.model or args.omr_reader:
        if args.model:
            runner = _load_runner(args.model, args)
        reader = _load_runner(args.omr_reader, args) if args.omr_reader else runner
    transcriber = _transcriber(args, needed=bool({"m2a", "i2a"} & set(tasks)) or bool(args.peer))
    reader_kwargs = {"transcriber": transcriber, "omr": reader.read_notation if reader else None}
    results = []
    # rows for --save-predictions: one method only, so that the file re-scores as one table row
    # (the model's direct outputs, else the first baseline's)
    saved_model, saved_baseline = [], []
    for value in args.predictions or []:
        method, path = _parse_prediction_arg(value)
        rows = read_predictions(path, task=args.task)
        if not rows:
            raise UserError(f"{path}: no rows" + (f" for task {args.task}" if args.task else ""))
        for task in TASK_CHOICES:
            task_rows = [row for row in rows if row.task == task][: args.limit]
            if task_rows:
                results.append(
                    score_rows(
                        task_rows, task=task, method=method, dataset=dataset, embedding=embedding, **reader_kwargs
                    )
                )
    if args.baseline:
        if not args.data:
            raise UserError("--baseline needs --data DIR (a saved DatasetDict such as the embedded corpus)")
        columns = sorted({column for task in tasks for column in TASK_COLUMNS[task]})
        examples = load_split(args.data, args.split, args.limit, columns)
        for kind in args.baseline:
            for task in tasks:
                rows = baseline_rows(examples, task, kind=kind, seed=args.seed, source=f"{args.data}[{args.split}]")
                saved_baseline += rows if kind == args.baseline[0] else []
                results.append(score_rows(rows, task=task, method=kind, dataset=dataset, embedding=embedding,
                                          transcriber=transcriber))
    if args.peer:
        results += _peer_results(args, transcriber, dataset)
    if args.model:
        if not args.data:
            raise UserError("--model needs --data DIR (a saved DatasetDict such as the embedded corpus)")
        method = args.method or Path(args.model).name
        for task in [args.task] if args.task else TASK_CHOICES:
            rows = predict_with_model(runner, args.data, task=task, split=args.split, limit=args.limit)
            saved_model += rows
            results.append(score_rows(rows, task=task, method=method, dataset=dataset, embedding=embedding,
                                      transcriber=transcriber))
        if args.multi_stage and args.task in (None, "i2a"):
            rows = predict_with_model(runner, args.data, task="i2a", split=args.split, limit=args.limit,
                                      multi_stage=args.multi_stage)
            label = f"{method} multi-stage (OMR -> MIDI -> {args.multi_stage})"
            results.append(score_rows(rows, task="i2a", method=label, dataset=dataset, embedding=embedding,
                                      transcriber=transcriber))
    elif args.multi_stage:
        raise UserError("--multi-stage needs --model DIR (its OMR reads the score images)")
    if args.save_predictions:
        saved = saved_model or saved_baseline
        if not saved:
            raise UserError("--save-predictions needs --model or --baseline (a predictions file is already saved)")
        print(f"saved predictions to {write_predictions(saved, args.save_predictions)}")
    print(render_tables(results))
    out = write_json_atomic(args.out, results_to_json(results))
    print(f"\nwrote {out}")
    return 0
