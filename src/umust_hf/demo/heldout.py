"""OMR of a finished demo on *every* held-out excerpt, not only the few the metrics table shows.

The demo's table scores six excerpts (audio tasks are slow); OMR is cheap, so this gives its SER
on all baked test examples, beside the most-frequent-training-LMX baseline and the teacher-forced
loss: figures with less noise for comparing training recipes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .baselines import lmx_distance, most_frequent


def heldout_omr_scores(out_dir: str | Path, progress: bool = False) -> dict[str, Any]:
    """``{"examples", "ser", "baseline_ser", "heldout_loss"}`` for the demo under ``out_dir``."""
    import datasets
    import torch
    from tqdm.auto import tqdm

    from ..evaluation.ser import symbol_error_rate
    from ..translation import UMustTranslator
    from ..training.collator import BundleCollator
    from .pipeline import DemoPaths

    paths = DemoPaths(Path(out_dir))
    if not (paths.work / "baked").is_dir() or not (paths.model("i2a") / "config.json").is_file():
        raise FileNotFoundError(f"{paths.root} holds no finished demo (run `umust demo --out-dir {paths.root}` first)")
    test = datasets.load_from_disk(str(paths.work / "baked"))["test"].filter(lambda task: task == "omr",
                                                                           input_columns="task")
    train_lmx = list(datasets.load_from_disk(str(paths.work / "excerpts"))["train"]["lmx"])
    baseline = most_frequent(train_lmx, lmx_distance)  # the metrics table's baseline
    translator = UMustTranslator.from_pretrained(paths.model("i2a"))
    model = translator.model.eval()
    collate = BundleCollator(num_codebooks=model.config.num_codebooks)
    gold, predicted, loss_sum, frames = [], [], 0.0, 0
    for row in tqdm(test, desc="held-out OMR", disable=not progress):
        batch = collate([row])
        batch.pop("task_ids", None)
        with torch.no_grad():
            generated = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                       source_modality="image", target_modality="notation", do_sample=False)
            count = int((batch["labels"][..., 0] != -100).sum())
            loss_sum += float(model(**batch, return_logits=False).loss) * count
        frames += count
        gold.append(translator.lmx_of(np.asarray(row["labels"])[None])[0])
        predicted.append(translator.lmx_of(generated)[0])
    return {
        "examples": len(gold),
        "ser": symbol_error_rate(gold, predicted),
        "baseline_ser": symbol_error_rate(gold, [baseline] * len(gold)),
        "heldout_loss": loss_sum / max(frames, 1),
    }


__all__ = ["heldout_omr_scores"]
