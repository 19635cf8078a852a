"""What the benchmarks share: the import path, the bare heapq baseline, CPU time, peak memory, the report."""

from __future__ import annotations

import heapq
import itertools
import json
import platform
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
"""The checkout the benchmarks run from."""
# Run from a checkout without installing: put the repository first on the import path.
sys.path.insert(0, str(ROOT))

T = TypeVar("T")


def heapq_loop(messages: int, in_flight: int = 64, seed: int = 1) -> float:
    """Deliver `messages` through a bare heapq event loop with callbacks; returns CPU seconds.

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
    started = time.process_time()
    pop = heapq.heappop
    while state["delivered"] < messages:
        now, _, callback, payload = pop(heap)
        callback(now, payload)
    return time.process_time() - started


def heapq_rate(messages: int, repeat: int = 3) -> float:
    """Messages per CPU second of the bare loop (best of `repeat`), the ceiling for a Python kernel."""
    return messages / min(heapq_loop(messages) for _ in range(repeat))


def cpu_timed(work: Callable[[], T]) -> tuple[T, float, float]:
    """Run `work`; returns its result, CPU seconds and wall seconds."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = work()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    Linux's `ru_maxrss` survives exec, so a benchmark started by a big process (`make docs`)
    would report its parent's size; the memory map's own high-water mark (VmHWM) does not.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    """Peak resident memory of the largest process this one started and waited for (0 when none), in MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def cpu_model() -> str:
    """The processor's name as the kernel reports it (`AMD EPYC`, say), or the platform's guess elsewhere."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def python_version() -> str:
    """The interpreter, e.g. `CPython 3.12.3`."""
    return f"{platform.python_implementation()} {platform.python_version()}"


def report(record: dict[str, Any], lines: list[str], as_json: bool) -> None:
    """Print a benchmark's result: its lines for a reader, or one JSON object (`--json`, read by `make docs`).

    The record gains the peak memory (of this process, or of the largest command it ran when that
    is larger: startup.py and pythons.py measure commands) and the Python version; `text` is its
    one-line summary.
    """
    record = {**record, "peak_rss_mb": round(max(peak_rss_mb(), children_peak_rss_mb())), "python": python_version()}
    if as_json:
        print(json.dumps(record, sort_keys=True))
        return
    for line in lines:
        print(line)
    print(f"peak RSS {record['peak_rss_mb']:,} MB; {record['python']}")
