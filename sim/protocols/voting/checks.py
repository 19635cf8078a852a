"""Ballot weight: with signed ballots, an honest collector's decision counts each voter at most once.

Every voter records a `ballot` event when it casts its ballot on a question. A decision's
`cast_weight` must not exceed the weight of the distinct voters that had cast a ballot on that
question by then: more means some voter was counted twice (a double vote that went undetected)
or a ballot was invented. Unsigned ballots are not judged: there a double vote counts by design.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from sim.checkers.agreement import Violation, honest_decisions

if TYPE_CHECKING:
    from sim.records import RunTables
    from sim.scenario import Scenario

EPS = 1e-6  # cast_weight is rounded to 6 decimals


def check_ballot_weight(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """Each honest decision's cast weight is at most the weight of the distinct voters who had voted."""
    from sim.protocols.voting import VotingConfig

    config = VotingConfig.model_validate(scenario.protocol)
    decisions = honest_decisions(tables)
    events = tables.events
    if not config.authenticated or decisions.empty or "cast_weight" not in decisions:
        return []
    weight = {s.name: (s.weight if config.rule == "weighted" else 1.0) for s in scenario.node_specs}
    cast: dict[str, tuple[list[float], list[str]]] = {}  # qid -> ballot times and voters, in time order
    if not events.empty:
        for r in events[events["kind"] == "ballot"].sort_values(["time_ms"], kind="stable").itertuples():
            times, voters = cast.setdefault(str(r.qid), ([], []))
            times.append(float(r.time_ms))
            voters.append(str(r.node))
    out: list[Violation] = []
    for d in decisions.sort_values(["time_ms", "node"], kind="stable").itertuples():
        times, voters = cast.get(str(d.slot), ([], []))
        possible = sum(weight.get(v, 0.0) for v in set(voters[: bisect_right(times, float(d.time_ms))]))
        if float(d.cast_weight) > possible + EPS:
            out.append(
                {
                    "time_ms": float(d.time_ms),
                    "nodes": d.node,
                    "rule": "ballot_weight",
                    "detail": f"{d.node} decided {d.slot!r} on weight {float(d.cast_weight):g}; voters so far weigh {possible:g}",
                }
            )
    return out
