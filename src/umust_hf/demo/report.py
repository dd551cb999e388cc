"""The demo's metrics table (trained model vs trivial baseline per task) and stage-time table.

Written as Markdown (``metrics.md``) and JSON (``metrics.json``) and printed. The headline
metric of each task decides the "beats baseline" column.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..evaluation.tables import MethodResult, calibration_notes, results_to_json
from ..io_utils import atomic_write_json, atomic_write_text
from .task_runs import PEER_SUFFIX

#: task -> [(metric key, label, lower is better)]; the first one is the headline
METRICS: dict[str, list[tuple[str, str, bool]]] = {
    "omr": [("ser", "SER %", True), ("ser_notuplets", "SER no tuplets %", True),
            ("ser_all_heldout", "SER % on all held-out excerpts", True)],
    "amt": [("onset_f1", "onset F1 %", False), ("onset_offset_f1", "onset+offset F1 %", False),
            ("onset_f1_all_heldout", "onset F1 % on all held-out excerpts", False),
            ("onset_offset_f1_all_heldout", "onset+offset F1 % on all held-out excerpts", False)],
    "m2a": [("f1_50", "DTW onset F1@50ms %", False), ("f1_200", "DTW onset F1@200ms %", False), ("fad", "FAD (log-mel)", True)],
    "i2a": [("f1_50", "DTW onset F1@50ms %", False), ("f1_200", "DTW onset F1@200ms %", False), ("fad", "FAD (log-mel)", True)],
    "l2i": [("emd_pitch", "pitch EMD", True), ("emd_duration", "duration EMD", True)],
    "a2i": [("emd_pitch", "pitch EMD", True), ("emd_duration", "duration EMD", True)],
}


def metric_rows(results: Sequence[MethodResult]) -> list[dict[str, Any]]:
    """One row per (task, metric): trained value, baseline value and name, direction, who wins."""
    by_task: dict[str, list[MethodResult]] = {}
    for result in results:
        by_task.setdefault(result.task, []).append(result)
    rows = []
    for task, metrics in METRICS.items():
        if task not in by_task:
            continue
        trained = next(r for r in by_task[task] if r.method == "trained")
        baseline = next(r for r in by_task[task] if r.method != "trained" and not r.method.endswith(PEER_SUFFIX))
        peers = [r for r in by_task[task] if r.method.endswith(PEER_SUFFIX)]
        for number, (key, label, lower) in enumerate(metrics):
            ours, theirs = _finite(trained.metrics.get(key)), _finite(baseline.metrics.get(key))
            beats = None
            if ours is not None and theirs is not None:
                beats = ours < theirs if lower else ours > theirs
            row = {
                "task": task, "metric": key, "label": label, "lower_is_better": lower, "headline": number == 0,
                "trained": ours, "baseline": theirs, "baseline_name": baseline.method, "beats_baseline": beats,
                "excerpts": trained.details.get(f"{key}_examples", trained.num_samples),
            }
            if peers:
                row["peers"] = {peer.method.removesuffix(PEER_SUFFIX): _finite(peer.metrics.get(key)) for peer in peers}
            if "transcriber" in trained.details and key.startswith("f1_"):
                row["transcriber"] = trained.details["transcriber"]
                for bound in ("ceiling", "floor"):
                    row[bound] = _finite((trained.details.get(bound) or {}).get(key))
            rows.append(row)
    return rows


def _reference(row: dict[str, Any]) -> str:
    """The external reference of a metrics row: a peer system's figure, or the transcriber's ceiling/floor."""
    if "peers" in row:
        return "; ".join(f"{name} {_fmt(value)}" for name, value in row["peers"].items())
    if "transcriber" not in row:
        return "–"
    if row["transcriber"] is None:
        return "no transcriber (see below)"
    return f"{row['transcriber']}: ceiling {_fmt(row['ceiling'])}, floor {_fmt(row['floor'])}"


def _finite(value: Any) -> float | None:
    """A metric as a plain float, or None when it is missing or undefined (NaN: e.g. EMD of empty histograms)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The metrics rows as a Markdown table (arrows give each metric's direction)."""
    lines = ["| task | metric | trained | baseline | baseline is | beats baseline | external reference |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        arrow = "↓" if row["lower_is_better"] else "↑"
        verdict = {True: "yes", False: "**no**", None: "–"}[row["beats_baseline"]]
        lines.append(f"| {row['task']} | {row['label']} {arrow} | {_fmt(row['trained'])} | {_fmt(row['baseline'])} "
                     f"| {row['baseline_name']} | {verdict} | {_reference(row)} |")
    return "\n".join(lines)


def transcriber_note(results: Sequence[MethodResult]) -> str:
    """Which transcriber scored the audio rows, what its ceiling and floor mean (or what to install)."""
    lines = calibration_notes([r for r in results if r.task in ("m2a", "i2a")])
    if not lines:
        return ""
    return ("generated audio (MIDI-to-audio, image-to-audio, and the baseline's clips) is transcribed by an external "
            "transcriber before DTW onset F1; ceiling: the same transcriber on the excerpts' own recordings, floor: on "
            "another excerpt's recording. " + " ".join(lines))


def reliance_table(reliance: dict[str, dict[str, float]]) -> str:
    """Task -> held-out loss with its own sources and with swapped ones (another piece's; another excerpt
    of the same piece, where the rows were grouped by piece), as a Markdown table."""
    lines = ["| task | held-out loss, own source | another piece's source | gap (reads its input if > 0) "
             "| same piece: own / another excerpt's | gap (reads the notes if > 0) |",
             "|---|---|---|---|---|---|"]
    for task, row in reliance.items():
        same = (f"{row['same_group_own']:.3f} / {row['same_group_other']:.3f} | {row['same_group_gap']:+.3f}"
                if "same_group_gap" in row else "– | –")
        other = f"{row['other_source']:.3f}" + (" (one piece held out: same piece)" if row.get("across_groups") == 0.0 else "")
        lines.append(f"| {task} | {row['own_source']:.3f} | {other} | {row['gap']:+.3f} | {same} |")
    return "\n".join(lines)


#: Pitch agreement this far above the other-clip level counts as keeping notes (a few short clips are noisy).
PITCH_MARGIN = 0.05


def audio_codec_note(metrics: dict[str, Any]) -> str:
    """What the audio codec keeps, from its ``training_metrics.json``: every audio task reads or writes its
    tokens, so a codec that loses the notes caps them all (empty without a pitch measurement)."""
    agreement, chance = _finite(metrics.get("pitch_agreement_trained")), _finite(metrics.get("pitch_agreement_chance"))
    if agreement is None or chance is None:
        return ""
    onsets, original = _finite(metrics.get("onset_f1_trained")), _finite(metrics.get("onset_f1_original"))
    kept = (f"onset F1 of its reconstructions {_fmt(onsets)} (original audio {_fmt(original)}); "
            if onsets is not None and original is not None else "")
    verdict = ("no clearly more than that, so it loses the notes and AMT, MIDI-to-audio and image-to-audio work "
               "from audio without them" if agreement < chance + PITCH_MARGIN else "it keeps some of the notes")
    heard = _finite(metrics.get("transcribed_agreement_trained"))
    heard_chance = _finite(metrics.get("transcribed_agreement_chance_trained"))
    transcribed = (f" basic-pitch's notes on its reconstructions against its notes on the originals: onset F1 "
                   f"{_fmt(heard)} (another clip: {_fmt(heard_chance)})." if heard is not None else "")
    return (f"audio codec on held-out audio: {kept}pitch agreement with the originals {_fmt(agreement)}, "
            f"where another clip scores {_fmt(chance)}: {verdict}.{transcribed}")


def write_metrics(results: Sequence[MethodResult], out_dir: str | os.PathLike,
                  reliance: dict[str, dict[str, float]] | None = None,
                  audio_codec: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], str]:
    """Write ``metrics.json`` and ``metrics.md`` into ``out_dir``; return the rows and the Markdown.

    ``reliance``: task -> :func:`~umust_hf.evaluation.source_reliance.source_reliance`, a second table;
    ``audio_codec``: the audio codec's training metrics, summarised by :func:`audio_codec_note`."""
    rows = metric_rows(results)
    table = markdown_table(rows)
    if reliance:
        table += "\n\ndoes each model read its input? (teacher-forced loss on all held-out excerpts)\n\n"
        table += reliance_table(reliance)
    scored_by = transcriber_note(results)
    if scored_by:
        table += "\n\n" + scored_by
    note = audio_codec_note(audio_codec or {})
    if note:
        table += "\n\n" + note
    out = Path(out_dir)
    atomic_write_json(out / "metrics.json", {"rows": rows, "results": results_to_json(results),
                                             "source_reliance": reliance or {}, "audio_codec_note": note,
                                             "transcriber_note": scored_by})
    atomic_write_text(out / "metrics.md", table + "\n")
    return rows, table


def timing_table(stages: dict[str, dict[str, Any]]) -> str:
    """Stage -> seconds (and whether it was reused) as aligned text."""
    width = max((len(name) for name in stages), default=5)
    lines = [f"{'stage':<{width}}  wall s   CPU s  status"]
    total = cpu = 0.0
    for name, info in stages.items():
        total += info["seconds"]
        cpu += info.get("cpu_seconds", 0.0)
        lines.append(f"{name:<{width}}  {info['seconds']:6.1f}  {info.get('cpu_seconds', 0.0):6.1f}  {info['status']}")
    lines.append(f"{'total':<{width}}  {total:6.1f}  {cpu:6.1f}")
    return "\n".join(lines)
