"""Generic checkers over the decisions table: agreement, integrity and validity, honest nodes only."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
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
    byzantine = events["kind"] == "byzantine"
    if not byzantine.any():  # the usual run: skip the selection, which costs more than the test
        return set()
    return set(events.loc[byzantine, "node"])


def honest_decisions(tables: RunTables) -> pd.DataFrame:
    """The decisions of honest nodes only."""
    faulty = faulty_nodes(tables)
    decisions = tables.decisions
    return decisions[~decisions["node"].isin(faulty)] if faulty else decisions


def honest_events(tables: RunTables, kind: str, needs: str, by: str = "node") -> pd.DataFrame:
    """The events of `kind` whose `by` column names no faulty node; none if the table lacks the column `needs`."""
    events = tables.events
    if events.empty or needs not in events:
        return events.iloc[:0]  # no rows: the caller's `first_conflicts` then finds none
    chosen = events[events["kind"] == kind]
    faulty = faulty_nodes(tables)
    return chosen[~chosen[by].isin(faulty)] if faulty else chosen


def check_agreement(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """No two honest nodes decide different values for the same slot (state machine safety)."""
    decisions = honest_decisions(tables)
    return first_conflicts(
        decisions,
        ["slot"],
        "value",
        "agreement",
        lambda key, a, b: f"slot {key[0]}: {a['node']} decided {a['value']!r}, {b['node']} decided {b['value']!r}",
    )


def first_conflicts(
    rows: pd.DataFrame,
    keys: list[str],
    column: str,
    rule: str,
    detail: Callable[[tuple[Any, ...], Any, Any], str],
    where: np.ndarray | None = None,
) -> list[Violation]:
    """One violation per group of `keys` whose `column` takes more than one value.

    It names the earliest row of the group and the earliest row that disagrees with it; the
    violation's time is when the disagreement first appeared. `where` (a boolean per row) limits
    the check to some rows without copying the table.
    """
    if rows.empty:
        return []
    rows = rows[_conflicting(rows, keys, column, where)]  # almost always none: the groupby below stays small
    if rows.empty:
        return []
    out: list[Violation] = []
    distinct = rows.groupby(keys, sort=True)[column].nunique()
    for key in distinct[distinct > 1].index:
        key = key if isinstance(key, tuple) else (key,)
        mask = np.logical_and.reduce([rows[k] == v for k, v in zip(keys, key, strict=True)])
        group = rows[mask].sort_values(["time_ms", "node"], kind="stable")
        first = group.iloc[0]
        other = group[group[column] != first[column]].iloc[0]
        out.append(
            {
                "time_ms": float(other["time_ms"]),
                "nodes": f"{first['node']},{other['node']}",
                "rule": rule,
                "detail": detail(key, first, other),
            }
        )
    return out


def _conflicting(rows: pd.DataFrame, keys: list[str], column: str, where: np.ndarray | None) -> np.ndarray:
    """Which rows belong to a group of `keys` whose `column` takes more than one value.

    Works on integer codes (8 bytes a row and column) rather than grouping the table itself, which
    on a long run's million decision rows cost more memory than the table. Missing keys and values
    count as a groupby and `nunique` count them: not at all.
    """
    keyed = np.ones(len(rows), dtype=bool) if where is None else where.copy()
    group = np.zeros(len(rows), dtype=np.int64)
    span = 1
    for name in keys:
        codes, uniques = pd.factorize(rows[name])
        span *= len(uniques) + 1
        keyed &= codes >= 0
        group *= len(uniques) + 1  # in place: a mixed-radix number, one per key tuple
        group += codes
        del codes, uniques
    values, uniques = pd.factorize(rows[column])
    radix = len(uniques) + 1
    if span * radix >= 2**62:  # the codes overflowed: keep every row (the plain groupby decides)
        return np.ones(len(rows), dtype=bool) if where is None else where
    pairs = group * radix  # then the distinct (key tuple, value) pairs, sorted in place
    pairs += values
    pairs = pairs[keyed & (values >= 0)]
    del values, uniques
    pairs.sort()
    pairs = pairs[np.concatenate(([True], pairs[1:] != pairs[:-1]))] if len(pairs) else pairs
    pairs //= radix
    groups, counts = np.unique(pairs, return_counts=True)
    return keyed & np.isin(group, groups[counts > 1])


def check_integrity(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """An honest node decides each slot at most once per incarnation, and the same value in every incarnation.

    A recovered node may decide a slot again (Raft re-applies its log after a restart), but only
    the value it decided before: a decision is a durable fact, whatever the node forgot in a crash.
    """
    decisions = honest_decisions(tables)
    if decisions.empty:
        return []
    again = decisions.duplicated(["node", "incarnation", "slot"], keep="first")
    out = [
        {"time_ms": float(r.time_ms), "nodes": r.node, "rule": "integrity", "detail": f"slot {r.slot} decided again ({r.value!r})"}
        for r in decisions[again].itertuples()
    ]
    if (decisions["incarnation"] > 0).any():  # within one incarnation, a second value is a repeat, reported above
        out += _changed_after_recovery(decisions, where=~again.to_numpy())
    return sorted(out, key=lambda v: (v["time_ms"], v["nodes"]))


def _changed_after_recovery(decisions: pd.DataFrame, where: np.ndarray) -> list[Violation]:
    """One violation per (node, slot) decided with different values in different incarnations.

    `where` leaves out the repeats within one incarnation, already reported as such.
    """

    def detail(key: tuple[Any, ...], first: Any, other: Any) -> str:
        return (
            f"slot {key[1]} decided {other['value']!r} in incarnation {other['incarnation']}"
            f" after {first['value']!r} in incarnation {first['incarnation']}"
        )

    changed = first_conflicts(decisions, ["node", "slot"], "value", "integrity", detail, where=where)
    for violation in changed:
        violation["nodes"] = violation["nodes"].partition(",")[0]  # one node, named once
    return changed


def isin(column: pd.Series, values: pd.Series) -> np.ndarray:
    """Which entries of `column` occur among `values`, as a boolean array (a missing entry occurs nowhere).

    Two Arrow text columns (pandas' default for text) are compared in Arrow against the distinct
    values: pandas' `isin` converts both to Python strings first, which cost a 5-node Raft run
    5% of its time end to end and ~60 MB on a long run's journal.
    """
    if all(isinstance(s.dtype, pd.StringDtype) and s.dtype.storage == "pyarrow" for s in (column, values)):
        import pyarrow.compute as pc

        wanted = pc.drop_null(pc.unique(values.array.__arrow_array__()))
        found = pc.is_in(column.array.__arrow_array__(), value_set=wanted)
        return found.to_numpy(zero_copy_only=False).astype(bool, copy=False)
    return column.isin(values.dropna().unique()).to_numpy(dtype=bool) & column.notna().to_numpy(dtype=bool)


def check_validity(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """Every value an honest node decides was submitted by a client, or is a no-op."""
    decisions = honest_decisions(tables)
    if decisions.empty:
        return []
    values = decisions["value"]
    valid = isin(values, tables.requests["cmd_id"]) | (values == NOOP).to_numpy(dtype=bool, na_value=False)
    if valid.all():
        return []
    bad = decisions[~valid].drop_duplicates(["value"])
    return [
        {"time_ms": float(r.time_ms), "nodes": r.node, "rule": "validity", "detail": f"slot {r.slot}: {r.value!r} was never proposed"}
        for r in bad.itertuples()
    ]


GENERIC_CHECKERS = (check_agreement, check_integrity, check_validity)
