"""Generic checkers over the decisions table: agreement, integrity and validity, honest nodes only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from sim.protocols.base import NOOP

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario

Violation = dict[str, Any]


def faulty_nodes(tables: RunTables) -> set[str]:
    """Nodes that were made byzantine at some point of the run (they are not judged)."""
    events = tables.events
    if events.empty:
        return set()
    return set(events.loc[events["kind"] == "byzantine", "node"])


def honest_decisions(tables: RunTables) -> pd.DataFrame:
    """The decisions of honest nodes only."""
    faulty = faulty_nodes(tables)
    decisions = tables.decisions
    return decisions[~decisions["node"].isin(faulty)] if faulty else decisions


def check_agreement(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """No two honest nodes decide different values for the same slot (state machine safety)."""
    decisions = honest_decisions(tables)
    if decisions.empty:
        return []
    out: list[Violation] = []
    per_slot = decisions.groupby("slot", sort=True)["value"].nunique()
    for slot in per_slot[per_slot > 1].index:
        rows = decisions[decisions["slot"] == slot].sort_values(["time_ms", "node"], kind="stable")
        first = rows.iloc[0]
        other = rows[rows["value"] != first["value"]].iloc[0]
        out.append(
            {
                "time_ms": float(other["time_ms"]),
                "nodes": f"{first['node']},{other['node']}",
                "rule": "agreement",
                "detail": f"slot {slot}: {first['node']} decided {first['value']!r}, {other['node']} decided {other['value']!r}",
            }
        )
    return out


def check_integrity(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """An honest node decides each slot at most once per incarnation (a recovered node may replay)."""
    decisions = honest_decisions(tables)
    if decisions.empty:
        return []
    dupes = decisions[decisions.duplicated(["node", "incarnation", "slot"], keep="first")]
    return [
        {"time_ms": float(r.time_ms), "nodes": r.node, "rule": "integrity", "detail": f"slot {r.slot} decided again ({r.value!r})"}
        for r in dupes.itertuples()
    ]


def check_validity(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """Every value an honest node decides was submitted by a client, or is a no-op."""
    decisions = honest_decisions(tables)
    if decisions.empty:
        return []
    proposed = set(tables.requests["cmd_id"]) | {NOOP}
    bad = decisions[~decisions["value"].isin(proposed)].drop_duplicates(["value"])
    return [
        {"time_ms": float(r.time_ms), "nodes": r.node, "rule": "validity", "detail": f"slot {r.slot}: {r.value!r} was never proposed"}
        for r in bad.itertuples()
    ]


GENERIC_CHECKERS = (check_agreement, check_integrity, check_validity)
