"""Hugging Face model cards (README.md with YAML metadata) for trained U-MUST directories.

Templates ship as package data in ``umust_hf/model_cards/`` (``UMUST_MODEL_CARDS`` may point
elsewhere) and use
:class:`string.Template` placeholders (``$name``); the metrics block is filled with the values
just measured, so a saved directory can be pushed to the hub as it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from .data.tasks import get_task
from .io_utils import atomic_write_text

#: HF pipeline tag per direction: what the model's main output is.
_PIPELINE_TAGS = {"i2a": "text-to-audio", "a2i": "audio-to-audio", "all": "any-to-any"}


@dataclass(frozen=True)
class MetricResult:
    """One measured number: ``task`` (e.g. "omr"), ``metric`` (e.g. "SER"), its value and a baseline."""

    task: str
    metric: str
    value: float
    baseline: float | None = None
    baseline_name: str = ""
    dataset: str = "umust-embedded"
    split: str = "test"
    lower_is_better: bool = False
    scored_by: str = ""  # what read the output for the metric (e.g. the transcriber of generated audio)


def template_dir() -> Path:
    """The folder of model-card templates: ``$UMUST_MODEL_CARDS`` or the package's own ``model_cards/``."""
    folder = Path(os.environ.get("UMUST_MODEL_CARDS", Path(__file__).resolve().parent / "model_cards"))
    if not (folder / "translator.md").is_file():
        raise FileNotFoundError(
            f"model card template translator.md not found in {folder}; "
            + ("point UMUST_MODEL_CARDS at a folder that holds one" if "UMUST_MODEL_CARDS" in os.environ
               else "this umust-hf installation is incomplete (reinstall it)")
        )
    return folder


def _yaml_results(metrics: Sequence[MetricResult]) -> str:
    lines = []
    for m in metrics:
        task = get_task(m.task)
        lines += [
            "  - task:",
            f"      type: {m.task}",
            f"      name: {json.dumps(task.description)}",
            "    dataset:",
            f"      name: {json.dumps(m.dataset)}",
            f"      type: {m.dataset}",
            f"      split: {m.split}",
            "    metrics:",
            f"    - type: {m.metric.lower().replace(' ', '_')}",
            f"      name: {json.dumps(m.metric)}",
            f"      value: {m.value:.4g}",
        ]
    return "\n".join(lines) if lines else "  []"


def _markdown_metrics(metrics: Sequence[MetricResult]) -> str:
    if not metrics:
        return "No evaluation was run."
    rows = ["| task | metric | this model | baseline | scored by |", "|---|---|---|---|---|"]
    for m in metrics:
        arrow = "↓" if m.lower_is_better else "↑"
        baseline = "–" if m.baseline is None else f"{m.baseline:.4g} ({m.baseline_name})"
        rows.append(f"| {m.task} | {m.metric} {arrow} | {m.value:.4g} | {baseline} | {m.scored_by or '–'} |")
    return "\n".join(rows)


def render_model_card(
    *,
    name: str,
    path: str,
    recipe: Any,
    config: Any,
    num_parameters: int,
    metrics: Sequence[MetricResult] = (),
    datasets: Sequence[str] = ("umust-embedded",),
    steps: int | None = None,
    training_time: str = "unknown",
    data_description: str = "the embedded corpus (scores shipped in PyPI packages, rendered and synthesised locally)",
    limits: str = "A small model trained briefly on a small corpus: a demonstration of the pipeline, not a usable transcriber or synthesiser.",
    template: str = "translator.md",
) -> str:
    """Fill the template for a model trained from ``recipe`` (a :class:`~umust_hf.training.recipe.Recipe`)."""
    tasks = [get_task(t) for t in recipe.curriculum.tasks]
    directions = {t.direction for t in tasks}
    direction = directions.pop() if len(directions) == 1 else "all"
    first = tasks[0]
    usage = (
        f'inputs = processor(...)  # the source modality: {first.source.value}\n'
        f'bundles = model.generate(**inputs, target_modality="{first.target.value}")\n'
        f'outputs = processor.decode(bundles, "{first.target.value}")'
    )
    cli = {"omr": "umust omr", "amt": "umust transcribe", "m2a": "umust synthesize", "l2i": "umust render",
           "i2a": "umust score2audio", "a2i": "umust audio2score"}.get(first.name, "umust")
    values = {
        "name": name,
        "path": path,
        "pipeline_tag": _PIPELINE_TAGS[direction],
        "datasets": "\n".join(f"- {d}" for d in datasets),
        "results": _yaml_results(metrics),
        "direction": direction.upper() if direction != "all" else "both",
        "recipe": recipe.name,
        "recipe_description": recipe.description,
        "tasks": ", ".join(f"{t.name} ({t.description})" for t in tasks),
        "usage": usage,
        "cli": f"{cli} --model {path} INPUT OUTPUT",
        "preset": recipe.model_preset,
        "parameters": f"{num_parameters / 1e6:.1f} M",
        "d_model": config.d_model,
        "layers": config.encoder_layers,
        "num_codebooks": config.num_codebooks,
        "curriculum": ", ".join(f"{s.task}: {s.start_step}" + (f"→{s.full_step}" if s.full_step else "")
                                for s in recipe.curriculum.schedules),
        "steps": steps if steps is not None else recipe.training.get("max_steps", "unknown"),
        "data_description": data_description,
        "training_time": training_time,
        "metrics_table": _markdown_metrics(metrics),
        "limits": limits,
    }
    return Template((template_dir() / template).read_text(encoding="utf-8")).substitute(values)


#: Figures of a spectral codec's ``training_metrics.json`` shown on its card: (key, label).
_CODEC_FIGURES = (
    ("pitch_agreement_trained", "pitch agreement with the original"),
    ("pitch_agreement_chance", "pitch agreement, another clip (chance)"),
    ("onset_f1_trained", "onset F1 of the reconstruction against the MIDI (onset detector)"),
    ("transcribed_agreement_trained", "transcribed notes of reconstruction vs original: onset F1"),
    ("transcribed_agreement_chance_trained", "the same for another clip (chance)"),
    ("mel_distance_trained", "log-mel distance"),
    ("min_codes_used_trained", "fewest codes used by a codebook"),
)


def render_spectral_codec_card(metrics: dict[str, Any], *, name: str = "umust-spectral-audio-codec",
                               path: str = "umust-codecs/audio") -> str:
    """The model card of a fitted spectral audio codec, from its ``training_metrics.json`` ``metrics``."""
    config = metrics["config"]
    edges = config.get("band_edges")
    bands = (f"one band of {config.get('features', 'mel')} bins per codebook, edges {edges}" if edges
             else "residual: each codebook quantises what the ones before it left")
    rows = ["| measure | value |", "|---|---|"]
    for key, label in _CODEC_FIGURES:
        if metrics.get(key) is not None:
            rows.append(f"| {label} | {metrics[key]:.4g} |")
    usage = metrics.get("codebook_usage_trained")
    if usage:
        rows.append(f"| codes used per codebook | {', '.join(str(u) for u in usage)} of {config.get('codebook_size', 1024)} |")
    values = {
        "name": name, "path": path, "features": "log-STFT" if config.get("features") == "stft" else "log-mel",
        "num_codebooks": config.get("num_codebooks", 4), "codebook_size": config.get("codebook_size", 1024),
        "bands": bands, "griffin_lim_iters": config.get("griffin_lim_iters", 32),
        "train_frames": metrics["train_frames"], "train_clips": metrics["train_clips"], "seconds": metrics["seconds"],
        "held_out_clips": metrics["held_out_clips"], "eval_seconds": metrics["eval_seconds"],
        "metrics_table": "\n".join(rows),
        "transcriber": "basic-pitch" if metrics.get("transcribed_agreement_trained") is not None else "no transcriber",
    }
    return Template((template_dir() / "spectral_audio_codec.md").read_text(encoding="utf-8")).substitute(values)


def write_model_card(model_dir: str | os.PathLike, **kwargs: Any) -> Path:
    """Render the card and write it atomically as ``model_dir/README.md``."""
    return atomic_write_text(Path(model_dir) / "README.md", render_model_card(**kwargs))
