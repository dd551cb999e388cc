"""OMR of a finished demo on *every* held-out excerpt, not only the few the metrics table shows.

The demo's table scores six excerpts (audio tasks are slow); OMR is cheap, so this gives its SER
on all baked test examples, beside the most-frequent-training-LMX baseline and the teacher-forced
loss: figures with less noise for comparing training recipes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.generation import DEFAULT_BATCH_SIZE, chunks
from .baselines import lmx_distance, most_frequent


def heldout_omr_scores(out_dir: str | Path, progress: bool = False, seed: int = 0) -> dict[str, Any]:
    """:func:`score_heldout_omr` for the finished demo under ``out_dir`` (its model, bake and baseline)."""
    import datasets

    from ..translation import UMustTranslator
    from .pipeline import DemoPaths

    paths = DemoPaths(Path(out_dir))
    if not (paths.work / "baked").is_dir() or not (paths.model("i2a") / "config.json").is_file():
        raise FileNotFoundError(f"{paths.root} holds no finished demo (run `umust demo --out-dir {paths.root}` first)")
    train_lmx = list(datasets.load_from_disk(str(paths.work / "excerpts"))["train"]["lmx"])
    baseline = most_frequent(train_lmx, lmx_distance, seed=seed)  # the metrics table's baseline
    test = datasets.load_from_disk(str(paths.work / "baked"))["test"]
    return score_heldout_omr(test, UMustTranslator.from_pretrained(paths.model("i2a")), baseline, progress=progress)


def score_heldout_omr(test: Any, translator: Any, baseline_lmx: str, progress: bool = False,
                      batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
    """``{"examples", "ser", "baseline_ser", "heldout_loss"}`` over every OMR row of the baked ``test`` split.

    ``translator``: a :class:`~umust_hf.translation.UMustTranslator` of the I2A model;
    ``baseline_lmx``: the constant prediction it is compared with. Rows are generated and
    scored ``batch_size`` at a time (padding changes neither the greedy readings nor, beyond float
    rounding, the loss).
    """
    from tqdm.auto import tqdm

    from ..evaluation.ser import symbol_error_rate
    from ..training.collator import BundleCollator

    test = test.filter(lambda task: task == "omr", input_columns="task")
    if not len(test):
        raise ValueError("the held-out split has no OMR example to score")
    model = translator.model.eval()
    collate = BundleCollator(num_codebooks=model.config.num_codebooks)
    rows = list(test)
    gold, predicted, loss_sum, frames = [], [], 0.0, 0
    with tqdm(total=len(rows), desc="held-out OMR", disable=not progress) as bar:
        for batch_rows in chunks(rows, batch_size):
            readings, batch_loss, batch_frames = _read_and_score(model, collate(batch_rows))
            gold += [translator.lmx_of(np.asarray(row["labels"])[None])[0] for row in batch_rows]
            predicted += translator.lmx_of(readings)
            loss_sum, frames = loss_sum + batch_loss, frames + batch_frames
            bar.update(len(batch_rows))
    return {
        "examples": len(gold),
        "ser": symbol_error_rate(gold, predicted),
        "baseline_ser": symbol_error_rate(gold, [baseline_lmx] * len(gold)),
        "heldout_loss": loss_sum / max(frames, 1),
    }


def _read_and_score(model: Any, batch: dict[str, Any]) -> tuple[Any, float, int]:
    """Greedy readings of one collated batch, its summed teacher-forced loss and its number of target frames."""
    import torch

    from ..evaluation.source_reliance import summed_loss

    inputs = {key: value.to(model.device) for key, value in batch.items() if key != "task_ids"}
    with torch.no_grad():
        readings = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                  source_modality="image", target_modality="notation", do_sample=False)
    return (readings, *summed_loss(model, batch))


__all__ = ["heldout_omr_scores", "score_heldout_omr"]
