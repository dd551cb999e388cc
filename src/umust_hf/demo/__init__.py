"""``umust demo``: the whole package on a CPU in one command (see :mod:`.pipeline`)."""

from .pipeline import DemoPaths, DemoResult, run_demo
from .settings import DemoSettings

__all__ = ["DemoPaths", "DemoResult", "DemoSettings", "run_demo"]
