"""Lazy public names for a package: import a submodule only when one of its names is used."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str], eager: tuple[str, ...] = ()) -> tuple[
    Callable[[str], Any], Callable[[], list[str]]
]:
    """Module-level ``__getattr__`` and ``__dir__`` resolving ``exports`` (name -> relative module).

    Use as ``__getattr__, __dir__ = lazy_exports(__name__, {"Name": ".module"})``; a resolved
    name is cached in the package's namespace. ``eager`` lists names defined in the package itself.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*eager, *exports})

    return __getattr__, __dir__
