"""Shrinking a failing schedule: delta debugging over its fault entries, then a smaller world.

Every step keeps a candidate only when it still fails the same way (the same checker rule, the
same exception type, or the same liveness failure), so the minimal scenario reproduces the bug
that was found, not some other one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sim.units import format_ms, parse_duration, parse_rate

Still = Callable[[dict[str, Any]], bool]


class _Counter:
    """Stops shrinking after `limit` trial runs (each is a whole simulation)."""

    def __init__(self, still: Still, limit: int) -> None:
        self.still = still
        self.limit = limit
        self.runs = 0

    def __call__(self, data: dict[str, Any]) -> bool:
        if self.runs >= self.limit:
            return False
        self.runs += 1
        return self.still(data)


def ddmin(items: list[Any], fails: Callable[[list[Any]], bool]) -> list[Any]:
    """Zeller's delta debugging: a 1-minimal sublist of `items` for which `fails` holds."""
    granularity = 2
    while len(items) >= 2:
        size = max(1, len(items) // granularity)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        reduced = False
        for i in range(len(chunks)):
            complement = [x for j, chunk in enumerate(chunks) if j != i for x in chunk]
            if fails(chunks[i]):
                items, granularity, reduced = chunks[i], 2, True
                break
            if len(chunks) > 2 and fails(complement):
                items, granularity, reduced = complement, max(granularity - 1, 2), True
                break
        if not reduced:
            if granularity >= len(items):
                break
            granularity = min(len(items), granularity * 2)
    if len(items) == 1 and fails([]):
        return []
    return items


def _end_of_faults(faults: list[dict[str, Any]]) -> float:
    end = 0.0
    for entry in faults:
        for key in ("at", "until", "from"):
            if key in entry:
                end = max(end, parse_duration(entry[key]))
        if "at" in entry and "for" in entry:
            end = max(end, parse_duration(entry["at"]) + parse_duration(entry["for"]))
    return end


def _smaller_worlds(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Candidate simplifications, each one step smaller than `data`, most valuable first."""
    out: list[tuple[str, dict[str, Any]]] = []
    nodes = data.get("nodes")
    if isinstance(nodes, int) and nodes > 1:
        for n in range(1, nodes):
            out.append((f"nodes={n}", {**copy.deepcopy(data), "nodes": n}))
    duration = parse_duration(data["duration"]) if "duration" in data else None
    if duration is not None:
        floor = _end_of_faults(data.get("faults", [])) + 100.0
        half = max(floor, duration / 2)
        if half < duration * 0.9:
            out.append(("duration", {**copy.deepcopy(data), "duration": format_ms(float(int(half)))}))
    workload = data.get("workload") or {}
    if isinstance(workload, dict) and "rate" in workload:
        try:
            number = parse_rate(workload["rate"])
        except ValueError:
            number = 0.0
        if number > 1:
            smaller = copy.deepcopy(data)
            smaller["workload"]["rate"] = f"{max(1.0, number / 2):g}/s"
            out.append(("rate", smaller))
    network = data.get("network") or {}
    if isinstance(network, dict):
        for key in ("loss", "duplicate", "links", "bandwidth", "ordered"):
            if network.get(key):
                simpler = copy.deepcopy(data)
                simpler["network"].pop(key)
                out.append((f"network.{key}", simpler))
        delay = network.get("delay")
        if isinstance(delay, dict) and delay.get("dist") != "constant":
            simpler = copy.deepcopy(data)
            typical = delay.get("median") or delay.get("mean") or delay.get("low") or delay.get("scale") or "5ms"
            simpler["network"]["delay"] = {"dist": "constant", "value": typical}
            out.append(("network.delay", simpler))
    return out


def shrink(data: dict[str, Any], still: Still, limit: int = 200) -> tuple[dict[str, Any], int]:
    """The smallest scenario data found that still fails like `data`, and the trial runs it took.

    Args:
        data: a failing schedule's scenario data.
        still: whether candidate data still fails the same way (invalid candidates return False).
        limit: the most trial runs to spend.

    """
    check = _Counter(still, limit)
    best = copy.deepcopy(data)
    faults = list(best.get("faults", []))
    if faults:
        kept = ddmin(faults, lambda subset: check({**best, "faults": list(subset)}))
        best = {**best, "faults": list(kept)}
    progress = True
    while progress and check.runs < limit:
        progress = False
        for _, candidate in _smaller_worlds(best):
            if check(candidate):
                best, progress = candidate, True
                break
    return best, check.runs
