"""``umust demo``: the whole package on a CPU in one command (see :mod:`.pipeline`).

Names resolve lazily, so that ``umust demo --help`` does not import the pipeline (torch).
"""

from .._lazy import lazy_exports

_LAZY_EXPORTS = {
    "DemoPaths": ".paths",
    "DemoResult": ".pipeline",
    "DemoSettings": ".settings",
    "run_demo": ".pipeline",
}

__all__ = list(_LAZY_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
