"""Plain-text tables in the layouts of the paper's Tables 3-7, and the JSON report.

A :class:`MethodResult` holds one method's metrics on one dataset for one task (keys as
produced by :mod:`umust_hf.evaluation.scoring`). :func:`render_tables` groups results by
task and renders each group in its paper table's layout: methods as rows, and
multi-level column headers (metric, dataset, tolerance) with spanning labels.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..io_utils import atomic_write_json

MISSING = "–"


@dataclass
class MethodResult:
    """One row of a table: ``method`` evaluated on ``dataset`` for ``task``."""

    task: str
    method: str
    dataset: str
    metrics: dict[str, float | None]
    num_samples: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Column:
    """A column: its header levels (top to bottom), the metric key and number format."""

    header: tuple[str, ...]
    key: str
    dataset: str
    fmt: str = "{:.2f}"


@dataclass(frozen=True)
class TableLayout:
    number: int
    tasks: tuple[str, ...]
    caption: str
    level_names: tuple[str, ...]  # one label per header level, shown in the row-label column


LAYOUTS: tuple[TableLayout, ...] = (
    TableLayout(3, ("i2a",), "Image-to-audio accuracy: onset F1 after DTW alignment (↑) and FAD (↓).",
                ("Metric", "Dataset", "Onset Tolerance (ms)")),
    TableLayout(4, ("a2i", "l2i"), "Audio-to-image (and LMX-to-image) generation accuracy in token EMD (↓).",
                ("Metric", "Dataset", "Method")),
    TableLayout(5, ("omr",), "OMR results in SER (%); lower is better.", ("Dataset", "Method")),
    TableLayout(6, ("m2a",), "MIDI-to-audio synthesis accuracy in onset F1 (↑) and FAD (↓).",
                ("Metric", "Dataset", "Onset Tolerance (ms)")),
    TableLayout(7, ("amt",), "AMT results in note F1 (%) for the test set; higher is better.", ("Dataset", "Method")),
)  # fmt: skip


def _columns(layout: TableLayout, datasets: Sequence[str]) -> list[Column]:
    columns: list[Column] = []
    if layout.number in (3, 6):
        for dataset in datasets:
            for ms in (50, 100, 200):
                columns.append(Column(("F1 Score ↑", dataset, str(ms)), f"f1_{ms}", dataset))
        for dataset in datasets:
            columns.append(Column(("FAD ↓", dataset, MISSING), "fad", dataset, "{:.3f}"))
    elif layout.number == 4:
        for kind in ("Pitch", "Duration"):
            for dataset in datasets:
                columns.append(Column(("EMD ↓", dataset, kind), f"emd_{kind.lower()}", dataset, "{:.4f}"))
    elif layout.number == 5:
        for dataset in datasets:
            columns.append(Column((dataset, "SER"), "ser", dataset))
            columns.append(Column((dataset, "SER no tuplets"), "ser_notuplets", dataset))
    elif layout.number == 7:
        for dataset in datasets:
            columns.append(Column((dataset, "Onset F1"), "onset_f1", dataset))
            columns.append(Column((dataset, "Onset+offset F1"), "onset_offset_f1", dataset))
    return columns


def _format(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return fmt.format(value)


def _spans(labels: list[str], parents: list[tuple[str, ...]]) -> list[tuple[str, int, int]]:
    """Merge runs of equal labels under the same parent into (label, first, last) spans."""
    spans: list[tuple[str, int, int]] = []
    for i, (label, parent) in enumerate(zip(labels, parents, strict=True)):
        if spans and spans[-1][0] == label and parents[spans[-1][1]] == parent:
            spans[-1] = (label, spans[-1][1], i)
        else:
            spans.append((label, i, i))
    return spans


def render_table(layout: TableLayout, results: Sequence[MethodResult]) -> str:
    """One paper-style table as text (methods as rows)."""
    datasets = list(dict.fromkeys(r.dataset for r in results))
    columns = _columns(layout, datasets)
    methods: list[tuple[str, str]] = list(dict.fromkeys((r.method, r.task) for r in results))
    show_task = len({task for _, task in methods}) > 1
    lookup = {(r.method, r.task, r.dataset): r for r in results}
    row_labels = [f"{m} [{t}]" if show_task else m for m, t in methods]
    cells = [
        [
            _format((lookup.get((m, t, c.dataset)) or MethodResult(t, m, c.dataset, {})).metrics.get(c.key), c.fmt)
            for c in columns
        ]
        for m, t in methods
    ]
    levels = len(columns[0].header)
    widths = [max(len(c.header[-1]), *(len(row[i]) for row in cells), 6) for i, c in enumerate(columns)]
    # widen columns so that every spanning label fits
    for level in range(levels - 1):
        labels = [c.header[level] for c in columns]
        parents = [c.header[:level] for c in columns]
        for label, first, last in _spans(labels, parents):
            span_width = sum(widths[first : last + 1]) + 3 * (last - first)
            if len(label) > span_width:
                widths[last] += len(label) - span_width
    label_width = max(len("Method"), *(len(label) for label in row_labels), *(len(n) for n in layout.level_names))
    lines = [f"Table {layout.number}: {layout.caption}"]
    for level in range(levels):
        labels = [c.header[level] for c in columns]
        parents = [c.header[:level] for c in columns]
        name = layout.level_names[level] if level < len(layout.level_names) else ""
        parts = []
        for label, first, last in _spans(labels, parents):
            span_width = sum(widths[first : last + 1]) + 3 * (last - first)
            parts.append(label.center(span_width) if level < levels - 1 else label.rjust(span_width))
        head = name.ljust(label_width)
        lines.append(head + " | " + " | ".join(parts))
    rule = "-" * label_width + "-+-" + "-+-".join("-" * w for w in widths)
    lines.insert(1, rule)
    lines.append(rule)
    for label, row in zip(row_labels, cells, strict=True):
        lines.append(
            label.ljust(label_width) + " | " + " | ".join(value.rjust(w) for value, w in zip(row, widths, strict=True))
        )
    lines.append(rule)
    lines += calibration_notes(results)
    return "\n".join(lines)


def calibration_notes(results: Sequence[MethodResult]) -> list[str]:
    """One line per transcriber that scored audio rows: its name, and its ceiling and floor (F1 at the
    first tolerance) on the same excerpts, or what is missing when there was none."""
    notes: dict[str, str] = {}
    calibrated: set[str] = set()
    for result in results:
        if "transcriber" not in result.details:
            continue
        name = result.details["transcriber"]
        if name is None:
            if "transcriber_note" in result.details:
                notes.setdefault("", f"{result.details['transcriber_note']}.")
            continue
        ceiling, floor = result.details.get("ceiling"), result.details.get("floor")
        if name in calibrated or (name in notes and not ceiling):
            continue
        line = f"DTW onset F1 transcribed by {name}"
        if ceiling:
            key = next(k for k in ceiling if k.startswith("f1_"))
            line += f"; on these excerpts its ceiling (their own audio) is {key} {ceiling[key]:.2f}"
            if floor:
                line += f", its floor (another excerpt's audio) {floor[key]:.2f}"
            calibrated.add(name)
        notes[name] = line + "."
    return list(notes.values())


def render_tables(results: Sequence[MethodResult]) -> str:
    """Every paper table that has results, in table order, separated by blank lines."""
    blocks = []
    for layout in LAYOUTS:
        selected = [r for r in results if r.task in layout.tasks]
        if selected:
            blocks.append(render_table(layout, selected))
    return "\n\n".join(blocks)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


def results_to_json(results: Sequence[MethodResult]) -> dict[str, Any]:
    """A JSON-ready report: one entry per result, NaN/inf written as null."""
    return {"results": [_json_safe(asdict(r)) for r in results]}


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    """Write JSON atomically, NaN/inf as null."""
    return atomic_write_json(path, _json_safe(payload))
