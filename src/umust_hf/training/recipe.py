"""Training recipes: a model preset, a task curriculum and training hyper-parameters in one file.

Recipes ship as JSON in ``umust_hf/training/recipes/`` (every row of the paper's Table 11,
the official code's ramped I2A curriculum, one model for all six tasks, and the CPU demo
recipes); any other JSON file with the same keys works too.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .curriculum import Curriculum

_RECIPE_PACKAGE = "umust_hf.training.recipes"


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    model_preset: str
    curriculum: Curriculum
    training: dict[str, Any] = field(default_factory=dict)
    #: ``UMustConfig`` fields set on top of the preset (e.g. ``{"decoder_input_dropout": 0.3}``)
    model: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "recipe") -> Recipe:
        missing = [key for key in ("name", "model_preset", "curriculum") if key not in data]
        if missing:
            raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
        try:
            curriculum = Curriculum.from_list(data["curriculum"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: bad curriculum: {error}") from None
        model = dict(data.get("model", {}))
        _check_model_fields(model, where)
        return cls(
            name=data["name"],
            description=data.get("description", ""),
            model_preset=data["model_preset"],
            curriculum=curriculum,
            training=dict(data.get("training", {})),
            model=model,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "model_preset": self.model_preset,
            "curriculum": self.curriculum.to_list(),
            "training": self.training,
            **({"model": self.model} if self.model else {}),
        }


def _check_model_fields(model: dict[str, Any], where: str) -> None:
    """A recipe's ``model`` block may only name ``UMustConfig`` fields (a config would take a typo silently)."""
    from ..modeling.configuration_umust import UMustConfig  # heavy: transformers

    known = {f.name for f in dataclasses.fields(UMustConfig)}
    unknown = sorted(set(model) - known)
    if unknown:
        raise ValueError(f"{where}: model block names unknown UMustConfig field(s) {', '.join(unknown)}")


def available_recipes() -> list[str]:
    """Names of the recipes shipped with the package."""
    return sorted(p.name[: -len(".json")] for p in resources.files(_RECIPE_PACKAGE).iterdir() if p.name.endswith(".json"))


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load a shipped recipe by name (``"i2a"``) or any recipe JSON file by path."""
    path = Path(name_or_path)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise ValueError(f"recipe file {path} does not exist")
        text, where = path.read_text(), str(path)
    else:
        shipped = resources.files(_RECIPE_PACKAGE) / f"{name_or_path}.json"
        if not shipped.is_file():
            raise ValueError(f"unknown recipe {str(name_or_path)!r}; shipped recipes: {', '.join(available_recipes())}")
        text, where = shipped.read_text(), f"recipe {name_or_path}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error})") from None
    return Recipe.from_dict(data, where=where)
