"""``umust demo``: the README's main command -- the whole package on a CPU, end to end.

Builds (or reuses) the embedded corpus and writes its preview, trains the CPU codecs and
tiny I2A and A2I models, runs all six tasks on held-out excerpts, and compares the trained
models with trivial baselines (see :mod:`umust_hf.demo`). Rerunning resumes: finished
stages are skipped.
"""

from __future__ import annotations

from ..demo.command import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
