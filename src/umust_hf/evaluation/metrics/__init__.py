"""``evaluate`` modules for our metrics: one folder per metric, loadable offline.

``evaluate.load(metric_path("ser"))`` loads a local script, so nothing is fetched from
the Hub; each module delegates to the functions in :mod:`umust_hf.evaluation`.
"""

from __future__ import annotations

from pathlib import Path

METRIC_NAMES = ("ser", "note_f1", "dtw_onset_f1", "fad", "token_emd")


def metric_path(name: str) -> str:
    """Folder of the ``evaluate`` module ``name`` (pass it to ``evaluate.load``)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; expected one of {', '.join(METRIC_NAMES)}")
    return str(Path(__file__).parent / name)
