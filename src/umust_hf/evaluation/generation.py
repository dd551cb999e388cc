"""Run a trained U-MUST model over a test split and collect gold/prediction rows.

This is the ``umust evaluate --model DIR --data DIR`` path. It needs the model
(``umust_hf.modeling.modeling_umust``) and the processor
(``umust_hf.processing.processing_umust``); when either is missing from this install it
raises a :class:`~umust_hf.errors.UserError` naming it, and the predictions-file path
(``--predictions``) remains available. The model-running part follows the processor API
of the blueprint (``processor(images=|audio=|text=|midi=, target_modality=)`` and
``processor.decode(bundles, modality)``).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import UserError
from .predictions import PredictionRow

REQUIRED_MODULES = {
    "umust_hf.modeling.modeling_umust": "the U-MUST model",
    "umust_hf.processing.processing_umust": "the U-MUST processor",
}

#: task -> (source column of the embedded corpus, gold column, processor keyword of the source)
TASK_COLUMNS = {
    "omr": ("image", "lmx", "images"),
    "amt": ("audio", "midi", "audio"),
    "m2a": ("midi", "audio", "midi"),
    "i2a": ("image", "audio", "images"),
    "l2i": ("lmx", "lmx", "text"),
    "a2i": ("audio", "lmx", "audio"),
}


def require_model_components() -> None:
    """Raise a UserError naming each component this install lacks."""
    missing = []
    for module, what in REQUIRED_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError as error:
            missing.append(f"{what} ({module}: {error})")
    if missing:
        raise UserError(
            "evaluating a model needs " + " and ".join(missing) + "; it is not available in this install. "
            "Evaluate a predictions file instead: umust evaluate --predictions FILE.jsonl"
        )


def predict_with_model(
    model_dir: str | Path, data_dir: str | Path, *, task: str, split: str = "test", limit: int | None = None
) -> list[PredictionRow]:
    """Generate predictions for ``task`` on ``data_dir[split]`` (an embedded-corpus DatasetDict)."""
    require_model_components()
    model_dir, data_dir = Path(model_dir), Path(data_dir)
    if not model_dir.is_dir():
        raise UserError(f"model directory not found: {model_dir}")
    from datasets import load_from_disk

    try:
        dataset = load_from_disk(str(data_dir))
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"{data_dir} is not a saved dataset (datasets.load_from_disk failed: {error})") from None
    if split not in dataset:
        raise UserError(f"{data_dir} has no split {split!r}; it has {', '.join(dataset)}")
    missing = [column for column in TASK_COLUMNS[task][:2] if column not in dataset[split].column_names]
    if missing:
        raise UserError(f"{data_dir}[{split}] lacks the column(s) {', '.join(missing)} that {task} needs")
    # The generation loop needs UMustProcessor.decode's output formats, which are not fixed
    # yet; until they are, say so instead of guessing.
    raise UserError(
        f"running the model for {task} is not wired yet: write its outputs to a predictions JSONL "
        "(layout in umust_hf.evaluation.predictions) and run umust evaluate --predictions FILE"
    )
