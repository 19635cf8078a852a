"""Ballot weight: on hand-built tables, and seen to fire on a collector that misses double votes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from sim import run, scenario_from_dict
from sim.protocols.voting import Vote, Voting
from sim.protocols.voting.checks import check_ballot_weight
from sim.records import DECISION_COLUMNS, EVENT_COLUMNS, REQUEST_COLUMNS, RunTables


def scenario(**protocol: Any) -> Any:
    return scenario_from_dict(
        {
            "name": "v",
            "mechanism": "voting",
            "nodes": [{"name": "n0", "weight": 4}, *({"name": f"n{i}", "weight": 1} for i in range(1, 5))],
            "duration": "1s",
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
            "protocol": {"accuracy": 1.0, "timeout": "50ms", **protocol},
            "workload": {"kind": "questions", "every": "100ms", "truth": "yes"},
        }
    )


def tables(decisions: list[tuple[float, str, str, float]], ballots: list[tuple[float, str, str]]) -> RunTables:
    """Decisions (time, collector, qid, cast weight) of 'yes', and ballots cast (time, voter, qid)."""
    events = pd.DataFrame([(t, v, "ballot", q) for t, v, q in ballots], columns=[*EVENT_COLUMNS, "qid"])
    frame = pd.DataFrame([(t, n, q, "yes", 0, w) for t, n, q, w in decisions], columns=[*DECISION_COLUMNS, "cast_weight"])
    return RunTables(frame, pd.DataFrame(), events, pd.DataFrame(columns=REQUEST_COLUMNS))


def test_cast_weight_is_bounded_by_the_distinct_voters_so_far() -> None:
    """Three voters by t=5 allow weight 3, not 4; a voter's second ballot adds nothing; later ones don't count."""
    ballots = [(1, "n1", "q1"), (2, "n2", "q1"), (3, "n2", "q1"), (4, "n3", "q1"), (8, "n4", "q1"), (1, "n1", "q2")]
    assert check_ballot_weight(tables([(5, "n0", "q1", 3.0)], ballots), scenario()) == []
    [v] = check_ballot_weight(tables([(5, "n0", "q1", 4.0)], ballots), scenario())
    assert (v["time_ms"], v["nodes"], v["rule"]) == (5, "n0", "ballot_weight")
    assert "weight 4; voters so far weigh 3" in v["detail"]
    assert check_ballot_weight(tables([(5, "n0", "q1", 4.0)], ballots), scenario(authenticated=False)) == []


def test_cast_weight_uses_node_weights_under_the_weighted_rule() -> None:
    """Weighted: n0 (weight 4) and n1 allow 5."""
    ballots = [(1, "n0", "q1"), (2, "n1", "q1")]
    assert check_ballot_weight(tables([(5, "n0", "q1", 5.0)], ballots), scenario(rule="weighted")) == []
    assert check_ballot_weight(tables([(5, "n0", "q1", 5.0)], ballots), scenario()) != []


class CredulousVoting(Voting):
    """Broken: counts every distinct signed ballot, never checking whether its voter already voted."""

    def _count(self, vote: Vote) -> None:
        poll = self.polls.get(vote.qid)
        if poll is None or (vote.voter, vote.ballot) in poll.ballots:
            return
        poll.ballots[(vote.voter, vote.ballot)] = vote.answer
        self._evaluate(vote.qid, final=False)


def double_voters() -> Any:
    return scenario_from_dict(
        {
            "name": "double-voters",
            "mechanism": "voting",
            "nodes": 7,
            "duration": "1s",
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
            "protocol": {"accuracy": 1.0, "timeout": "50ms"},
            "faults": [{"byzantine": ["n5", "n6"], "behaviour": "double_vote"}],
            "workload": {"kind": "questions", "every": "100ms", "truth": "yes"},
        }
    )


def test_ballot_weight_fires_on_a_collector_that_misses_double_votes() -> None:
    """The real collector discards both ballots of a signed double vote; the credulous one counts both."""
    real = run(double_voters())
    assert real.violations.empty and real.summary["double_votes_detected"] > 0
    broken = run(double_voters(), protocol_cls=CredulousVoting)
    assert set(broken.violations["rule"]) == {"ballot_weight"}
