"""``umust demo`` end to end: corpus -> codecs -> processor -> bake -> I2A and A2I models -> six tasks
-> metrics against trivial baselines -> summary figure -> model cards.

Every stage writes atomically and is skipped when its outputs already exist, so a killed
demo resumes where it stopped (the codec and model trainers also resume mid-stage from
their checkpoints). Layout under ``out_dir``::

    umust-data/                      embedded corpus (reused when present)
    umust-codecs/image, audio/       CPU codecs
    umust-i2a/, umust-a2i/           models + processor + README.md model card
    umust-demo/                      preview.png, summary.png, alignment.png, metrics.md/.json, timings.json,
                                     omr/*.musicxml+.lmx, amt/*.mid, m2a/*.wav, i2a/*.wav, l2i/*.png, a2i/*.png
    umust-demo/work/                 short-excerpt subset, processor, baked task examples
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import safe_open

from ..data.embedded import build_embedded_corpus, write_preview
from ..data.embedded.builder import SUMMARY_FILE
from ..errors import UserError
from ..evaluation.baselines import peer_rows
from ..evaluation.generation import ModelRunner
from ..evaluation.source_reliance import source_reliance
from ..evaluation.transcribers import default_transcriber
from ..io_utils import atomic_write_json
from ..model_card import MetricResult, write_model_card
from ..training.recipe import load_recipe
from ..translation import UMustTranslator
from .figure import write_alignment_figure, write_summary_figure
from .heldout import score_heldout_amt, score_heldout_omr
from .paths import MODEL_DIRS, DemoPaths
from .settings import DemoSettings
from .step_plan import planned_seconds, step_seconds, steps_within

logger = logging.getLogger(__name__)

RECIPES = {"i2a": "demo_i2a", "a2i": "demo_a2i"}


@dataclass
class DemoResult:
    """What a run produced: stage timings, the metrics rows and table, the output files."""

    paths: DemoPaths
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    table: str = ""

    @property
    def total_seconds(self) -> float:
        return sum(stage["seconds"] for stage in self.stages.values())


class Stages:
    """Runs named stages, skipping those whose ``done`` check passes, and times each one into ``timings``."""

    def __init__(self, timings: dict[str, dict[str, Any]], say: Callable[[str], None]):
        self.timings, self.say = timings, say

    def run(self, name: str, done: Callable[[], bool], work: Callable[[], Any]) -> Any:
        started, cpu = time.perf_counter(), _cpu_seconds()
        if done():
            self.say(f"[{name}] outputs exist: skipped")
            self.timings[name] = {"seconds": 0.0, "cpu_seconds": 0.0, "status": "reused"}
            return None
        self.say(f"[{name}] running")
        value = work()
        seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
        self.timings[name] = {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1), "status": "ran"}
        self.say(f"[{name}] done in {seconds:.1f} s wall, {cpu:.1f} s CPU")
        return value


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (on a shared machine wall time overstates the work)."""
    import resource  # optional: resource (POSIX only)

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_demo(out_dir: str | Path = ".", settings: DemoSettings | None = None, *, fresh: bool = False,
             show_progress: bool = True, say: Callable[[str], None] = print) -> DemoResult:
    """Run (or resume) the whole demo under ``out_dir``; returns timings and metrics."""
    settings = settings or DemoSettings()
    paths = DemoPaths(Path(out_dir))
    paths.root.mkdir(parents=True, exist_ok=True)
    if fresh:
        for folder in (paths.codecs, paths.demo, paths.model("i2a"), paths.model("a2i")):
            shutil.rmtree(folder, ignore_errors=True)
    _check_settings(paths, settings)
    result = DemoResult(paths)
    stages = Stages(result.stages, say)
    deadline = time.monotonic() + 60 * settings.budget_minutes
    _configure_threads()

    stages.run("corpus", lambda: _corpus_ready(paths.corpus, settings.corpus_pieces),
               lambda: _build_corpus(paths, settings, show_progress))
    stages.run("preview", lambda: (paths.demo / "preview.png").is_file(), lambda: _preview(paths))
    stages.run("select excerpts", lambda: (paths.work / "excerpts" / "selection.json").is_file(),
               lambda: _select(paths, settings, say))
    for kind in ("image", "audio"):
        stages.run(f"{kind} codec", lambda kind=kind: _saved(paths.codecs / kind),
                   lambda kind=kind: _train_codec(kind, paths, settings, show_progress, say))
    stages.run("processor", lambda: (paths.work / "processor" / "processor_config.json").is_file(),
               lambda: _processor(paths))
    stages.run("bake", lambda: (paths.work / "baked" / "bake_summary.json").is_file(),
               lambda: _bake(paths, settings, show_progress, say))
    for direction in ("i2a", "a2i"):
        stages.run(f"train {direction.upper()}", lambda d=direction: (paths.model(d) / "recipe.json").is_file()
                   and (paths.model(d) / "processor_config.json").is_file(),
                   lambda d=direction: _train(d, paths, settings, say, deadline))
    stages.run("six tasks + metrics + figure",
               lambda: all((paths.demo / name).is_file()
                           for name in ("metrics.json", "metrics.md", "summary.png", "alignment.png")),
               lambda: _evaluate(paths, settings, show_progress))
    stages.run("model cards", lambda: _cards_current(paths), lambda: _model_cards(paths, result))
    result.table = (paths.demo / "metrics.md").read_text()
    result.metrics = json.loads((paths.demo / "metrics.json").read_text())["rows"]
    atomic_write_json(paths.demo / "timings.json", {"stages": result.stages, "total_seconds": round(result.total_seconds, 1),
                                                   "budget_minutes": settings.budget_minutes})
    return result


# ------------------------------------------------------------------------------------------ stages
def _configure_threads() -> None:
    """Use the machine's cores for torch, but never oversubscribe a small CPU."""
    import torch  # heavy: torch

    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))


def _check_settings(paths: DemoPaths, settings: DemoSettings) -> None:
    """Refuse to resume a run made with other settings (its stages would not fit together)."""
    check_saved_settings(paths.demo / "settings.json", settings.to_dict(), ignore=("budget_minutes",),
                         advice="rerun with the same options, or pass --fresh to start the demo over")


def check_saved_settings(saved: Path, current: dict[str, Any], *, advice: str, ignore: tuple[str, ...] = ()) -> None:
    """Refuse to resume in ``saved``'s folder when ``current`` differs from the settings saved there
    (except the ``ignore``d keys), else (re)write them."""
    if saved.is_file():
        before = json.loads(saved.read_text())
        changed = sorted(k for k in current if k not in ignore and before.get(k) != current[k])
        if changed:
            raise UserError(f"{saved.parent} was made with other settings ({', '.join(changed)} differ); {advice}")
    atomic_write_json(saved, current)


def _corpus_ready(corpus: Path, pieces: int) -> bool:
    summary = corpus / SUMMARY_FILE
    return (corpus / "dataset_dict.json").is_file() and summary.is_file() and json.loads(summary.read_text())["pieces"] >= pieces


def _build_corpus(paths: DemoPaths, settings: DemoSettings, show_progress: bool) -> None:
    build_corpus(paths.corpus, settings.corpus_pieces, seed=settings.seed, num_proc=settings.num_proc,
                 show_progress=show_progress)


def build_corpus(corpus: Path, pieces: int, *, seed: int, num_proc: int, show_progress: bool) -> None:
    """Build (or extend) the embedded corpus of ``pieces`` pieces in ``corpus`` and print its summary."""
    print(build_embedded_corpus(corpus, max_pieces=pieces, seed=seed, num_proc=num_proc,
                                show_progress=show_progress).format())


def _preview(paths: DemoPaths) -> None:
    write_preview(paths.corpus, paths.demo / "preview.png")


def _select(paths: DemoPaths, settings: DemoSettings, say: Callable[[str], None]) -> None:
    from .excerpt_examples import select_short_excerpts  # heavy: datasets

    sizes = select_short_excerpts(paths.corpus, paths.work / "excerpts", max_seconds=settings.max_seconds,
                                  max_train=settings.max_train_excerpts)
    say(f"  excerpts of at most {settings.max_seconds:g} s: {sizes}")


def _saved(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def _train_codec(kind: str, paths: DemoPaths, settings: DemoSettings, show_progress: bool, say: Callable[[str], None]) -> None:
    if settings.audio_codec not in ("spectral", "dac"):
        raise UserError(f"DemoSettings.audio_codec must be 'spectral' or 'dac', got {settings.audio_codec!r}")
    if kind == "audio" and settings.audio_codec == "spectral":
        fit_spectral_codec(paths.work / "excerpts", paths.codecs / kind, frames=settings.spectral_codec_frames,
                           seed=settings.seed, show_progress=show_progress, say=say)
        return
    if kind == "image":
        from ..training.image_codec_trainer import train_image_codec as train  # heavy: torch, transformers, vector_quantize_pytorch
    else:
        from ..training.audio_codec_trainer import train_audio_codec as train  # heavy: torch, transformers, mir_eval, ...
    summary = train(paths.work / "excerpts", paths.codecs / kind, max_steps=settings.codec_max_steps,
                    minutes=settings.codec_minutes, seed=settings.seed, show_progress=show_progress)
    numbers = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    say(f"  {kind} codec: {numbers}")


def fit_spectral_codec(excerpts: Path, out: Path, *, frames: int, seed: int, show_progress: bool,
                       say: Callable[[str], None]) -> None:
    """Fit the spectral audio codec (log-STFT bands, which keep the notes on a CPU: docs/codecs.md) on
    the ``excerpts`` DatasetDict and save it to ``out``."""
    from ..modeling.configuration_spectral_audio_codec import (  # heavy: transformers
        DEFAULT_BAND_EDGES,
        UMustSpectralAudioCodecConfig,
    )
    from ..training.spectral_codec_trainer import train_spectral_audio_codec  # heavy: torch, transformers

    config = UMustSpectralAudioCodecConfig.cpu_spectral(features="stft", band_edges=DEFAULT_BAND_EDGES["stft"])
    summary = train_spectral_audio_codec(excerpts, out, config=config, max_frames=frames, seed=seed,
                                         show_progress=show_progress)
    say(f"  audio codec (spectral): {({k: v for k, v in summary.items() if isinstance(v, (int, float))})}")


def _processor(paths: DemoPaths) -> None:
    from transformers import AutoModel  # heavy: transformers

    from ..modeling.modeling_image_codec import UMustImageCodec  # heavy: torch, transformers, vector_quantize_pytorch

    save_processor(paths.work / "processor", image_codec=UMustImageCodec.from_pretrained(paths.codecs / "image").eval(),
                   audio_codec=AutoModel.from_pretrained(paths.codecs / "audio").eval())  # DAC or spectral


def save_processor(folder: Path, *, image_codec: Any = None, audio_codec: Any = None) -> None:
    """A processor with the package's tokenizers and the given codecs, saved atomically (staged, then renamed)."""
    from ..processing.feature_extraction_umust import UMustFeatureExtractor  # heavy: transformers
    from ..processing.image_processing_umust import UMustImageProcessor  # heavy: torch, transformers
    from ..processing.processing_umust import UMustProcessor  # heavy: torch, transformers
    from ..processing.tokenization_lmx import LMXTokenizer  # heavy: transformers
    from ..processing.tokenization_midi import MidiTokenizer  # heavy: transformers

    processor = UMustProcessor(UMustImageProcessor(), UMustFeatureExtractor(), LMXTokenizer(), MidiTokenizer(),
                               image_codec=image_codec, audio_codec=audio_codec)
    staging = folder.parent / f".{folder.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    processor.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)


def _load_processor(paths: DemoPaths) -> Any:
    from ..processing.processing_umust import UMustProcessor  # heavy: torch, transformers

    return UMustProcessor.from_pretrained(paths.work / "processor")


def model_config(processor: Any, settings: DemoSettings, **overrides: Any) -> Any:
    """The tiny preset with the processor's vocabulary and position tables sized for the demo excerpts
    (``overrides``: further ``UMustConfig`` fields, e.g. a recipe's ``model`` block)."""
    from ..modeling.configuration_umust import UMustConfig  # heavy: transformers

    fields = ("notation_size", "midi_size", "image_codebook_size", "audio_codebook_size", "num_codebooks")
    vocabulary = {k: v for k, v in processor.vocabulary.items() if k in fields}
    # dropout 0.1: a hundred-odd training excerpts are seen ten times over in the demo's steps
    return UMustConfig.from_preset("tiny", **{**vocabulary, **settings.model_overrides(), "dropout": 0.1, **overrides})


def _bake(paths: DemoPaths, settings: DemoSettings, show_progress: bool, say: Callable[[str], None]) -> None:
    from .excerpt_examples import bake_excerpts  # heavy: datasets

    processor = _load_processor(paths)
    summary = bake_excerpts(paths.work / "excerpts", processor, paths.work / "baked",
                            config=model_config(processor, settings), show_progress=show_progress)
    say(f"  task examples per split: {summary['examples']}; over the position tables: {summary['too_long']}")


class _TimeLimit:
    """A ``TrainerCallback`` that stops training once ``minutes`` of wall time are spent."""

    def __new__(cls, minutes: float):
        from transformers import TrainerCallback  # heavy: transformers

        class TimeLimit(TrainerCallback):
            def __init__(self) -> None:
                self.deadline = time.monotonic() + 60 * minutes
                self.stopped_at: int | None = None

            def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001 - HF callback signature
                if time.monotonic() > self.deadline:
                    control.should_training_stop = True
                    control.should_save = True
                    self.stopped_at = state.global_step
                return control

        return TimeLimit()


def training_minutes(direction: str, settings: DemoSettings, minutes_left: float) -> float:
    """Wall-time cap of one model: its own cap, shrunk so that what comes after it (the A2I model after
    I2A, then the six tasks) still fits in the ``minutes_left`` of the budget; never under half a minute."""
    after = settings.eval_reserve_minutes + (settings.a2i_minutes if direction == "i2a" else 0.0)
    return max(0.5, min(settings.minutes_cap(direction), minutes_left - after))


def _train(direction: str, paths: DemoPaths, settings: DemoSettings, say: Callable[[str], None],
           deadline: float) -> None:
    import datasets  # heavy: datasets
    import torch  # heavy: torch

    from ..modeling.modeling_umust import UMustForConditionalGeneration  # heavy: torch, transformers
    from ..training.run import train_from_recipe  # heavy: torch, transformers

    recipe = load_recipe(RECIPES[direction])
    processor = _load_processor(paths)
    data = datasets.load_from_disk(str(paths.work / "baked"))
    tasks = set(recipe.curriculum.tasks)
    train = data["train"].filter(lambda task: task in tasks, input_columns="task")
    if not len(train):
        raise UserError(f"no {direction} training examples were baked ({sorted(tasks)}); build a larger corpus")
    torch.manual_seed(settings.seed)
    model = UMustForConditionalGeneration(model_config(processor, settings, **recipe.model))
    out = paths.model(direction)
    minutes = training_minutes(direction, settings, (deadline - time.monotonic()) / 60)
    limit = _TimeLimit(minutes)
    steps = settings.i2a_steps if direction == "i2a" else settings.a2i_steps
    planned = steps or recipe.training.get("max_steps")
    costs: dict[str, float] = {}
    plan_file = out / "step_plan.json"  # a resumed run keeps the plan its checkpoints were made with
    if steps is None and planned and plan_file.exists():
        plan = json.loads(plan_file.read_text())
        steps, costs = plan["steps"], plan["probe_step_seconds"]
    elif steps is None and planned:
        batch_size = settings.batch_size or recipe.training.get("per_device_train_batch_size", 4)
        costs = step_seconds(model, train, recipe.curriculum.tasks, batch_size)
        steps = steps_within(recipe.curriculum, planned, costs, minutes)
        atomic_write_json(plan_file, {"steps": steps, "probe_step_seconds": costs})
        if steps < planned:
            say(f"  {direction}: {planned} steps would take about {planned_seconds(recipe.curriculum, planned, costs) / 60:.1f} min "
                f"here; training {steps} within {minutes:.1f} min (the curriculum shrinks with them)")
    started = time.perf_counter()
    trainer = train_from_recipe(
        recipe, train, out, model=model, callbacks=[limit], max_steps=steps,
        per_device_train_batch_size=settings.batch_size, seed=settings.seed, disable_tqdm=False,
    )
    seconds = time.perf_counter() - started
    processor.save_pretrained(out)
    log = [entry for entry in trainer.state.log_history if "loss" in entry]
    info = {"steps": trainer.state.global_step, "planned_steps": planned, "scaled_steps": steps,
            "probe_step_seconds": {task: round(cost, 3) for task, cost in costs.items()},
            "minutes_allowed": round(minutes, 2),
            "stopped_by_time_limit": limit.stopped_at is not None, "seconds": round(seconds, 1),
            "examples": {t: sum(1 for x in train["task"] if x == t) for t in sorted(tasks)},
            "first_loss": log[0]["loss"] if log else None, "last_loss": log[-1]["loss"] if log else None}
    atomic_write_json(out / "demo_training.json", info)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)  # resumption is over; keep the folder pushable
    plan_file.unlink(missing_ok=True)
    say(f"  {direction}: {info}")


def _heldout_examples(paths: DemoPaths, settings: DemoSettings) -> list[dict[str, Any]]:
    """Held-out excerpts whose six task examples all fit the model: ``eval_excerpts`` of them, taken
    round-robin over pieces (each piece's first excerpt, then each one's second, ...) so that
    the metrics see as many pieces as possible."""
    import datasets  # heavy: datasets

    baked = datasets.load_from_disk(str(paths.work / "baked"))
    if "test" not in baked:
        raise UserError("no test excerpt fits the demo's position tables; build a larger corpus (--corpus-pieces)")
    tasks_of: dict[str, set[str]] = {}
    for row_id, task in zip(baked["test"]["id"], baked["test"]["task"]):
        tasks_of.setdefault(row_id, set()).add(task)
    complete = {row_id for row_id, tasks in tasks_of.items() if len(tasks) == 6}
    test = datasets.load_from_disk(str(paths.work / "excerpts"))["test"]
    complete_rows = [i for i, row_id in enumerate(test["id"]) if row_id in complete]
    pieces, taken = test["piece_id"], Counter()
    ranked = []
    for i in complete_rows:  # (how many of its piece's excerpts came before, row)
        ranked.append((taken[pieces[i]], i))
        taken[pieces[i]] += 1
    rows = [i for _, i in sorted(ranked)][: settings.eval_excerpts]
    if len(rows) < 2:
        raise UserError(f"only {len(rows)} test excerpt(s) have all six tasks within the position tables; "
                        "build a larger corpus (--corpus-pieces)")
    return [test[i] for i in rows]


def _evaluate(paths: DemoPaths, settings: DemoSettings, show_progress: bool) -> None:
    import datasets  # heavy: datasets

    from ..training.audio_codec_trainer import METRICS_FILE  # heavy: torch, transformers, mir_eval, ...
    from .report import write_metrics  # heavy: tqdm
    from .task_runs import PEER_SUFFIX, baseline_rows, run_tasks, score_all  # heavy: tqdm

    examples = _heldout_examples(paths, settings)
    i2a = ModelRunner(UMustTranslator.from_pretrained(paths.model("i2a")), max_new_tokens=settings.max_new_tokens)
    a2i = ModelRunner(UMustTranslator.from_pretrained(paths.model("a2i")), max_new_tokens=settings.max_new_tokens)
    # every task runs in batches; generated images are read by I2A right there, generated (and the baseline's)
    # audio is transcribed by an external transcriber (basic-pitch) when the rows are scored
    outputs = run_tasks(i2a, a2i, examples, paths.demo, show_progress=show_progress)
    excerpts = datasets.load_from_disk(str(paths.work / "excerpts"))
    base = baseline_rows(examples, excerpts["train"], seed=settings.seed)
    transcriber = default_transcriber()
    peers = {transcriber.name: peer_rows(examples, transcriber, source="peer")} if transcriber else {}
    results = score_all({t: o.rows for t, o in outputs.items()}, base, transcriber=transcriber, peer_rows=peers)
    baked_test = datasets.load_from_disk(str(paths.work / "baked"))["test"]
    # OMR and AMT are cheap from the baked tokens: score them on every held-out excerpt too, against the
    # same constant baselines (six excerpts leave a lot to luck)
    heldout = {
        "omr": (score_heldout_omr(baked_test, i2a.translator, base["omr"][0].fields["pred"], progress=show_progress,
                                  batch_size=i2a.batch_size), {"ser_all_heldout": "ser"}),
        "amt": (score_heldout_amt(baked_test, a2i.translator, base["amt"][0].fields["pred_notes"],
                                  progress=show_progress, batch_size=a2i.batch_size),
                {"onset_f1_all_heldout": "onset_f1", "onset_offset_f1_all_heldout": "onset_offset_f1"}),
    }
    peer_heldout = _peer_heldout_amt(excerpts["test"], baked_test, transcriber) if transcriber else {}
    for result in results:
        if result.task in heldout:
            scores, keys = heldout[result.task]
            if result.method.endswith(PEER_SUFFIX):
                scores = peer_heldout
            for key, score in keys.items():
                result.metrics[key] = scores[score if result.method == "trained" or scores is peer_heldout
                                             else f"baseline_{score}"]  # fmt: skip
                result.details[f"{key}_examples"] = scores["examples"]
    write_summary_figure({t: o.example for t, o in outputs.items()}, paths.demo / "summary.png")
    write_alignment_figure(_attention_maps(baked_test, {"i2a": i2a.model, "a2i": a2i.model}, examples[0]["id"]),
                           paths.demo / "alignment.png")
    codec_metrics = paths.codecs / "audio" / METRICS_FILE
    write_metrics(results, paths.demo, reliance=_reliance(baked_test, {"i2a": i2a.model, "a2i": a2i.model}, paths),
                  audio_codec=json.loads(codec_metrics.read_text()) if codec_metrics.is_file() else None)


def _peer_heldout_amt(excerpts: Any, baked_test: Any, transcriber: Any) -> dict[str, Any]:
    """The external transcriber's AMT figures on every held-out excerpt the models' are measured on (those
    with an AMT row in the baked ``test``), keyed as :func:`~.heldout.score_heldout_amt` keys the model's."""
    from ..evaluation.scoring import score_amt  # heavy: scipy, mir_eval, tqdm

    amt_ids = {row_id for row_id, task in zip(baked_test["id"], baked_test["task"]) if task == "amt"}
    examples = [excerpts[i] for i, row_id in enumerate(excerpts["id"]) if row_id in amt_ids]
    if not examples:
        return {"examples": 0, "onset_f1": None, "onset_offset_f1": None}
    metrics, _ = score_amt(peer_rows(examples, transcriber, source="peer"))
    return {"examples": len(examples), **metrics}


def _reliance(test: Any, models: dict[str, Any], paths: DemoPaths) -> dict[str, dict[str, float]]:
    """Held-out loss of each task with its own sources vs swapped ones, from another piece and from
    another excerpt of the same piece (does the model read its input, and how closely?)."""
    import datasets  # heavy: datasets

    from .task_runs import TASK_OUTPUTS  # heavy: tqdm

    excerpts = datasets.load_from_disk(str(paths.work / "excerpts"))["test"]
    piece_of = dict(zip(excerpts["id"], excerpts["piece_id"]))
    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in test:
        by_task.setdefault(row["task"], []).append(row)
    return {task: source_reliance(models[direction], by_task[task], groups=[piece_of[row["id"]] for row in by_task[task]])
            for task, (direction, _) in TASK_OUTPUTS.items() if len(by_task.get(task, ())) >= 2}


def _attention_maps(test: Any, models: dict[str, Any], excerpt_id: str) -> dict[str, Any]:
    """Teacher-forced cross-attention of each task on one held-out excerpt (its rows of the baked ``test``)."""
    from ..evaluation.alignment import cross_attention_map  # heavy: torch
    from .task_runs import TASK_OUTPUTS  # heavy: tqdm

    maps = {}
    for index in (i for i, row_id in enumerate(test["id"]) if row_id == excerpt_id):
        row = test[index]
        maps[row["task"]] = cross_attention_map(models[TASK_OUTPUTS[row["task"]][0]], row["input_ids"], row["labels"],
                                                row["source_modality"], row["target_modality"])
    return maps


def _cards_current(paths: DemoPaths) -> bool:
    """Every model card exists and is at least as new as the metrics it reports."""
    metrics = (paths.demo / "metrics.json").stat().st_mtime_ns
    cards = [paths.model(d) / "README.md" for d in MODEL_DIRS]
    return all(card.is_file() and card.stat().st_mtime_ns >= metrics for card in cards)


def _model_cards(paths: DemoPaths, result: DemoResult) -> None:
    from ..modeling.configuration_umust import UMustConfig  # heavy: transformers
    from .task_runs import TASK_OUTPUTS  # heavy: tqdm

    rows = json.loads((paths.demo / "metrics.json").read_text())["rows"]
    for direction in MODEL_DIRS:
        folder = paths.model(direction)
        config = UMustConfig.from_pretrained(folder)
        recipe = load_recipe(folder / "recipe.json")
        info = json.loads((folder / "demo_training.json").read_text())
        metrics = [
            MetricResult(task=row["task"], metric=row["label"].replace(" %", ""), value=row["trained"],
                         baseline=row["baseline"], baseline_name=row["baseline_name"], split="test",
                         lower_is_better=row["lower_is_better"], scored_by=_scored_by(row))
            for row in rows
            if TASK_OUTPUTS[row["task"]][0] == direction and row["trained"] is not None
        ]
        with safe_open(str(folder / "model.safetensors"), "pt") as weights:
            parameters = sum(_numel(weights.get_slice(name).get_shape()) for name in weights.keys())
        write_model_card(folder, name=MODEL_DIRS[direction], path=MODEL_DIRS[direction], recipe=recipe, config=config,
                         num_parameters=parameters, metrics=metrics, steps=info["steps"],
                         training_time=f"{info['seconds'] / 60:.1f} minutes on a shared 2-core CPU (umust demo)")


def _scored_by(row: dict[str, Any]) -> str:
    """Who read the model's output for a metrics row: the transcriber of generated audio (with its ceiling and
    floor on the same excerpts), or the metric itself."""
    if "transcriber" not in row:
        return ""
    if row["transcriber"] is None:
        return "no transcriber installed"
    bounds = [f"{bound} {row[bound]:.3g}" for bound in ("ceiling", "floor") if row.get(bound) is not None]
    return row["transcriber"] + (f" ({', '.join(bounds)})" if bounds else "")


def _numel(shape: Any) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total
