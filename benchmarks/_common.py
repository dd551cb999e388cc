"""What every benchmark records about the machine it ran on (figures mean little without it)."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def machine_facts(benchmark: str) -> dict[str, Any]:
    return {
        "benchmark": benchmark,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "machine": platform.machine(),
        "torch": torch.__version__,
    }
