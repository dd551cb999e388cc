"""The ``umust`` console script, kept outside the package so that ``umust --help`` stays fast.

``import umust_hf`` registers the package's classes with transformers' ``Auto*`` factories,
which imports torch and transformers (about 4 s on a 2-core CPU). Help needs neither: this
entry point creates the ``umust_hf`` package module *without* running its ``__init__``,
builds the parser from the command modules (which keep their heavy imports inside ``run``),
and runs the package ``__init__`` only once a command is about to run.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

PACKAGE = "umust_hf"


def _package_before_init() -> tuple[ModuleType, bool]:
    """The ``umust_hf`` module and whether its ``__init__`` still has to run."""
    if PACKAGE in sys.modules:
        return sys.modules[PACKAGE], False
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None:
        raise SystemExit(f"umust: the {PACKAGE} package is not installed in {sys.prefix}")
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    return package, True


def main(argv: Sequence[str] | None = None) -> int:
    package, needs_init = _package_before_init()

    def finish_package_init() -> None:
        if needs_init and not getattr(package, "_umust_initialised", False):
            package.__spec__.loader.exec_module(package)  # registers the Auto classes
            package._umust_initialised = True

    from umust_hf.cli import main as run_cli

    try:
        return run_cli(argv, before_run=finish_package_init)
    finally:
        if needs_init and not getattr(package, "_umust_initialised", False):
            # only help was printed: forget the half-made package, so that a later
            # `import umust_hf` in this process runs its __init__ as usual
            for name in [name for name in sys.modules if name == PACKAGE or name.startswith(PACKAGE + ".")]:
                del sys.modules[name]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
