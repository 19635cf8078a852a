"""Checkers of how a log mechanism's honest node executes: each command once, every slot in order.

- exactly-once: an honest node decides one client command in at most one slot, across its
  incarnations (a replay after recovery decides the same command in the same slot again, which
  is fine; a second slot is a second execution). A protocol whose log may legitimately hold a
  command twice (Paxos, PBFT) says which copy its state machine skipped with `duplicate=True`
  on that decision; such a row executed nothing and is not counted.
- gapless: an honest node executes its log from the first slot on with no hole: within an
  incarnation each slot follows the previous one, and an incarnation starts at most one slot
  past the highest slot the node executed before. A protocol that installs state instead of
  executing it (a snapshot, a state transfer) records an event `state_installed` with the last
  slot it covers; the node then continues after that slot.

A byzantine node is faulty only within its `from`/`until` window: decisions it makes outside
the window are judged (the fault plan rewrites what it sends, not what it executes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.checkers.agreement import Violation, first_conflicts
from sim.protocols.base import NOOP, STATE_INSTALLED

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario

Checker = Callable[["RunTables", "Scenario"], list[Violation]]


def byzantine_windows(tables: RunTables) -> dict[str, list[tuple[float, float]]]:
    """Per node, the [from, until) windows in which it was byzantine."""
    events = tables.events
    if events.empty:
        return {}
    byzantine = events["kind"] == "byzantine"
    if not byzantine.any():
        return {}
    rows = events[byzantine]
    out: dict[str, list[tuple[float, float]]] = {}
    for row in rows.itertuples():
        start = float(getattr(row, "from_ms", 0.0) or 0.0)
        stop = getattr(row, "until_ms", math.inf)
        stop = math.inf if stop is None or pd.isna(stop) else float(stop)
        out.setdefault(str(row.node), []).append((start, stop))
    return out


def judged_mask(rows: pd.DataFrame, windows: dict[str, list[tuple[float, float]]]) -> pd.Series:
    """True for rows (with `node` and `time_ms`) made while their node was not byzantine."""
    mask = pd.Series(True, index=rows.index)
    for node, spans in windows.items():
        mine = rows["node"] == node
        for start, stop in spans:
            mask &= ~(mine & (rows["time_ms"] >= start) & (rows["time_ms"] < stop))
    return mask


def check_exactly_once(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """An honest node decides each client command in at most one slot."""
    decisions = tables.decisions
    if decisions.empty:
        return []
    # A mask rather than filtered copies of the table: a long run has a million rows.
    counted = (decisions["value"] != NOOP).to_numpy(dtype=bool, na_value=True)
    if "duplicate" in decisions:
        counted = counted & (decisions["duplicate"] != True).to_numpy(dtype=bool)  # noqa: E712 (None where a mechanism never says)
    counted = counted & judged_mask(decisions, byzantine_windows(tables)).to_numpy(dtype=bool)
    found = first_conflicts(
        decisions,
        ["node", "value"],
        "slot",
        "exactly_once",
        lambda key, a, b: f"{key[0]} decided {key[1]!r} in slot {a['slot']} and again in slot {b['slot']}",
        where=counted,
    )
    return [{**v, "nodes": v["nodes"].split(",")[0]} for v in found]  # one node, named once


def gapless_from(first: int) -> Checker:
    """The gapless-execution checker for a log whose first slot is `first`."""

    def check_gapless(tables: RunTables, scenario: Scenario) -> list[Violation]:
        """An honest node executes slots first..k with no hole (an installed state fills what it covers)."""
        decisions = tables.decisions
        if decisions.empty:
            return []
        steps = _steps(tables, first)
        out: list[tuple[int, Violation]] = []
        # Node by node (each node's state is its own), in time order; a violation keeps its place
        # in the run so that the output is ordered by time as a single pass over all nodes gives.
        for positions, times, kinds, incs, slots, judged, node in steps:
            # This node's incarnation, last slot in it (None: none yet), highest slot ever reached.
            current, prev, high = incs[0], None, first - 1
            for position, time_ms, kind, inc, slot, ok in zip(positions, times, kinds, incs, slots, judged, strict=True):
                if not kind:  # an installed state
                    high = max(high, slot)
                    prev = slot if prev is None else max(prev, slot)
                    continue
                if inc != current:
                    current, prev = inc, None  # a new incarnation may replay from any slot it reached
                expected = prev + 1 if prev is not None else min(slot, high + 1)
                if prev is not None and slot <= prev:
                    continue  # a repeat within an incarnation is the integrity checker's business
                if slot > expected and ok:
                    detail = f"{node} executed slot {slot} without slot{'s' if slot - expected > 1 else ''} {_span(expected, slot - 1)}"
                    out.append((position, {"time_ms": time_ms, "nodes": node, "rule": "gapless", "detail": detail}))
                prev = slot
                high = max(high, slot)
        out.sort(key=lambda item: item[0])
        return [violation for _, violation in out]

    check_gapless.__name__ = "check_gapless"
    return check_gapless


def _steps(tables: RunTables, first: int) -> Iterator[tuple[Any, ...]]:
    """Per node that is not plainly gapless, its executions and installed states in time order, as plain lists.

    Each node yields (position in the run's order, time, kind (1 a decision, 0 an installed
    state), incarnation, slot, judged, node). The run's order is by time, installed states first
    within an instant, then recording order. Built from numpy columns one node at a time, so a
    long run never holds a Python object per row of the whole table. A node is left out when
    whole-column arithmetic shows it has nothing to report (`_plain`): the walk costs a Python
    step per decision, 10-20% of checking a Raft run.
    """
    decisions, events = tables.decisions, tables.events
    judged = judged_mask(decisions, byzantine_windows(tables)).to_numpy()
    nodes = decisions["node"]
    times = decisions["time_ms"].to_numpy(dtype=np.float64)
    incs = decisions["incarnation"].to_numpy(dtype=np.int64)
    slots = decisions["slot"].to_numpy().astype(np.int64)
    kinds = np.ones(len(decisions), dtype=np.int8)
    if not events.empty and "slot" in events:
        installed = events[events["kind"] == STATE_INSTALLED]
        if not installed.empty:
            nodes = pd.concat([nodes, installed["node"]], ignore_index=True)
            times = np.concatenate([times, installed["time_ms"].to_numpy(dtype=np.float64)])
            incs = np.concatenate([incs, np.full(len(installed), -1, dtype=np.int64)])
            slots = np.concatenate([slots, installed["slot"].to_numpy().astype(np.int64)])
            kinds = np.concatenate([kinds, np.zeros(len(installed), dtype=np.int8)])
            judged = np.concatenate([judged, np.ones(len(installed), dtype=bool)])
    # Node names as codes (never a Python string per row), then the rows in the run's order.
    codes, names = pd.factorize(nodes, sort=True)
    del nodes
    order = np.lexsort((kinds, times))  # stable: recording order within an instant
    codes = codes[order]
    by_node = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[by_node], np.arange(len(names) + 1))
    plain = _plain(codes[by_node], kinds[order[by_node]], slots[order[by_node]], incs[order[by_node]], bounds, first)
    for code, name in enumerate(names):
        if plain[code]:
            continue
        positions = by_node[bounds[code] : bounds[code + 1]]
        rows = order[positions]
        yield (
            positions.tolist(),
            times[rows].tolist(),
            kinds[rows].tolist(),
            incs[rows].tolist(),
            slots[rows].tolist(),
            judged[rows].tolist(),
            str(name),
        )


def _plain(codes: np.ndarray, kinds: np.ndarray, slots: np.ndarray, incs: np.ndarray, bounds: np.ndarray, first: int) -> np.ndarray:
    """Per node, whether its rows (node by node, each in the run's order) plainly have no hole.

    Plain: a node's first decision is at most `first` (or it starts from an installed state),
    each later decision is one past the row before it, each installed state is at or past the
    row before it, and all its decisions are of one incarnation. The walk would find nothing
    there; a node that is not plain is walked (it may still be fine, say a replay after a crash).
    """
    nodes = len(bounds) - 1
    if not len(codes):
        return np.ones(nodes, dtype=bool)
    start = np.zeros(len(codes), dtype=bool)
    start[bounds[:-1][bounds[:-1] < len(codes)]] = True
    step = np.diff(slots, prepend=slots[0])
    decided = kinds == 1
    fine = np.where(decided, step == 1, step >= 0)
    fine[start] = ~decided[start] | (slots[start] <= first)
    # One incarnation per node among its decisions: the lowest and highest are equal.
    marked = np.where(decided, incs, np.iinfo(np.int64).max)
    low = np.minimum.reduceat(marked, bounds[:-1].clip(max=len(codes) - 1))
    high = np.maximum.reduceat(np.where(decided, incs, np.iinfo(np.int64).min), bounds[:-1].clip(max=len(codes) - 1))
    bad = np.add.reduceat((~fine).astype(np.int64), bounds[:-1].clip(max=len(codes) - 1))
    empty = bounds[1:] == bounds[:-1]
    return empty | ((bad == 0) & ((low == high) | (high < low)))


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}..{high}"


check_gapless = gapless_from(1)
"""Gapless execution for logs numbered from 1 (Raft, PBFT)."""


LOG_CHECKERS = (check_exactly_once, check_gapless)
"""Execution checkers of logs numbered from 1 (Raft, PBFT); Multi-Paxos uses `gapless_from(0)`."""
