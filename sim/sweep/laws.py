"""Scaling laws a sweep's plots can draw as references (a sweep spec checks the names without numpy)."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any


def _log(n: Any) -> Any:
    import numpy as np  # only when a plot draws the law: `consim validate` checks the names alone

    return np.log(n)


LAWS = MappingProxyType(
    {
        "n": lambda n: n,
        "n^2": lambda n: n**2,
        "log n": _log,
        "n log n": lambda n: n * _log(n),
    }
)
"""Theory overlays: scaling laws fitted (one constant) to the means, e.g. n^2 for PBFT's messages against n."""

DERIVED_METRICS = ("unsafe_runs",)
"""Metrics the sweep plots add to each run's row (`sim.sweep_plots.with_derived`), beside the summary's keys."""
