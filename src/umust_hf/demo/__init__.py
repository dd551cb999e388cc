"""``umust demo``: the whole package on a CPU in one command (see :mod:`.pipeline`)."""

from .paths import DemoPaths
from .pipeline import DemoResult, run_demo
from .settings import DemoSettings

__all__ = ["DemoPaths", "DemoResult", "DemoSettings", "run_demo"]
