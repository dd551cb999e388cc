"""``umust train``: train a U-MUST model from a recipe on baked task examples (resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..training.recipe import load_recipe

HELP = "train a U-MUST model from a recipe (Table 11 curricula) on a dataset of baked task examples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", required=True,
                        help="a shipped recipe name (i2a, a2i, all_six, omr_only, ..., demo_i2a) or a recipe JSON file")
    parser.add_argument("--data", required=True,
                        help="a DatasetDict saved with save_to_disk whose 'train' split holds task examples "
                             "(input_ids, labels, source_modality, target_modality, task)")
    parser.add_argument("--out", required=True, help="output directory for checkpoints and the final model")
    parser.add_argument("--max-steps", type=int, help="override the recipe's steps (the curriculum is scaled to match)")
    parser.add_argument("--batch-size", type=int, help="override the per-device batch size")
    parser.add_argument("--learning-rate", type=float, help="override the peak learning rate")
    parser.add_argument("--no-resume", action="store_true", help="start over even if OUT has checkpoints")


def run(args: argparse.Namespace) -> int:
    from datasets import DatasetDict, load_from_disk  # heavy: datasets

    from ..training.run import train_from_recipe  # heavy: torch, transformers

    try:
        recipe = load_recipe(args.recipe)
    except ValueError as error:
        raise UserError(str(error)) from None
    data_dir = Path(args.data)
    if not (data_dir / "dataset_dict.json").is_file():
        raise UserError(f"{data_dir} is not a DatasetDict saved with save_to_disk (no dataset_dict.json there)")
    data = load_from_disk(str(data_dir))
    if not isinstance(data, DatasetDict) or "train" not in data:
        raise UserError(f"{data_dir} has no 'train' split")
    missing = {"input_ids", "labels", "source_modality", "target_modality", "task"} - set(data["train"].column_names)
    if missing:
        raise UserError(f"{data_dir}: the train split lacks column(s) {sorted(missing)}; bake the corpus first")
    trainer = train_from_recipe(
        recipe, data["train"], args.out, eval_dataset=data.get("validation"), resume=not args.no_resume,
        max_steps=args.max_steps, per_device_train_batch_size=args.batch_size, learning_rate=args.learning_rate,
    )
    print(f"trained {recipe.name} for {trainer.state.global_step} steps; model saved to {args.out}")
    return 0
