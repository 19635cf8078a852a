"""Scaling laws a sweep's plots can draw as references (numpy only: a sweep spec checks the names)."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

LAWS = MappingProxyType(
    {
        "n": lambda n: n,
        "n^2": lambda n: n**2,
        "log n": lambda n: np.log(n),
        "n log n": lambda n: n * np.log(n),
    }
)
"""Theory overlays: scaling laws fitted (one constant) to the means, e.g. n^2 for PBFT's messages against n."""
