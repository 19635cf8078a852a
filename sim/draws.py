"""The network's random draws: uniform numbers and message delays, drawn from numpy in batches.

Each is read one number at a time through the `__next__` of a C iterator over the batches, so a
draw on the network's hot path costs no Python frame.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from itertools import chain, count, repeat
from typing import Any

import numpy as np

from sim.delays import draw_delays
from sim.scenario import ConstantDelay

BATCH = 4096
"""Numbers drawn from the generator at a time."""


def seed_sequence(seed: int, name: str) -> np.random.SeedSequence:
    """The seed sequence of a run's component called `name` (a plane's components carry its prefix).

    Spawned from `SeedSequence(seed)` with a key derived from the name, so adding a component
    never shifts another's draws; the kernel's streams and the load-time checks that must see
    the same draws (an attestation run's pick of attesters) both come from here.
    """
    return np.random.SeedSequence(seed, spawn_key=(zlib.crc32(name.encode()),))


def stream(seed: int, name: str) -> np.random.Generator:
    """A numpy generator for a component's batched draws (see `seed_sequence`)."""
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, name)))


class UniformStream:
    """Uniform [0, 1) numbers drawn in batches from one generator; `next()` gives the next one.

    `next` is the `__next__` of a C iterator over the batches, so a draw costs no Python frame:
    the network draws once or twice per message.
    """

    __slots__ = ("next",)

    def __init__(self, gen: np.random.Generator) -> None:
        self.next: Callable[[], float] = chain.from_iterable(gen.random(BATCH).tolist() for _ in count()).__next__

    def __call__(self) -> float:
        """The next number."""
        return self.next()


class DelaySampler:
    """Draws message delays (ms) for one delay spec, in batches."""

    __slots__ = ("spec", "_gen", "constant", "next")

    def __init__(self, spec: Any, gen: np.random.Generator) -> None:
        self.spec = spec
        self._gen = gen
        self.constant: float | None = spec.value if isinstance(spec, ConstantDelay) else None
        # `next()` gives the next delay: the `__next__` of a C iterator over batches (see UniformStream).
        self.next: Callable[[], float] = (
            repeat(self.constant).__next__
            if self.constant is not None
            else chain.from_iterable(self.draw(BATCH).tolist() for _ in count()).__next__
        )

    def draw(self, count: int) -> np.ndarray:
        """`count` delays in ms from this sampler's generator."""
        if self.constant is not None:
            return np.full(count, float(self.spec.value))
        return draw_delays(self.spec, self._gen, count)

    def __call__(self) -> float:
        """The next delay in ms."""
        return self.next()
