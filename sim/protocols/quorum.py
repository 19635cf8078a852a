"""Quorum arithmetic shared by the mechanisms: majority, supermajority, weighted and flexible.

The API is pure functions and one small class:

- `majority(n)`: the smallest count that is more than half of `n` (crash-tolerant quorums).
- `byzantine_f(n, f)` and `bft_quorum(n, f)`: the faults a BFT cluster tolerates (its
  configured `protocol.f`, else the most n allows) and its quorums of ceil((n + f + 1) / 2)
  out of `n >= 3f + 1` (2f + 1 when n = 3f + 1); any two share an honest node for every such n.
- `weighted_reached(voters, weights, fraction)`: whether the voters' weight exceeds a fraction
  of the total weight (stake- or weight-based voting).
- `flexible_problem(n, phase1, phase2)`: why a pair of flexible (FPaxos) quorum sizes is unsafe,
  or None when every phase-1 quorum meets every phase-2 quorum.
- `Quorums`: the phase-1 and phase-2 rules of one run, asked with `phase1_ok(voters)` and
  `phase2_ok(voters)`.
- `crash_f(n, quorums)`: the crashes a crash-tolerant cluster survives whichever nodes they hit:
  a live phase-1 and a live phase-2 quorum must remain (floor((n - 1) / 2) with majorities).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field


def majority(n: int) -> int:
    """The smallest number of nodes that is more than half of `n`."""
    return n // 2 + 1


def byzantine_f(n: int, f: int | None = None) -> int:
    """The byzantine nodes a cluster of `n` tolerates: its configured `f`, else the largest f with n >= 3f + 1.

    A configured f sizes the quorums for f faults, so the cluster tolerates f, not the more that n
    alone would allow; and never more than n allows (loading refuses n < 3f + 1 anyway). Every
    mechanism with a `protocol.f` and `consim explore`'s bound read it here.
    """
    most = max((n - 1) // 3, 0)
    return most if f is None else min(f, most)


def bft_quorum(n: int, f: int | None = None) -> int:
    """The BFT quorum ceil((n + f + 1) / 2) (f derived from n when not given).

    Two quorums of q out of n overlap in 2q - n >= f + 1 nodes, so in at least one honest one;
    and n - f >= q, so the honest nodes alone can form one. Fixed 2f + 1 quorums meet both only
    when n = 3f + 1 (with n = 5, f = 1 two quorums of 3 share a single, possibly faulty, node).
    """
    return (n + byzantine_f(n, f) + 2) // 2


def weighted_reached(voters: Collection[str], weights: Mapping[str, float], fraction: float = 0.5) -> bool:
    """Whether the voters hold strictly more than `fraction` of the total weight."""
    total = sum(weights.values())
    have = sum(weights.get(v, 0.0) for v in sorted(voters))
    return have > fraction * total


def flexible_problem(n: int, phase1: int, phase2: int) -> str | None:
    """Why phase-1/phase-2 quorum sizes are unusable with `n` nodes (None when they are fine)."""
    for name, size in (("phase1", phase1), ("phase2", phase2)):
        if not 1 <= size <= n:
            return f"{name} quorum {size} must be between 1 and N={n}"
    if phase1 + phase2 <= n:
        return f"|Q1|+|Q2| = {phase1}+{phase2} must exceed N={n}, or a new leader can miss a chosen value"
    return None


@dataclass(frozen=True)
class Quorums:
    """The quorum rules of one run: counts per phase, or weighted majorities when `weights` is set."""

    phase1: int
    phase2: int
    weights: Mapping[str, float] | None = field(default=None)

    @classmethod
    def majority(cls, n: int) -> Quorums:
        """Simple majorities in both phases."""
        return cls(majority(n), majority(n))

    @classmethod
    def weighted(cls, weights: Mapping[str, float]) -> Quorums:
        """Weighted majorities in both phases (counts are unused)."""
        return cls(0, 0, dict(weights))

    def phase1_ok(self, voters: Collection[str]) -> bool:
        """Whether `voters` form a phase-1 (prepare/promise) quorum."""
        if self.weights is not None:
            return weighted_reached(voters, self.weights)
        return len(voters) >= self.phase1

    def phase2_ok(self, voters: Collection[str]) -> bool:
        """Whether `voters` form a phase-2 (accept/accepted) quorum."""
        if self.weights is not None:
            return weighted_reached(voters, self.weights)
        return len(voters) >= self.phase2


def crash_f(n: int, quorums: Quorums | None = None) -> int:
    """The most of `n` nodes that may crash, whichever they are, leaving a live phase-1 and a live phase-2 quorum.

    Flexible Paxos (Howard et al. 2016) stays live while both a Q1 (leader change) and a Q2 (steady
    state) of live nodes remain, so counts give n - max(|Q1|, |Q2|): 5 nodes with |Q1| = 4 survive
    one crash, not the two a majority would. With weights the worst case crashes the heaviest
    nodes, so the count is of arbitrary nodes (10, 1, 1, 1, 1 survives none: the 10 alone is a
    majority of weight). Majorities (the default) give floor((n - 1) / 2). `consim explore`, compare
    and reports read a crash-tolerant mechanism's bound here.
    """
    rules = quorums if quorums is not None else Quorums.majority(n)
    if rules.weights is None:
        return max(n - max(rules.phase1, rules.phase2), 0)
    weights = rules.weights
    # Crashing the heaviest first is the worst case for "whichever they are"; ties broken by name so
    # the answer never depends on dict order.
    heaviest_first = sorted(weights, key=lambda name: (-weights[name], name))
    crashed = 0
    while crashed < len(heaviest_first):
        live = heaviest_first[crashed + 1 :]
        if not (rules.phase1_ok(live) and rules.phase2_ok(live)):
            break
        crashed += 1
    return crashed


def bft_size_problem(n: int, f: int | None) -> list[tuple[str, str]]:
    """The load-time check of a BFT mechanism's `protocol.f`: n must be at least 3f + 1 (none when f is derived)."""
    if f is not None and n < 3 * f + 1:
        return [("protocol.f", f"f={f} needs at least {3 * f + 1} nodes (n >= 3f + 1), got {n}")]
    return []
