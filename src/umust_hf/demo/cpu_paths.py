"""The CPU task paths: corpus -> codec -> one-task bake -> ``cpu_<task>`` recipe -> evaluation.

``cpu_amt`` (spectral audio codec, AMT) and ``cpu_omr`` (image codec, OMR): one resumable run each
that trains a single-task model on this machine's CPU and measures it on *every* held-out excerpt
(pieces never seen in training) against the constant most-frequent baseline (and, for AMT, an
external transcriber on the same excerpts), with whether the model reads its input
(``source_reliance(..., groups=pieces)``, per target frame). During training a small learning curve
is written (held-out loss, reading gaps and the task's metric on a fixed subset of held-out
excerpts at a few points), so a run that falls short says how far it got and how fast it was going.

Layout under ``out_dir``::

    umust-data/                  embedded corpus (shared with ``umust demo``; reused when big enough)
    umust-codecs/audio, image/   the spectral audio codec (AMT), the image codec (OMR)
    umust-cpu-<task>/work/       short excerpts, processor, baked task examples
    umust-cpu-<task>/model/      the model + processor + README.md model card
    umust-cpu-<task>/curve.json  learning curve; metrics.json / metrics.md; timings.json
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..constants import PATCH_SIZE, SYSTEM_HEIGHT_PX
from ..errors import UserError
from ..io_utils import atomic_write_bytes, atomic_write_json, atomic_write_text
from ..training.recipe import load_recipe
from .pipeline import (
    Stages,
    _configure_threads,
    _corpus_ready,
    _cpu_seconds,
    _numel,
    _saved,
    build_corpus,
    check_saved_settings,
    fit_spectral_codec,
    save_processor,
)
from .settings import AUDIO_FRAMES_PER_SECOND

#: The task paths: task -> the codec it needs.
TASK_CODECS = {"amt": "audio", "omr": "image"}


@dataclass(frozen=True)
class CpuPathSettings:
    """Everything that sizes a ``cpu_<task>`` run (saved as ``umust-cpu-<task>/settings.json``)."""

    task: str = "amt"
    corpus_pieces: int = 300
    seed: int = 0
    num_proc: int = 2
    max_seconds: float = 8.0
    max_midi_positions: int = 512
    #: OMR: systems wider than this many 16-px patch columns are left out by the bake
    max_image_columns: int = 64
    max_notation_positions: int = 512
    #: AMT: training frames the spectral codec's k-means sees
    codec_frames: int = 200_000
    #: OMR: the image codec's training budget (its CPU preset)
    image_codec_minutes: float = 5.0
    #: wall-time cap of the AMT training (the step count is planned from measured step costs to fit it)
    train_minutes: float = 45.0
    max_steps: int | None = None  # None: planned from the recipe's steps and ``train_minutes``
    batch_size: int | None = None  # None: the recipe's
    #: learning-curve points during training, each on ``curve_excerpts`` held-out excerpts
    curve_points: int = 4
    curve_excerpts: int = 24

    def __post_init__(self) -> None:
        if self.task not in TASK_CODECS:
            raise UserError(f"unknown task path {self.task!r}; expected one of {', '.join(TASK_CODECS)}")
        positive = ("corpus_pieces", "max_seconds", "max_midi_positions", "max_image_columns", "max_notation_positions",
                    "codec_frames", "image_codec_minutes", "train_minutes", "curve_excerpts")
        bad = [f"{name}={getattr(self, name)}" for name in positive if not getattr(self, name) > 0]
        bad += [f"{name}={getattr(self, name)}" for name in ("max_steps", "batch_size")
                if getattr(self, name) is not None and getattr(self, name) < 1]
        if self.curve_points < 0:
            bad.append(f"curve_points={self.curve_points}")
        if bad:
            raise UserError(f"settings must be positive: {', '.join(bad)}")

    @property
    def recipe(self) -> str:
        return f"cpu_{self.task}"

    def position_lengths(self) -> dict[str, int]:
        """The longest source and target of the task, in frames (position tables are sized to them)."""
        if self.task == "amt":
            return {"audio": int(self.max_seconds * AUDIO_FRAMES_PER_SECOND) + 8, "midi": self.max_midi_positions}
        return {"image": (SYSTEM_HEIGHT_PX // PATCH_SIZE) * self.max_image_columns + 8,
                "notation": self.max_notation_positions}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def quick(cls, **overrides: Any) -> CpuPathSettings:
        """Tiny settings for the CI smoke test: minutes, not quality."""
        base = dict(corpus_pieces=4, num_proc=1, max_seconds=12.0, max_image_columns=80, codec_frames=4_000,
                    image_codec_minutes=0.2, train_minutes=0.5, max_steps=6, batch_size=2, curve_points=1,
                    curve_excerpts=2)
        return cls(**{**base, **overrides})


@dataclass
class CpuPathPaths:
    root: Path
    task: str

    @property
    def corpus(self) -> Path:
        return self.root / "umust-data"

    @property
    def codec(self) -> Path:
        return self.root / "umust-codecs" / TASK_CODECS[self.task]

    @property
    def run(self) -> Path:
        return self.root / f"umust-cpu-{self.task}"

    @property
    def work(self) -> Path:
        return self.run / "work"

    @property
    def model(self) -> Path:
        return self.run / "model"


def run_cpu_path(out_dir: str | Path = ".", settings: CpuPathSettings | None = None, *, show_progress: bool = True,
                 say: Callable[[str], None] = print) -> dict[str, dict[str, Any]]:
    """Run (or resume) the whole ``cpu_<task>`` path under ``out_dir``; returns the stage timings."""
    settings = settings or CpuPathSettings()
    paths = CpuPathPaths(Path(out_dir), settings.task)
    paths.run.mkdir(parents=True, exist_ok=True)
    check_saved_settings(paths.run / "settings.json", settings.to_dict(),
                         advice=f"rerun with the same options or remove {paths.run} to start over")
    timings: dict[str, dict[str, Any]] = {}
    stages = Stages(timings, say)
    _configure_threads()
    stages.run("corpus", lambda: _corpus_ready(paths.corpus, settings.corpus_pieces),
               lambda: build_corpus(paths.corpus, settings.corpus_pieces, seed=settings.seed,
                                    num_proc=settings.num_proc, show_progress=show_progress))
    stages.run("select excerpts", lambda: (paths.work / "excerpts" / "selection.json").is_file(),
               lambda: _select(paths, settings, say))
    stages.run(f"{TASK_CODECS[settings.task]} codec", lambda: _saved(paths.codec),
               lambda: _train_codec(paths, settings, show_progress, say))
    stages.run("processor", lambda: (paths.work / "processor" / "processor_config.json").is_file(),
               lambda: _processor(paths))
    stages.run("bake", lambda: (paths.work / "baked" / "bake_summary.json").is_file(),
               lambda: _bake(paths, settings, show_progress, say))
    stages.run(f"train {settings.task.upper()}", lambda: (paths.model / "recipe.json").is_file(), lambda: _train(paths, settings, say))
    stages.run("evaluate", lambda: (paths.run / "metrics.json").is_file(),
               lambda: _evaluate(paths, settings, show_progress, say))
    stages.run("model card", lambda: (paths.model / "README.md").is_file(), lambda: _model_card(paths))
    total = sum(stage["seconds"] for stage in timings.values())
    atomic_write_json(paths.run / "timings.json", {"stages": timings, "total_seconds": round(total, 1)})
    say(f"{settings.recipe}: total wall time {total / 60:.1f} min ({total:.0f} s; stages reused from an earlier run count 0)")
    return timings


# ------------------------------------------------------------------------------------------ stages
def _select(paths: CpuPathPaths, settings: CpuPathSettings, say: Callable[[str], None]) -> None:
    from .excerpt_examples import select_short_excerpts  # heavy: datasets

    sizes = select_short_excerpts(paths.corpus, paths.work / "excerpts", max_seconds=settings.max_seconds)
    say(f"  excerpts of at most {settings.max_seconds:g} s: {sizes}")


def _train_codec(paths: CpuPathPaths, settings: CpuPathSettings, show_progress: bool, say: Callable[[str], None]) -> None:
    if settings.task == "omr":
        from ..training.image_codec_trainer import train_image_codec  # heavy: torch, transformers, vector_quantize_pytorch

        summary = train_image_codec(paths.work / "excerpts", paths.codec, minutes=settings.image_codec_minutes,
                                    seed=settings.seed, show_progress=show_progress)
        say(f"  image codec: {({k: v for k, v in summary.items() if isinstance(v, (int, float))})}")
        return
    fit_spectral_codec(paths.work / "excerpts", paths.codec, frames=settings.codec_frames, seed=settings.seed,
                       show_progress=show_progress, say=say)


def _processor(paths: CpuPathPaths) -> None:
    from transformers import AutoModel  # heavy: transformers

    codec = {f"{TASK_CODECS[paths.task]}_codec": AutoModel.from_pretrained(paths.codec).eval()}
    save_processor(paths.work / "processor", **codec)


def _load_processor(paths: CpuPathPaths) -> Any:
    from ..processing.processing_umust import UMustProcessor  # heavy: torch, transformers

    return UMustProcessor.from_pretrained(paths.work / "processor")


def model_config(processor: Any, settings: CpuPathSettings, **overrides: Any) -> Any:
    """The recipe's preset with the processor's vocabulary and position tables sized to the excerpts."""
    from ..modeling.configuration_umust import UMustConfig  # heavy: transformers

    recipe = load_recipe(settings.recipe)
    fields = ("notation_size", "midi_size", "image_codebook_size", "audio_codebook_size", "num_codebooks")
    vocabulary = {k: v for k, v in processor.vocabulary.items() if k in fields}
    length = max(settings.position_lengths().values())
    positions = {f"max_{modality}_positions": length for modality in ("audio", "image", "notation", "midi")}
    return UMustConfig.from_preset(recipe.model_preset, **{**vocabulary, **positions, **recipe.model, **overrides})


def _bake(paths: CpuPathPaths, settings: CpuPathSettings, show_progress: bool, say: Callable[[str], None]) -> None:
    from .excerpt_examples import bake_excerpts  # heavy: datasets

    processor = _load_processor(paths)
    summary = bake_excerpts(paths.work / "excerpts", processor, paths.work / "baked",
                            config=model_config(processor, settings), show_progress=show_progress, only=[settings.task])
    say(f"  {settings.task.upper()} examples per split: {summary['examples']}; over the position tables: {summary['too_long']}")


def _test_rows(paths: CpuPathPaths) -> tuple[Any, list[str]]:
    """The baked held-out task rows and the piece of each (for the within-piece reading gap)."""
    import datasets  # heavy: datasets

    baked = datasets.load_from_disk(str(paths.work / "baked"))
    if "test" not in baked:
        raise UserError("no held-out excerpt fits the position tables; build a larger corpus (--corpus-pieces)")
    test = baked["test"].filter(lambda task: task == paths.task, input_columns="task")
    excerpts = datasets.load_from_disk(str(paths.work / "excerpts"))["test"]
    piece_of = dict(zip(excerpts["id"], excerpts["piece_id"]))
    return test, [piece_of[row_id] for row_id in test["id"]]


def _baseline(paths: CpuPathPaths, seed: int) -> Any:
    """The constant baseline's one output (the most frequent training MIDI's notes, or LMX), cached."""
    import datasets  # heavy: datasets

    from ..data.audio_io import read_midi_notes
    from .constant_baselines import constant_lmx, constant_midi

    cached = paths.work / ("baseline.mid" if paths.task == "amt" else "baseline.lmx")
    if not cached.is_file():
        train = datasets.load_from_disk(str(paths.work / "excerpts"))["train"]
        if paths.task == "amt":
            atomic_write_bytes(cached, constant_midi(train, seed))
        else:
            atomic_write_text(cached, constant_lmx(train, seed))
    return read_midi_notes(cached.read_bytes()) if paths.task == "amt" else cached.read_text()


def measure(task: str, model: Any, processor: Any, test: Any, pieces: list[str], baseline: Any,
            progress: bool = False) -> dict[str, Any]:
    """The task's greedy metric on its rows of ``test`` against the constant ``baseline`` (AMT: onset F1;
    OMR: SER, also by token kind), held-out loss and the reading gaps of
    :func:`~umust_hf.evaluation.source_reliance.source_reliance` grouped by piece."""
    from ..evaluation.source_reliance import source_reliance
    from ..translation import UMustTranslator
    from .heldout import score_heldout_amt, score_heldout_omr

    score = score_heldout_amt if task == "amt" else score_heldout_omr
    was_training = model.training
    model.eval()
    try:
        scores = score(test, UMustTranslator(model, processor), baseline, progress=progress)
        reliance = source_reliance(model, list(test), groups=pieces) if len(test) >= 2 else {}
    finally:
        model.train(was_training)
    return {**scores, **{f"reliance_{k}": v for k, v in reliance.items()}}


class _CurveAndTimeLimit:
    """A ``TrainerCallback``: stops training after ``minutes`` of training wall time (the curve's own
    measuring time is not counted) and measures ``points`` curve points on ``subset`` along the way."""

    def __new__(cls, minutes: float, points: int, measure: Callable[[Any], dict[str, Any]], curve_file: Path):
        from transformers import TrainerCallback  # heavy: transformers

        class CurveAndTimeLimit(TrainerCallback):
            def __init__(self) -> None:
                self.curve = json.loads(curve_file.read_text()) if curve_file.is_file() else []
                self.trained = self.curve[-1]["train_minutes"] * 60 if self.curve else 0.0
                self.marks = [minutes * (k + 1) / points for k in range(points)] if points else []
                self.last = time.perf_counter()
                self.stopped_at: int | None = None

            def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - HF callback signature
                self.last = time.perf_counter()

            def on_step_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001
                self.trained += time.perf_counter() - self.last
                done = [point["train_minutes"] for point in self.curve]
                due = [m for m in self.marks if self.trained >= 60 * m and not any(d >= m for d in done)]
                out_of_time = self.trained >= 60 * minutes
                last_step = state.global_step >= state.max_steps
                if due or ((out_of_time or last_step) and (not done or state.global_step > self.curve[-1]["step"])):
                    point = {"step": state.global_step, "train_minutes": round(self.trained / 60, 2),
                             "cpu_seconds": round(_cpu_seconds(), 1), **measure(model)}
                    self.curve.append(point)
                    atomic_write_json(curve_file, self.curve)
                if out_of_time:
                    control.should_training_stop = True
                    control.should_save = True
                    self.stopped_at = state.global_step
                return control

        return CurveAndTimeLimit()


def _train(paths: CpuPathPaths, settings: CpuPathSettings, say: Callable[[str], None]) -> None:
    import datasets  # heavy: datasets
    import torch  # heavy: torch

    from ..modeling.modeling_umust import UMustForConditionalGeneration  # heavy: torch, transformers
    from ..training.run import train_from_recipe  # heavy: torch, transformers
    from .step_plan import planned_seconds, step_seconds, steps_within

    recipe = load_recipe(settings.recipe)
    processor = _load_processor(paths)
    train = datasets.load_from_disk(str(paths.work / "baked"))["train"]
    test, pieces = _test_rows(paths)
    curve_rows = _spread(len(test), settings.curve_excerpts)
    subset, subset_pieces = test.select(curve_rows), [pieces[i] for i in curve_rows]
    baseline = _baseline(paths, settings.seed)
    torch.manual_seed(settings.seed)
    model = UMustForConditionalGeneration(model_config(processor, settings))
    batch_size = settings.batch_size or recipe.training.get("per_device_train_batch_size", 4)
    planned = recipe.training["max_steps"]
    plan_file = paths.model / "step_plan.json"  # a resumed run keeps the plan its checkpoints were made with
    steps, costs = settings.max_steps, {}
    if steps is None and plan_file.is_file():
        plan = json.loads(plan_file.read_text())
        steps, costs = plan["steps"], plan["probe_step_seconds"]
    elif steps is None:
        costs = step_seconds(model, train, (settings.task,), batch_size)
        steps = steps_within(recipe.curriculum, planned, costs, settings.train_minutes)
        paths.model.mkdir(parents=True, exist_ok=True)
        atomic_write_json(plan_file, {"steps": steps, "probe_step_seconds": costs})
        say(f"  {planned} steps would take about {planned_seconds(recipe.curriculum, planned, costs) / 60:.1f} min "
            f"here; planned {steps} within {settings.train_minutes:g} min")
    callback = _CurveAndTimeLimit(
        settings.train_minutes, settings.curve_points,
        lambda m: measure(settings.task, m, processor, subset, subset_pieces, baseline), paths.run / "curve.json")
    started = time.perf_counter()
    trainer = train_from_recipe(recipe, train, paths.model, model=model, callbacks=[callback], max_steps=steps,
                                per_device_train_batch_size=batch_size, seed=settings.seed, disable_tqdm=False)
    processor.save_pretrained(paths.model)
    log = [entry for entry in trainer.state.log_history if "loss" in entry]
    info = {"steps": trainer.state.global_step, "planned_steps": steps, "batch_size": batch_size,
            "train_examples": len(train), "probe_step_seconds": costs, "seconds": round(time.perf_counter() - started, 1),
            "train_minutes": round(callback.trained / 60, 2), "stopped_by_time_limit": callback.stopped_at is not None,
            "first_loss": log[0]["loss"] if log else None, "last_loss": log[-1]["loss"] if log else None}
    atomic_write_json(paths.model / "training_run.json", info)
    shutil.rmtree(paths.model / "checkpoints", ignore_errors=True)
    plan_file.unlink(missing_ok=True)
    say(f"  {settings.task.upper()}: {info}")


def _spread(count: int, wanted: int) -> list[int]:
    """``wanted`` indices spread evenly over ``range(count)`` (all of them when there are fewer)."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / max(wanted - 1, 1)) for i in range(wanted)})


def _evaluate(paths: CpuPathPaths, settings: CpuPathSettings, show_progress: bool, say: Callable[[str], None]) -> None:
    import datasets  # heavy: datasets

    from ..evaluation.transcribers import default_transcriber
    from ..modeling.modeling_umust import UMustForConditionalGeneration  # heavy: torch, transformers
    from .pipeline import _peer_heldout_amt

    test, pieces = _test_rows(paths)
    model = UMustForConditionalGeneration.from_pretrained(paths.model)
    scores = measure(settings.task, model, _load_processor(paths), test, pieces, _baseline(paths, settings.seed),
                     progress=show_progress)
    excerpts = datasets.load_from_disk(str(paths.work / "excerpts"))
    summary = json.loads((paths.work / "excerpts" / "selection.json").read_text())
    transcriber = default_transcriber() if settings.task == "amt" else None  # OMR has no external peer here
    peer = _peer_heldout_amt(excerpts["test"], test, transcriber) if transcriber else {}
    metrics = {"task": settings.task, "model": scores, "peer": {"name": transcriber.name if transcriber else None, **peer},
               "heldout_excerpts": {"rows": len(test), "pieces": len(set(pieces)),
                                    "selected_test_excerpts": summary["rows"].get("test"),
                                    "left_out_by_filters": summary["rows"].get("test", 0) - len(test)},
               "training": json.loads((paths.model / "training_run.json").read_text())}
    atomic_write_json(paths.run / "metrics.json", metrics)
    atomic_write_text(paths.run / "metrics.md", metrics_table(metrics))
    say(metrics_table(metrics))


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, str, float | None, float | None, float | None]]:
    """(key, label, model, baseline, peer) per headline figure of the run's task."""
    model, peer = metrics["model"], metrics["peer"]
    if metrics.get("task", "amt") == "amt":
        return [("onset_f1", "onset F1 %", model["onset_f1"], model["baseline_onset_f1"], peer.get("onset_f1")),
                ("onset_offset_f1", "onset+offset F1 %", model["onset_offset_f1"], model["baseline_onset_offset_f1"],
                 peer.get("onset_offset_f1"))]
    rows = [("ser", "SER %", model["ser"], model["baseline_ser"], None)]
    for kind, value in model["ser_by_kind"].items():
        rows.append((f"ser_{kind}", f"SER % of {kind} tokens", value, model["baseline_ser_by_kind"][kind], None))
    return rows


def metrics_table(metrics: dict[str, Any]) -> str:
    """The run's figures as a Markdown table (written to ``metrics.md``)."""
    model, peer, held = metrics["model"], metrics["peer"], metrics["heldout_excerpts"]
    task = metrics.get("task", "amt")

    def pct(value: Any) -> str:
        return "–" if value is None else f"{value:.2f}"

    source = "audio" if task == "amt" else "image"
    rows = [f"| measure | cpu_{task} model | constant baseline | external transcriber |", "|---|---|---|---|"]
    for index, (_, label, value, baseline, peer_value) in enumerate(_metric_rows(metrics)):
        named = f" ({peer.get('name') or 'none installed'})" if index == 0 and task == "amt" else ""
        rows.append(f"| {label} | {pct(value)} | {pct(baseline)} | {pct(peer_value)}{named} |")
    rows += [
        f"| held-out loss per target frame | {model['heldout_loss']:.3f} | | |",
        f"| reading gap, another piece's {source} | {model.get('reliance_gap', float('nan')):+.3f} | | |",
        f"| reading gap, another excerpt of the same piece | {model.get('reliance_same_group_gap', float('nan')):+.3f} | | |",
    ]
    return "\n".join(rows) + (f"\n\n{held['rows']} held-out excerpts of {held['pieces']} pieces "
                              f"({held['left_out_by_filters']} of the {held['selected_test_excerpts']} selected left out "
                              "by the position tables); loss and gaps in nats.\n")


def _model_card(paths: CpuPathPaths) -> None:
    from safetensors import safe_open

    from ..model_card import MetricResult, write_model_card
    from ..modeling.configuration_umust import UMustConfig  # heavy: transformers

    metrics = json.loads((paths.run / "metrics.json").read_text())
    info, task = metrics["training"], paths.task
    baseline_name = "most frequent training MIDI" if task == "amt" else "most frequent training LMX"
    results = [MetricResult(task=task, metric=label.replace(" %", ""), value=value, baseline=baseline,
                            baseline_name=baseline_name, split="test (every held-out excerpt)",
                            lower_is_better=task == "omr")
               for _, label, value, baseline, _ in _metric_rows(metrics)]
    with safe_open(str(paths.model / "model.safetensors"), "pt") as weights:
        parameters = sum(_numel(weights.get_slice(name).get_shape()) for name in weights.keys())
    write_model_card(paths.model, name=f"umust-cpu-{task}", path=f"umust-cpu-{task}",
                     recipe=load_recipe(paths.model / "recipe.json"), config=UMustConfig.from_pretrained(paths.model),
                     num_parameters=parameters, metrics=results, steps=info["steps"],
                     training_time=f"{info['train_minutes']:.1f} minutes on a 2-core CPU (cpu_{task} path)",
                     limits=_limits(metrics))


def _limits(metrics: dict[str, Any]) -> str:
    """The card's limits paragraph, from what was measured."""
    gap = metrics["model"].get("reliance_same_group_gap")
    reads = gap is not None and gap >= 0.10
    return ("Trained for minutes on a 2-core CPU on synthesised piano of a few hundred pieces: "
            + ("it reads its input note by note (within-piece reading gap "
               f"{gap:+.3f} nats per frame), " if reads else
               f"its within-piece reading gap is {gap if gap is not None else float('nan'):+.3f} nats per frame "
               "(under the 0.10 that would show it reading notes), ")
            + "and it has never heard or seen anything but the embedded corpus."
            + (f" On the same held-out excerpts {metrics['peer']['name']} reaches onset F1 "
               f"{metrics['peer']['onset_f1']:.1f} % against this model's {metrics['model']['onset_f1']:.1f} %: "
               "use that for real transcription." if metrics.get("peer", {}).get("onset_f1") is not None else ""))


__all__ = ["TASK_CODECS", "CpuPathSettings", "CpuPathPaths", "run_cpu_path", "measure", "metrics_table"]
