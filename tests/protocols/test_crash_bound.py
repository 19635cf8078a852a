"""`quorum.crash_f`: the crashes a cluster survives, whichever nodes they hit, under its configured quorums."""

from __future__ import annotations

from itertools import combinations

import pytest

from sim.protocols.quorum import Quorums, crash_f


def _survives_every(rules: Quorums, names: list[str], crashed: int) -> bool:
    """Whether every set of `crashed` nodes leaves a live phase-1 and a live phase-2 quorum (brute force)."""
    for down in combinations(names, crashed):
        live = [name for name in names if name not in down]
        if not (rules.phase1_ok(live) and rules.phase2_ok(live)):
            return False
    return True


def _brute_force(rules: Quorums, names: list[str]) -> int:
    return max(k for k in range(len(names) + 1) if all(_survives_every(rules, names, j) for j in range(k + 1)))


@pytest.mark.parametrize("n", range(1, 9))
def test_counted_quorums_match_brute_force_over_every_crash_set(n: int) -> None:
    """Every intersecting (|Q1| + |Q2| > n) pair of sizes, and majorities, against all crash sets."""
    names = [f"n{i}" for i in range(n)]
    assert crash_f(n) == _brute_force(Quorums.majority(n), names) == (n - 1) // 2
    for phase1 in range(1, n + 1):
        for phase2 in range(n + 1 - phase1, n + 1):
            assert crash_f(n, Quorums(phase1, phase2)) == _brute_force(Quorums(phase1, phase2), names), (phase1, phase2)


def test_a_large_phase1_quorum_leaves_fewer_crashes_than_a_majority() -> None:
    """FPaxos {phase1: 4, phase2: 2} of 5: one crash, not floor((5 - 1) / 2) = 2; the bound is the larger quorum either way."""
    assert crash_f(5, Quorums(4, 2)) == 1
    assert crash_f(5, Quorums(2, 4)) == 1
    assert crash_f(5, Quorums(3, 3)) == 2
    assert crash_f(5, Quorums(5, 1)) == 0


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ([10, 1, 1, 1, 1], 0),  # the 10 alone is more than half: crashing it leaves no quorum
        ([3, 1, 1, 1, 1], 1),  # any one down leaves 4 of 7 or more; the 3 and a 1 leave 3 of 7
        ([1, 1, 1, 1, 1], 2),  # equal weights are majorities
        ([2, 2, 1, 1], 1),  # a 2 down leaves 4 of 6; both 2s down leave 2 of 6
        ([1, 1, 1, 1], 1),  # an even split is no quorum: weight must be strictly more than half
    ],
)
def test_weighted_quorums_count_the_crashes_of_any_nodes_heaviest_first(weights: list[float], expected: int) -> None:
    """With weights the bound is the crashes survived whichever nodes they hit, so the heaviest go first."""
    named = {f"w{i}": float(w) for i, w in enumerate(weights)}
    rules = Quorums.weighted(named)
    assert crash_f(len(named), rules) == _brute_force(rules, list(named)) == expected
