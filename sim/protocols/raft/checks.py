"""Raft's safety properties (Figure 3 of the paper), checked from the journal.

Evidence comes from two places: each decision carries the entry's `term` and `chain` (a CRC
over the deciding node's log up to that index), and each `leader` event carries the new
leader's `last_index`, `last_term`, `chain` at its last index, and `runs` (where each term
starts in its log). State machine safety is the generic agreement checker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.checkers.agreement import faulty_nodes, first_conflicts, honest_decisions

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario

Violation = dict[str, Any]


def _leader_events(tables: RunTables) -> pd.DataFrame:
    events = tables.events
    if events.empty or "term" not in events:
        return pd.DataFrame(columns=["time_ms", "node", "kind", "term"])
    leaders = events[events["kind"] == "leader"]
    faulty = faulty_nodes(tables)
    return leaders[~leaders["node"].isin(faulty)] if faulty else leaders


def check_election_safety(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """At most one leader is elected in a given term."""
    leaders = _leader_events(tables)
    out: list[Violation] = []
    for term, rows in leaders.groupby("term", sort=True):
        names = list(dict.fromkeys(rows.sort_values(["time_ms", "node"], kind="stable")["node"]))
        if len(names) > 1:
            second = rows[rows["node"] == names[1]].iloc[0]
            out.append(
                {
                    "time_ms": float(second["time_ms"]),
                    "nodes": ",".join(names),
                    "rule": "election_safety",
                    "detail": f"term {int(term)} has {len(names)} leaders: {', '.join(names)}",
                }
            )
    return out


def _points(tables: RunTables) -> pd.DataFrame:
    """Every (node, index, term, chain) sample of a log: decisions and new leaders' last entries."""
    frames = []
    decisions = honest_decisions(tables)
    if not decisions.empty and "chain" in decisions:
        d = decisions[["time_ms", "node", "slot", "term", "chain"]].rename(columns={"slot": "index"})
        frames.append(d)
    leaders = _leader_events(tables)
    if not leaders.empty and "last_index" in leaders:
        led = leaders[leaders["last_index"] > 0]
        frames.append(
            led[["time_ms", "node", "last_index", "last_term", "chain"]].rename(columns={"last_index": "index", "last_term": "term"})
        )
    if not frames:
        return pd.DataFrame(columns=["time_ms", "node", "index", "term", "chain"])
    points = pd.concat(frames, ignore_index=True)
    return points.astype({"index": "int64", "term": "int64", "chain": "int64"})


def check_log_matching(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """Two logs with an entry of the same index and term are identical up to that index."""
    return first_conflicts(
        _points(tables),
        ["index", "term"],
        "chain",
        "log_matching",
        lambda key, a, b: f"index {key[0]} term {key[1]}: logs of {a['node']} and {b['node']} differ at or before it",
    )


def _term_at(runs: str, last_index: int, indexes: np.ndarray) -> np.ndarray:
    """The term of each index in a log described by its term runs (0 where the log is too short)."""
    if not runs:
        return np.zeros(len(indexes), dtype=np.int64)
    pairs = [item.split("@") for item in runs.split(";")]
    starts = np.array([int(p[0]) for p in pairs], dtype=np.int64)
    terms = np.array([int(p[1]) for p in pairs], dtype=np.int64)
    found = terms[np.searchsorted(starts, indexes, side="right") - 1]
    return np.where(indexes <= last_index, found, 0)


def check_leader_completeness(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """An entry committed in term T is in the log of every leader of a term above T (section 5.4.3).

    The term in which an index was committed is the lowest `commit_term` any node reports for it:
    the committing leader reports its own term, followers report the term of the leader that told
    them (never lower). An older-term leader elected late (by delayed votes) is not judged against
    entries a newer term committed. Time plays no part: the property holds at every election.
    """
    decisions = honest_decisions(tables)
    leaders = _leader_events(tables)
    if decisions.empty or leaders.empty or "runs" not in leaders or "term" not in decisions:
        return []
    by_term = "commit_term" if "commit_term" in decisions else "term"
    committed = decisions.groupby("slot", sort=True).agg(term=("term", "first"), commit_term=(by_term, "min")).reset_index()
    indexes = committed["slot"].to_numpy(dtype=np.int64)
    terms = committed["term"].to_numpy(dtype=np.int64)
    commit_terms = committed["commit_term"].to_numpy(dtype=np.int64)
    ordered = leaders.sort_values(["time_ms", "node"], kind="stable")
    if "snapshot_index" not in ordered:
        ordered = ordered.assign(snapshot_index=0)
    out: list[Violation] = []
    for leader in ordered.itertuples():
        # Entries inside the leader's snapshot are committed state it holds; their terms are gone.
        compacted = 0 if pd.isna(leader.snapshot_index) else int(leader.snapshot_index)
        before = (commit_terms < leader.term) & (indexes > compacted)
        if not before.any():
            continue
        have = _term_at(leader.runs if isinstance(leader.runs, str) else "", int(leader.last_index), indexes[before])
        missing = np.flatnonzero(have != terms[before])
        if missing.size:
            first = int(missing[0])
            index, term = int(indexes[before][first]), int(terms[before][first])
            out.append(
                {
                    "time_ms": float(leader.time_ms),
                    "nodes": leader.node,
                    "rule": "leader_completeness",
                    "detail": f"leader of term {int(leader.term)} lacks committed index {index} (term {term}); {missing.size} missing",
                }
            )
    return out


RAFT_CHECKERS = (check_election_safety, check_log_matching, check_leader_completeness)
