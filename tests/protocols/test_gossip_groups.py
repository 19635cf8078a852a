"""The gossip checkers' reachable groups: the per-class full-mesh computation labels nodes as the per-node union-find did."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.protocols.gossip.checks import _end_partitions, reachable_groups


def reference_groups(tables: Any) -> tuple[dict[str, str], dict[str, int]]:
    """`reachable_groups` as it was: union-find over every node (the reference).

    Two live nodes share a group when a path of live nodes joins them over the overlay and
    no partition in force at the end separates any hop. Nodes under a one-way cut still in
    force are left out of the groups (they are not judged).
    """
    events = tables.events
    if events.empty:
        return {}, {}
    final = events[events["kind"] == "final_state"]
    states = dict(zip(final["node"], final["state"].fillna(""), strict=True))
    partitions, cut_nodes = _end_partitions(events)
    live = [n for n in states if n not in cut_nodes]
    sig = {n: tuple(p.get(n) for p in partitions) for n in live}

    def compatible(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
        return all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))

    parent = {n: n for n in live}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    if "neighbours" in final.columns and final["neighbours"].notna().any():
        neighbours = dict(zip(final["node"], final["neighbours"].fillna(""), strict=True))
        for n in live:
            for m in str(neighbours[n]).split(","):
                if m in parent and compatible(sig[n], sig[m]):
                    union(n, m)
    else:
        # Full mesh: nodes with one partition signature form a clique; join compatible classes.
        classes: dict[tuple[Any, ...], str] = {}
        for n in live:
            if sig[n] in classes:
                union(classes[sig[n]], n)
            else:
                classes[sig[n]] = n
        keys = list(classes)
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if compatible(a, b):
                    union(classes[a], classes[b])
    roots = sorted({find(n) for n in live})
    label = {r: i for i, r in enumerate(roots)}
    return states, {n: label[find(n)] for n in live}


HALVES = [[f"n{i}" for i in range(6)], [f"n{i}" for i in range(6, 12)]]
THIRDS = [[f"n{i}" for i in range(0, 12, 3)], [f"n{i}" for i in range(1, 12, 3)]]  # n2, n5... in neither group


@pytest.mark.parametrize(
    ("faults", "judged", "groups"),
    [
        ([], 12, 1),
        ([{"at": "10ms", "partition": HALVES}], 12, 2),
        ([{"at": "10ms", "partition": HALVES}, {"at": "20ms", "partition": THIRDS}], 12, 2),
        # n4 is down at the end and the cut's ends are not judged; nodes in neither third join both.
        ([{"at": "10ms", "partition": THIRDS}, {"at": "30ms", "crash": "n4"}, {"at": "40ms", "cut": {"from": ["n1"], "to": ["n7"]}}], 9, 1),
        ([{"at": "10ms", "partition": HALVES, "until": "100ms"}, {"at": "20ms", "partition": [["n11"], ["n10"]]}], 12, 1),
    ],
)
def test_full_mesh_groups_are_those_of_the_union_find_over_every_node(faults: list[dict[str, Any]], judged: int, groups: int) -> None:
    """Same states, same label per node, for overlapping partitions, a crash and a one-way cut in force at the end."""
    scenario = scenario_from_dict(
        {
            "name": "groups",
            "mechanism": "gossip",
            "nodes": 12,
            "seed": 2,
            "duration": "300ms",
            "protocol": {"style": "anti_entropy", "interval": "20ms", "settle": "100ms"},
            "faults": faults,
            "workload": {"kind": "updates", "updates": [{"at": "5ms", "node": "n0", "key": "a", "value": "1"}]},
        }
    )
    tables = run(scenario)
    expected = reference_groups(tables)
    assert reachable_groups(tables) == expected
    assert (len(expected[1]), len(set(expected[1].values()))) == (judged, groups)


def test_groups_are_made_once_per_events_table() -> None:
    """Both checkers and the summary share one computation; a new events table gets its own."""
    scenario = scenario_from_dict(
        {
            "name": "groups-once",
            "mechanism": "gossip",
            "nodes": 6,
            "seed": 3,
            "duration": "200ms",
            "protocol": {"style": "anti_entropy", "interval": "20ms", "settle": "100ms"},
            "faults": [{"at": "10ms", "partition": [["n0", "n1", "n2"], ["n3", "n4", "n5"]]}],
            "workload": {"kind": "updates", "updates": [{"at": "5ms", "node": "n0", "key": "a", "value": "1"}]},
        }
    )
    tables = run(scenario).tables
    first = reachable_groups(tables)
    assert reachable_groups(tables) is first
    assert first == reference_groups(tables)
    # A changed events table (n5 gone from the final states) is not answered from the old one.
    tables.events = tables.events[~((tables.events["kind"] == "final_state") & (tables.events["node"] == "n5"))]
    again = reachable_groups(tables)
    assert again is not first
    assert "n5" not in again[0] and "n5" in first[0]
    assert again == reference_groups(tables)
