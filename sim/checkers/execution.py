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
from collections.abc import Callable
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING

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
    rows = events[events["kind"] == "byzantine"]
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
    rows = decisions[decisions["value"] != NOOP]
    if "duplicate" in rows:
        rows = rows[rows["duplicate"] != True]  # noqa: E712 (None where a mechanism never says)
    rows = rows[judged_mask(rows, byzantine_windows(tables))]
    found = first_conflicts(
        rows,
        ["node", "value"],
        "slot",
        "exactly_once",
        lambda key, a, b: f"{key[0]} decided {key[1]!r} in slot {a['slot']} and again in slot {b['slot']}",
    )
    return [{**v, "nodes": v["nodes"].split(",")[0]} for v in found]  # one node, named once


def gapless_from(first: int) -> Checker:
    """The gapless-execution checker for a log whose first slot is `first`."""

    def check_gapless(tables: RunTables, scenario: Scenario) -> list[Violation]:
        """An honest node executes slots first..k with no hole (an installed state fills what it covers)."""
        decisions = tables.decisions
        if decisions.empty:
            return []
        judged = judged_mask(decisions, byzantine_windows(tables))
        # (time, order, node, incarnation, slot, judged): installed states first within an instant.
        # Built column-wise: a long run has millions of rows, and a namedtuple per row is the slow part.
        times, names, incarnations, slots = (decisions[name].tolist() for name in ("time_ms", "node", "incarnation", "slot"))
        ones = [1] * len(times)
        steps = list(
            zip(map(float, times), ones, map(str, names), map(int, incarnations), map(int, slots), map(bool, judged.tolist()), strict=True)
        )
        events = tables.events
        if not events.empty and "slot" in events:
            installed = events[events["kind"] == STATE_INSTALLED]
            steps += [(float(r.time_ms), 0, str(r.node), -1, int(r.slot), True) for r in installed.itertuples()]
        steps.sort(key=itemgetter(0, 1))  # stable: recording order within an instant
        nodes: dict[str, _Progress] = {}
        out: list[Violation] = []
        for time_ms, order, node, inc, slot, ok in steps:
            p = nodes.setdefault(node, _Progress(inc, None, first - 1))
            if order == 0:
                p.high = max(p.high, slot)
                p.prev = slot if p.prev is None else max(p.prev, slot)
                continue
            if inc != p.inc:
                p.inc, p.prev = inc, None  # a new incarnation may replay from any slot it reached
            expected = p.prev + 1 if p.prev is not None else min(slot, p.high + 1)
            if p.prev is not None and slot <= p.prev:
                continue  # a repeat within an incarnation is the integrity checker's business
            if slot > expected and ok:
                detail = f"{node} executed slot {slot} without slot{'s' if slot - expected > 1 else ''} {_span(expected, slot - 1)}"
                out.append({"time_ms": time_ms, "nodes": node, "rule": "gapless", "detail": detail})
            p.prev = slot
            p.high = max(p.high, slot)
        return out

    check_gapless.__name__ = "check_gapless"
    return check_gapless


@dataclass
class _Progress:
    """One node's execution so far: its incarnation, last slot in it, highest slot ever reached."""

    inc: int
    prev: int | None
    high: int


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}..{high}"


check_gapless = gapless_from(1)
"""Gapless execution for logs numbered from 1 (Raft, PBFT)."""


LOG_CHECKERS = (check_exactly_once, check_gapless)
"""Execution checkers of logs numbered from 1 (Raft, PBFT); Multi-Paxos uses `gapless_from(0)`."""
