"""Drawing fault schedules within (or just beyond) a mechanism's declared fault bound.

A schedule is plain scenario data: the base scenario with its `faults` replaced by drawn
entries and its `seed` replaced by a drawn seed. Every draw comes from one `random.Random`
seeded from the explore seed and the schedule's index, so schedule k is the same whatever
else runs, in whatever order.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

FAULT_KINDS = ("crash", "churn", "partition", "isolate_leader", "flap_leader", "cut", "link", "byzantine")
"""What a drawn entry can be; `byzantine` only where the mechanism tolerates byzantine nodes (or beyond the bound)."""


@dataclass(frozen=True)
class FaultBound:
    """A mechanism's fault model for one cluster: `kind` is crash, byzantine or none; at most `f` faulty.

    `honest` names nodes the model assumes honest (e.g. voting's coordinator): they may crash
    but are never drawn byzantine.
    """

    kind: str
    f: int
    honest: tuple[str, ...] = ()

    def limit(self, beyond: bool = False) -> int:
        """The most faulty nodes a schedule holds at once: f, or f + 1 beyond the bound (none for kind none)."""
        if self.kind == "none":
            return 0
        return self.f + 1 if beyond else self.f

    def describe(self, beyond: bool = False) -> str:
        """E.g. 'at most 1 byzantine-or-crashed node', or '... (n0 honest)' where the model assumes some nodes honest.

        Beyond the bound it names the f + 1 faulty nodes drawn, not the f tolerated (it said "at most 2
        crashed nodes at once" for a --beyond-bound exploration that crashes 3).
        """
        n = self.limit(beyond)
        plural = "s" if n != 1 else ""
        past = f", one more than the {self.f} tolerated" if beyond else ""
        if self.kind == "byzantine":
            honest = f" ({', '.join(self.honest)} honest)" if self.honest else ""
            return f"at most {n} byzantine-or-crashed node{plural}{past}{honest}"
        if self.kind == "crash":
            # draw_schedule: beyond the bound, half the schedules of a crash-tolerant mechanism make one of them a liar.
            liar = "; one of them may lie instead of crashing" if beyond else ""
            return f"at most {n} crashed node{plural} at once{past}{liar}"
        return "no faulty nodes (network faults only)"


def schedule_rng(explore_seed: int, index: int) -> random.Random:
    """The stream schedule `index` draws from: independent of every other schedule."""
    state = np.random.SeedSequence([explore_seed, index]).generate_state(2)
    return random.Random(int(state[0]) << 32 | int(state[1]))


def _ms(value: float) -> str:
    return f"{int(round(value))}ms"


def behaviour_params(behaviour: str, nodes: list[str], liar: str, rng: random.Random) -> dict[str, Any]:
    """Parameters for a drawn byzantine behaviour: each setting it reads, drawn (empty when it reads none)."""
    if behaviour == "omit":
        return {"fraction": rng.choice((0.3, 0.6, 0.9))}
    if behaviour == "delay":
        return {"delay": _ms(rng.choice((20, 100, 400)))}
    if behaviour == "fork":
        # Depth 3 undoes what a two-chain committed; depth 4 conflicts with the lock (see sim/protocols/hotstuff/lies.py).
        return {"depth": rng.choice((3, 4))}
    if behaviour == "forge":
        others = [n for n in nodes if n != liar]
        return {"as": rng.choice(others)} if others else {}
    return {}


def _liars(nodes: list[str], count: int, honest: tuple[str, ...], rng: random.Random) -> list[str]:
    """`count` byzantine nodes; half the time the first eligible one (the initial leader, primary or proposer) among them."""
    pool = [n for n in nodes if n not in honest]
    count = min(count, len(pool))
    if count == 0:
        return []
    if rng.random() < 0.5:
        return sorted([pool[0], *rng.sample(pool[1:], count - 1)])
    return sorted(rng.sample(pool, count))


@dataclass
class _Budget:
    """Concurrent faulty nodes, as intervals: a crash entry counts while it lasts."""

    f: int
    intervals: list[tuple[float, float]]

    def fits(self, start: float, end: float, fixed: int) -> bool:
        # The count at any instant is `fixed` (byzantine nodes) plus the crash intervals covering it;
        # checking at every interval start inside [start, end) is enough.
        points = [start] + [s for s, _ in self.intervals if start <= s < end]
        return all(fixed + 1 + sum(1 for s, e in self.intervals if s <= p < e) <= self.f for p in points)


def draw_schedule(
    base: dict[str, Any],
    nodes: list[str],
    duration: float,
    bound: FaultBound,
    behaviours: tuple[str, ...],
    rng: random.Random,
    beyond: bool = False,
    max_faults: int = 5,
    leads: bool = True,
) -> dict[str, Any]:
    """Scenario data for one drawn schedule.

    Args:
        base: the base scenario's data (its own faults are replaced).
        nodes: the node names.
        duration: the run's length in ms; faults strike in its first 60% and heal by then.
        bound: the mechanism's declared fault model.
        behaviours: byzantine behaviours the mechanism accepts.
        rng: this schedule's stream.
        beyond: draw f + 1 faulty nodes instead of at most f (to show where the mechanism breaks); for a
            crash-tolerant mechanism, half the schedules make one of them a liar.
        max_faults: the most entries one schedule holds.
        leads: whether the mechanism ever has a leader; where it never does, no entry names `leader`
            (it would name no node, and loading refuses it), so no leader is crashed, isolated or flapped.

    """
    data = copy.deepcopy(base)
    data["seed"] = rng.randrange(2**31)
    limit = bound.limit(beyond)  # the same number `describe` prints
    faults: list[dict[str, Any]] = []
    byzantine: list[str] = []
    # Beyond the bound a crash-tolerant mechanism meets liars too: one liar is already past its model.
    liars = limit if bound.kind == "byzantine" else (1 if beyond and bound.kind == "crash" else 0)
    chance = 0.6 if not beyond else (0.9 if bound.kind == "byzantine" else 0.5)
    if liars > 0 and behaviours and rng.random() < chance:
        count = liars if beyond else rng.randint(1, liars)
        byzantine = _liars(nodes, count, bound.honest, rng)
        behaviour = rng.choice(sorted(behaviours))
        entry: dict[str, Any] = {"byzantine": byzantine, "behaviour": behaviour}
        params = behaviour_params(behaviour, nodes, byzantine[0], rng) if byzantine else {}
        if params:
            entry["params"] = params
        if rng.random() < 0.3:
            start = rng.uniform(0.05, 0.4) * duration
            entry["from"] = _ms(start)
            entry["until"] = _ms(start + rng.uniform(0.1, 0.3) * duration)
        if byzantine:
            faults.append(entry)
    budget = _Budget(limit, [])
    fixed = len(byzantine)
    window_end = 0.6 * duration
    kinds = ["crash", "churn", "partition", "isolate_leader", "flap_leader", "cut", "link"]
    if not leads:
        kinds = [kind for kind in kinds if not kind.endswith("_leader")]
    for _ in range(rng.randint(1, max_faults)):
        kind = rng.choice(kinds)
        at = rng.uniform(0.05, 0.5) * duration
        length = rng.uniform(0.02, 0.2) * duration
        end = min(at + length, window_end)
        if end - at < 1.0:
            continue
        timing = {"at": _ms(at), "for": _ms(end - at)}
        if kind == "crash":
            if not budget.fits(at, end, fixed):
                continue
            budget.intervals.append((at, end))
            # `leads and` first: a mechanism with a leader draws exactly what it drew before.
            target = "leader" if leads and rng.random() < 0.4 else rng.choice([n for n in nodes if n not in byzantine] or nodes)
            faults.append({**timing, "crash": target})
        elif kind == "churn":
            # One node at a time goes down and comes back, at random, for the whole window.
            if not budget.fits(at, end, fixed):
                continue
            budget.intervals.append((at, end))
            mtbf = rng.uniform(0.05, 0.2) * duration
            faults.append(
                {"churn": {"mtbf": _ms(mtbf), "mttr": _ms(mtbf / rng.choice((2, 4))), "max_down": 1}, "start": _ms(at), "until": _ms(end)}
            )
        elif kind == "partition":
            shuffled = rng.sample(nodes, len(nodes))
            cut_at = rng.randint(1, len(nodes) - 1) if len(nodes) > 1 else 1
            groups = [sorted(shuffled[:cut_at]), sorted(shuffled[cut_at:])]
            if all(groups):
                faults.append({**timing, "partition": groups})
        elif kind == "flap_leader":
            # The leader cut off (or crashed) again and again, each new one soon after its election:
            # the schedules that leave entries of many terms on minorities (Raft's Figure 8).
            # Each leader gets only a moment connected: long enough to be elected and to take
            # commands, too short to replicate them everywhere.
            every = rng.uniform(0.025, 0.1) * duration
            hold = every * rng.uniform(0.85, 0.97)
            at = rng.uniform(0.05, 0.25) * duration  # many leaders in a row: start early, last long
            end = min(at + rng.uniform(0.3, 0.5) * duration, window_end - hold)
            if end - at < every:
                continue
            timing = {"every": _ms(every), "start": _ms(at), "until": _ms(end), "for": _ms(hold)}
            if rng.random() < 0.7:
                faults.append({**timing, "partition": [["leader"], ["rest"]]})
            elif budget.fits(at, end + hold, fixed):
                # One node down at a time (each comes back before the next crash).
                budget.intervals.append((at, end + hold))
                faults.append({**timing, "crash": "leader"})
        elif kind == "isolate_leader":
            # The commonest experiment: the leader stays up, believing it leads, cut off from the rest.
            faults.append({**timing, "partition": [["leader"], ["rest"]]})
        elif kind == "cut":
            src, dst = rng.sample(nodes, 2) if len(nodes) > 1 else (nodes[0], nodes[0])
            if src != dst:  # a lone node has no pair to cut: a cut from it to itself does nothing, and is refused
                faults.append({**timing, "cut": {"from": src, "to": dst}})
        else:
            src, dst = rng.sample(nodes, 2) if len(nodes) > 1 else (nodes[0], nodes[0])
            change: dict[str, Any] = {"from": src, "to": dst}
            which = rng.choice(("loss", "duplicate", "delay", "reorder"))
            if which == "loss":
                change["loss"] = round(rng.choice((0.2, 0.5, 1.0)), 2)
            elif which == "duplicate":
                change["duplicate"] = round(rng.choice((0.1, 0.3)), 2)
            elif which == "delay":
                change["delay"] = _ms(rng.choice((20, 50, 200)))
            else:  # a wide spread of delays delivers messages out of order
                change["delay"] = {"dist": "uniform", "low": "0ms", "high": _ms(rng.choice((20, 100)))}
            if src != dst:  # drawn all the same, so that the draws after it stay those of before
                faults.append({**timing, "set_link": change})
    data["faults"] = faults
    return data


def fault_kinds(faults: list[dict[str, Any]]) -> str:
    """The kinds of a schedule's entries, sorted and distinct, comma-separated (for grouping)."""
    names = set()
    for entry in faults:
        for key in ("crash", "recover", "partition", "cut", "set_link", "heal", "churn", "byzantine"):
            if key in entry:
                name = f"{key}:{entry.get('behaviour')}" if key == "byzantine" else key
                names.add(f"{name}/every" if "every" in entry else name)
    return ",".join(sorted(names)) or "none"


def _span(entry: dict[str, Any]) -> tuple[float, float] | None:
    """When a crash-like entry (crash or churn) is in force, in ms; None for other entries."""
    from sim.units import parse_duration

    if "churn" in entry:
        return parse_duration(entry.get("start", 0)), parse_duration(entry["until"]) if "until" in entry else float("inf")
    if "crash" in entry and "at" in entry:
        start = parse_duration(entry["at"])
        return start, start + parse_duration(entry["for"]) if "for" in entry else float("inf")
    if "crash" in entry and "every" in entry:
        # Repeated crashes of one node at a time: in force from the first until the last recovery.
        start = parse_duration(entry.get("start", entry["every"]))
        if "for" not in entry or "until" not in entry:
            return start, float("inf")
        return start, parse_duration(entry["until"]) + parse_duration(entry["for"])
    return None


def faulty_at_once(faults: list[dict[str, Any]]) -> int:
    """The most faulty nodes at one instant: byzantine nodes plus crash and churn entries in force (one node each)."""
    byzantine = {name for entry in faults if "byzantine" in entry for name in entry["byzantine"]}
    spans = [span for span in map(_span, faults) if span is not None]
    crashed = max((sum(1 for s, e in spans if s <= point < e) for point, _ in spans), default=0)
    return len(byzantine) + crashed


def within(bound: FaultBound, faults: list[dict[str, Any]]) -> bool:
    """Whether a schedule stays inside `bound` (network faults are always allowed; nodes assumed honest never lie)."""
    if any(name in bound.honest for entry in faults if "byzantine" in entry for name in entry["byzantine"]):
        return False
    if bound.kind == "crash" and any("byzantine" in entry for entry in faults):
        return False
    return faulty_at_once(faults) <= (bound.f if bound.kind != "none" else 0)
