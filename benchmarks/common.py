"""What the benchmarks share: the import path, the bare heapq baseline, peak memory."""

from __future__ import annotations

import heapq
import itertools
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

# Run from a checkout without installing: put the repository first on the import path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def heapq_loop(messages: int, in_flight: int = 64, seed: int = 1) -> float:
    """Deliver `messages` through a bare heapq event loop with callbacks; returns wall seconds.

    Each delivery is a (time, seq, callback, payload) entry; the callback counts the message
    and sends a new one with a random delay, keeping `in_flight` messages in the queue.
    """
    rng = random.Random(seed)  # a private generator, never the global one
    heap: list[tuple[float, int, Any, int]] = []
    seq = itertools.count()
    state = {"delivered": 0}

    def deliver(now: float, payload: int) -> None:
        state["delivered"] += 1
        heapq.heappush(heap, (now + 1.0 + rng.random(), next(seq), deliver, payload + 1))

    for i in range(in_flight):
        heapq.heappush(heap, (rng.random(), next(seq), deliver, i))
    started = time.perf_counter()
    pop = heapq.heappop
    while state["delivered"] < messages:
        now, _, callback, payload = pop(heap)
        callback(now, payload)
    return time.perf_counter() - started


def heapq_rate(messages: int, repeat: int = 3) -> float:
    """Messages per second of the bare loop (best of `repeat`), the ceiling for a Python kernel."""
    return messages / min(heapq_loop(messages) for _ in range(repeat))


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
