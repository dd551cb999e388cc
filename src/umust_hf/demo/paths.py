"""Where the demo's stages read and write under its ``out_dir`` (the layout of :mod:`.pipeline`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MODEL_DIRS = {"i2a": "umust-i2a", "a2i": "umust-a2i"}


@dataclass
class DemoPaths:
    """Where every stage reads and writes."""

    root: Path

    @property
    def corpus(self) -> Path:
        return self.root / "umust-data"

    @property
    def codecs(self) -> Path:
        return self.root / "umust-codecs"

    @property
    def demo(self) -> Path:
        return self.root / "umust-demo"

    @property
    def work(self) -> Path:
        return self.demo / "work"

    def model(self, direction: str) -> Path:
        return self.root / MODEL_DIRS[direction]


__all__ = ["MODEL_DIRS", "DemoPaths"]
