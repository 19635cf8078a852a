"""Each gossip node's own random stream, small enough for a million nodes.

A `random.Random` costs about 2.5 KB of state and several microseconds to seed, per node: at
100,000 nodes that was half the memory of a run. A node here holds one 64-bit integer instead.
Its stream is a 64-bit linear congruential generator (Knuth's MMIX constants) read through its
top 53 bits, which is all a peer pick or a coin flip needs; its starting state comes from the
run's key, the node's index and how many times the node has started, passed through the
SplitMix64 finaliser, so nodes' streams start far apart in the generator's period of 2**64 and
a node's draws depend on neither the number of nodes nor what any other node does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_MASK = (1 << 64) - 1
_MULTIPLIER = 6364136223846793005
_INCREMENT = 1442695040888963407
_UNIT = 2.0**-53


def mix64(value: int) -> int:
    """The SplitMix64 finaliser: a bijection on 64-bit integers that scatters nearby inputs."""
    z = value & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


class NodeDraws:
    """One node's stream: what gossip draws (`random`, `uniform`, `randrange`, `sample`) from one integer of state."""

    __slots__ = ("_state",)

    def __init__(self, key: int, index: int, start: int) -> None:
        """The stream of node number `index` on its `start`-th start, in the run keyed `key`."""
        self._state = mix64(mix64(key ^ mix64(index)) + start)

    def random(self) -> float:
        """A float in [0, 1)."""
        self._state = state = (self._state * _MULTIPLIER + _INCREMENT) & _MASK
        return (state >> 11) * _UNIT

    def uniform(self, low: float, high: float) -> float:
        """A float in [low, high), as `random.Random.uniform` computes it."""
        return low + (high - low) * self.random()

    def randrange(self, n: int) -> int:
        """An integer in [0, n) (n is far below 2**53, so the rounding bias is nil)."""
        return int(self.random() * n)

    def sample(self, population: Sequence[T], k: int) -> list[T]:
        """`k` distinct items of `population`, in the order drawn (a partial Fisher-Yates shuffle of the indexes)."""
        n = len(population)
        if not 0 <= k <= n:
            raise ValueError(f"cannot sample {k} of {n}")
        # Only the swapped positions are remembered, so drawing k of a million costs O(k).
        swapped: dict[int, int] = {}
        out = []
        for i in range(k):
            j = i + int(self.random() * (n - i))
            out.append(population[swapped.get(j, j)])
            swapped[j] = swapped.get(i, i)
        return out
