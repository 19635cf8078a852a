"""Voting's checkers: ballot weight and early decisions.

Ballot weight: with signed ballots, an honest collector's decision counts each voter at most once.

Every voter records a `ballot` event when it casts its ballot on a question. A decision's
`cast_weight` must not exceed the weight of the distinct voters that had cast a ballot on that
question by then: more means some voter was counted twice (a double vote that went undetected)
or a ballot was invented. Unsigned ballots are not judged: there a double vote counts by design.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING

from sim.checkers.agreement import Violation, faulty_nodes, honest_decisions

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


def check_early_decision(tables: RunTables, scenario: Scenario) -> list[Violation]:
    """An early decision (before the poll's timeout) is what the honest ballots give once all are in.

    Deciding early claims that no ballot still unseen can change the result: not the uncast
    voters, whatever they vote or if they abstain, nor up to `max_faulty` faulty voters whose
    counted ballots are voided. Every honest voter's ballot (each records a `ballot` event with
    its answer), with the faulty voters' ballots voided, is one such completion, so the rule
    applied to it must give the early answer. Judged only where that completion is one the rule
    promises: the faulty voters weigh no more than `max_faulty`, and their ballots are signed (or
    there are none), since an unsigned second ballot counts by design.
    """
    from sim.protocols._tally import tolerated_faulty
    from sim.protocols.voting import VotingConfig

    config = VotingConfig.model_validate(scenario.protocol)
    decisions = honest_decisions(tables)
    if decisions.empty or "early" not in decisions:
        return []
    early = decisions[decisions["early"].fillna(False).astype(bool)]
    if early.empty:
        return []
    weight = {s.name: (s.weight if config.rule == "weighted" else 1.0) for s in scenario.node_specs}
    rule = config.make_rule()
    budget = config.max_faulty if config.max_faulty is not None else tolerated_faulty(list(weight.values()), rule)
    faulty = faulty_nodes(tables)
    if faulty and (not config.authenticated or sum(weight.get(n, 0.0) for n in faulty) > budget + EPS):
        return []
    events = tables.events
    honest: dict[str, dict[str, str]] = {}  # qid -> voter -> answer (an honest voter casts one ballot per question)
    if not events.empty and "answer" in events:
        for r in events[events["kind"] == "ballot"].itertuples():
            if r.node not in faulty:
                honest.setdefault(str(r.qid), {}).setdefault(str(r.node), str(r.answer))
    eligible = sum(weight.values())
    out: list[Violation] = []
    for d in early.sort_values(["time_ms", "node"], kind="stable").itertuples():
        tally: dict[str, float] = {}
        for voter, answer in sorted(honest.get(str(d.slot), {}).items()):
            tally[answer] = tally.get(answer, 0.0) + weight.get(voter, 0.0)
        final, reason = rule.outcome(tally, eligible, final=True)
        if final != d.value:
            cast = ", ".join(f"{a} {w:g}" for a, w in sorted(tally.items())) or "none"
            out.append(
                {
                    "time_ms": float(d.time_ms),
                    "nodes": d.node,
                    "rule": "early_decision",
                    "detail": f"{d.node} decided {d.slot!r} = {d.value!r} early; the honest ballots ({cast}) give {final or reason}",
                }
            )
    return out
