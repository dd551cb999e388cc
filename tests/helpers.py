"""Small helpers shared by test modules (not tests themselves)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_repairs() -> Iterator[None]:
    """Silence the expected repair warnings without leaking a log level into other tests."""
    logger = logging.getLogger("umust_hf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
