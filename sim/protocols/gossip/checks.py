"""Checkers and summary of the gossip mechanism, computed from the run's tables.

Nodes record their final store in a `final_state` event (`Protocol.on_stop`); which live nodes
can still reach each other at the end follows from the overlay (each node's `neighbours`) and
the partitions left unhealed in the events table.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.protocols.gossip.workload import written_values

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario

CLIENT_KINDS = ("client_request", "client_reply")
BACKGROUND_KINDS = ("digest", "rumor_poll")
"""Messages a node sends every round whether or not anything was written: anti-entropy's
digests and pull rumor mongering's polls. Everything else gossip sends carries (or answers)
a write, and is the cost of spreading it."""
LEVELS = (("50pct", 0.5), ("90pct", 0.9), ("99pct", 0.99), ("all", 1.0))


def _config(scenario: Scenario) -> Any:
    from sim.protocols.gossip import GossipConfig  # late: gossip imports this module

    return GossipConfig.model_validate(scenario.protocol)


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _end_partitions(events: pd.DataFrame) -> tuple[list[dict[str, int]], set[str]]:
    """Partitions still in force at the end (as node -> group maps) and nodes under an active cut."""
    partitions: dict[int, dict[str, int]] = {}
    cuts: dict[int, set[str]] = {}
    if events.empty:
        return [], set()
    # Partitions and cuts share one sequence of handles; a heal names the handle it undoes.
    for row in events[events["kind"].isin(["partition", "heal", "cut"])].to_dict("records"):
        if row["kind"] == "partition":
            groups = [g.split(",") for g in str(row["groups"]).split(" | ")]
            partitions[int(row["handle"])] = {name: gid for gid, group in enumerate(groups) for name in group if name}
        elif row["kind"] == "cut":
            cuts[int(row["handle"])] = set(str(row["src"]).split(",")) | set(str(row["dst"]).split(","))
        elif _present(row.get("handle")):
            partitions.pop(int(row["handle"]), None)
            cuts.pop(int(row["handle"]), None)
        else:
            partitions.clear()
            cuts.clear()
    cut_nodes: set[str] = set().union(*cuts.values()) if cuts else set()
    return [partitions[h] for h in sorted(partitions)], cut_nodes


def reachable_groups(tables: RunTables) -> tuple[dict[str, str], dict[str, int]]:
    """Final state of every live node, and a group label per live node that can reach others.

    Two live nodes share a group when a path of live nodes joins them over the overlay and
    no partition in force at the end separates any hop. Nodes under a one-way cut still in
    force are left out of the groups (they are not judged). Two checkers and the summary ask
    for it, so it is made once per events table and kept in `tables.derived` (read, never change it).
    """
    events = tables.events
    derived = getattr(tables, "derived", None)  # a `RunResult` (which reads through to its tables) has none
    if derived is None:
        return _reachable_groups(events)
    made = derived.get("gossip_reachable_groups")
    if made is not None and made[0] is events:
        return made[1]
    groups = _reachable_groups(events)
    derived["gossip_reachable_groups"] = (events, groups)
    return groups


def _reachable_groups(events: pd.DataFrame) -> tuple[dict[str, str], dict[str, int]]:
    if events.empty:
        return {}, {}
    final = events[events["kind"] == "final_state"]
    # Lists first: iterating an Arrow-backed column makes its Python values one at a time (100,000 nodes).
    states = dict(zip(final["node"].tolist(), final["state"].fillna("").tolist(), strict=True))
    partitions, cut_nodes = _end_partitions(events)
    live = [n for n in states if n not in cut_nodes]
    sig = {n: tuple(p.get(n) for p in partitions) for n in live} if partitions else dict.fromkeys(live, ())

    def compatible(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
        return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    # A group is labelled by the rank of its least node name among the groups' least names.
    if "neighbours" in final.columns and final["neighbours"].notna().any():
        parent = {n: n for n in live}
        neighbours = dict(zip(final["node"].tolist(), final["neighbours"].fillna("").tolist(), strict=True))
        for n in live:
            for m in str(neighbours[n]).split(","):
                if m in parent and compatible(sig[n], sig[m]):
                    union(n, m)
        roots = {n: find(n) for n in live}
    else:
        # Full mesh: nodes with one partition signature form a clique, so each signature class is
        # joined as a whole (by its least name) to the compatible classes: work per class, not per node.
        least: dict[tuple[Any, ...], str] = {}
        for n in live:
            held = least.get(sig[n])
            if held is None or n < held:
                least[sig[n]] = n
        parent = {m: m for m in least.values()}
        keys = list(least)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if compatible(a, b):
                    union(least[a], least[b])
        class_root = {key: find(m) for key, m in least.items()}
        roots = {n: class_root[sig[n]] for n in live}
    label = {r: i for i, r in enumerate(sorted(set(roots.values())))}
    return states, {n: label[roots[n]] for n in live}


def _first_difference(a: str, b: str) -> str:
    left = dict(item.split("=", 1) for item in a.split(";") if item)
    right = dict(item.split("=", 1) for item in b.split(";") if item)
    for key in sorted(set(left) | set(right)):
        if left.get(key) != right.get(key):
            return f"key {key}: {left.get(key, '<none>')} vs {right.get(key, '<none>')}"
    return "states differ"


def check_convergence(tables: RunTables, scenario: Scenario) -> list[dict[str, Any]]:
    """Anti-entropy: `settle` after the last write, connected live nodes hold identical stores.

    Rumor mongering promises no such thing (its residue is a metric, not a violation), and a
    run that ends before the last write plus `settle` gets no verdict.
    """
    cfg = _config(scenario)
    if cfg.style != "anti_entropy":
        return []
    submits = tables.requests["submit_ms"]
    last = float(submits.max()) if len(submits) else 0.0
    if last + cfg.settle > scenario.duration:
        return []
    states, groups = reachable_groups(tables)
    by_group: dict[int, list[str]] = {}
    for node in sorted(groups, key=lambda n: (groups[n], n)):
        by_group.setdefault(groups[node], []).append(node)
    out: list[dict[str, Any]] = []
    for members in by_group.values():
        counts = pd.Series([states[m] for m in members]).value_counts(sort=True)
        if len(counts) <= 1:
            continue
        common = str(counts.index[0])
        odd = [m for m in members if states[m] != common]
        ref = next(m for m in members if states[m] == common)
        out.append(
            {
                "time_ms": float(scenario.duration),
                "nodes": f"{ref},{odd[0]}",
                "rule": "convergence",
                "detail": f"{len(odd)} of {len(members)} connected nodes differ, e.g. {odd[0]} vs {ref}: "
                + _first_difference(states[odd[0]], common),
            }
        )
    return out


def check_gossip_validity(tables: RunTables, scenario: Scenario) -> list[dict[str, Any]]:
    """No node learns or holds a value that no one wrote."""
    written = set(tables.requests["cmd_id"]) | written_values(scenario)
    out: list[dict[str, Any]] = []
    decisions = tables.decisions
    if not decisions.empty:
        bad = decisions[~decisions["value"].isin(written)].drop_duplicates(["value"])
        out += [
            {"time_ms": float(r.time_ms), "nodes": r.node, "rule": "validity", "detail": f"{r.slot}: {r.value!r} was never written"}
            for r in bad.itertuples()
        ]
    states, _ = reachable_groups(tables)
    seen: set[str] = set()
    for node in sorted(states):
        for item in filter(None, states[node].split(";")):
            value = item.split("=", 1)[1].rsplit("@", 1)[0]
            if value not in written and value not in seen:
                seen.add(value)
                out.append(
                    {"time_ms": float(scenario.duration), "nodes": node, "rule": "validity", "detail": f"holds {item!r}, never written"}
                )
    return out


def informed_times(tables: RunTables, scenario: Scenario) -> list[tuple[str, float, np.ndarray, float]]:
    """Per update: slot, write time (ms), delays until each target knew it, and residue.

    A target is a live node able to reach the writer at the end (see `reachable_groups`); its
    delay is how long after the write it knew the write or a newer one of the key (inf: never).
    The residue is the fraction of all live nodes that never knew it.
    """
    decisions = tables.decisions
    states, groups = reachable_groups(tables)
    out: list[tuple[str, float, np.ndarray, float]] = []
    if decisions.empty or not states:
        return out
    names = scenario.node_names
    index = {n: i for i, n in enumerate(names)}
    live_idx = np.array(sorted(index[n] for n in states))
    for _, rows in decisions.groupby("key", sort=True):
        updates = rows.drop_duplicates("slot").sort_values(["version", "writer"], kind="stable")
        col = {slot: j for j, slot in enumerate(updates["slot"])}
        known = np.full((len(names), len(updates)), np.inf)
        np.minimum.at(known, (rows["node"].map(index).to_numpy(), rows["slot"].map(col).to_numpy()), rows["time_ms"].to_numpy(float))
        # Knowing a newer write of the key counts as informed: last writer wins makes the old one moot.
        known = np.minimum.accumulate(known[:, ::-1], axis=1)[:, ::-1]
        for j, row in enumerate(updates.itertuples()):
            writer = str(row.writer)
            start = known[index[writer], j] if writer in index else float(rows.loc[rows["slot"] == row.slot, "time_ms"].min())
            group = groups.get(writer)
            targets = [index[n] for n in groups if groups[n] == group] if group is not None else list(live_idx)
            residue = float(np.mean(~np.isfinite(known[live_idx, j])))
            out.append((str(row.slot), float(start), known[targets, j] - start, residue))
    return out


def _spread(tables: RunTables, scenario: Scenario, interval: float) -> dict[str, list[float]]:
    """Per update: time and rounds until a fraction of its reachable live nodes knew it, and residue."""
    out: dict[str, list[float]] = {f"{name}_{unit}": [] for name, _ in LEVELS for unit in ("ms", "rounds")}
    out["residue"] = []
    for _, start, delays, residue in informed_times(tables, scenario):
        times = np.sort(delays)
        reached = times[np.isfinite(times)]
        for name, frac in LEVELS:
            need = max(1, math.ceil(frac * len(times) - 1e-9))
            if len(reached) >= need:
                t = float(reached[need - 1])
                out[f"{name}_ms"].append(t)
                out[f"{name}_rounds"].append(math.floor((start + t) / interval + 1e-9) - math.floor(start / interval + 1e-9))
        out["residue"].append(residue)
    return out


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 6) if values else None


def gossip_summary(tables: RunTables, scenario: Scenario) -> dict[str, Any]:
    """Spread times (ms and rounds) to 50/90/99/100% of reachable live nodes, residue, background and spreading costs."""
    cfg = _config(scenario)
    spread = _spread(tables, scenario, cfg.interval)
    summary: dict[str, Any] = {}
    for name, _ in LEVELS:
        summary[f"time_to_{name}_ms_mean"] = _mean(spread[f"{name}_ms"])
        summary[f"time_to_{name}_rounds_mean"] = _mean(spread[f"{name}_rounds"])
    summary["residue_mean"] = _mean(spread["residue"])
    updates = int(tables.decisions["slot"].nunique()) if not tables.decisions.empty else 0
    summary["updates"] = updates
    summary["updates_reached_all"] = len(spread["all_ms"])
    messages = tables.messages
    gossip = messages[~messages["type"].isin(CLIENT_KINDS)]
    n = scenario.n
    summary["messages_per_node"] = round(float(gossip["sent"].sum()) / n, 6)
    summary["bytes_per_node"] = round(float(gossip["bytes_sent"].sum()) / n, 6)
    # The totals above grow with the run's length; split them into the rounds' background cost
    # (per node and round) and the cost of spreading each write (per write, and per node).
    background = gossip[gossip["type"].isin(BACKGROUND_KINDS)]
    spread = gossip[~gossip["type"].isin(BACKGROUND_KINDS)]
    rounds = scenario.duration / cfg.interval
    summary["background_messages_per_node_per_round"] = round(float(background["sent"].sum()) / n / rounds, 6)
    summary["background_bytes_per_node_per_round"] = round(float(background["bytes_sent"].sum()) / n / rounds, 6)
    per_write = float(spread["sent"].sum()) / updates if updates else None
    summary["spread_messages_per_write"] = round(per_write, 6) if per_write is not None else None
    summary["spread_messages_per_write_per_node"] = round(per_write / n, 6) if per_write is not None else None
    summary["spread_bytes_per_write"] = round(float(spread["bytes_sent"].sum()) / updates, 6) if updates else None
    summary["duplicates_per_node"] = round(tables.counters.get("gossip_duplicates", 0) / n, 6)
    # For an epidemic, "decided" means delivered everywhere it can go: the fraction of writes
    # that reached every live node able to reach the writer (a newer write of the key counts).
    summary["liveness"] = round(summary["updates_reached_all"] / updates, 6) if updates else None
    return summary
