"""Delay draws, shared by the network (sim/network.py) and the timing checks (sim/timing.py).

Its own module, importing numpy only when it draws, so that `consim validate` estimates a
network's round trip without the kernel (and a network of constant delays without numpy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def draw_delays(spec: Any, gen: np.random.Generator, count: int) -> np.ndarray:
    """`count` delays in ms of a non-constant delay spec: the network's draws, and the timing checks' estimate of them."""
    import numpy as np

    match spec.dist:
        case "uniform":
            return gen.uniform(spec.low, spec.high, count)
        case "normal":
            return np.maximum(gen.normal(spec.mean, spec.std, count), 0.0)
        case "lognormal":
            return spec.median * np.exp(gen.normal(0.0, spec.sigma, count))
        case "exponential":
            return spec.min + gen.exponential(spec.mean, count)
        case "pareto":
            return spec.scale * (1.0 + gen.pareto(spec.shape, count))
    raise ValueError(f"unknown delay distribution {spec.dist!r}")
