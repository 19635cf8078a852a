"""Ballot weight: on hand-built tables, and seen to fire on a collector that misses double votes."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from sim import run, scenario_from_dict
from sim.protocols.voting import Vote, Voting
from sim.protocols.voting.checks import check_ballot_weight, check_early_decision
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


# --- early decisions ------------------------------------------------------------------------------


def early_tables(
    decisions: list[tuple[float, str, str, str, bool]], ballots: list[tuple[float, str, str, str]], liars: tuple[str, ...] = ()
) -> RunTables:
    """Decisions (time, collector, qid, answer, early) and honest ballots (time, voter, qid, answer); `liars` made byzantine at 0."""
    rows = [(t, v, "ballot", q, a) for t, v, q, a in ballots] + [(0.0, n, "byzantine", None, None) for n in liars]
    events = pd.DataFrame(rows, columns=[*EVENT_COLUMNS, "qid", "answer"])
    frame = pd.DataFrame([(t, n, q, a, 0, 1.0, e) for t, n, q, a, e in decisions], columns=[*DECISION_COLUMNS, "cast_weight", "early"])
    return RunTables(frame, pd.DataFrame(), events, pd.DataFrame(columns=REQUEST_COLUMNS))


def seven(**protocol: Any) -> Any:
    data = {
        "name": "v",
        "mechanism": "voting",
        "nodes": 7,
        "duration": "1s",
        "protocol": protocol,
        "workload": {"kind": "questions", "every": "100ms"},
    }
    return scenario_from_dict(data)


def test_an_early_decision_must_be_what_the_honest_ballots_give() -> None:
    """Early 'no' while the honest ballots end 4-1 for 'yes' fires; a decision at the timeout, or one that agrees, does not."""
    ballots = [(1, f"n{i}", "q1", "yes") for i in range(4)] + [(2, "n4", "q1", "no")]
    [v] = check_early_decision(early_tables([(3, "n0", "q1", "no", True)], ballots), seven())
    assert (v["rule"], v["nodes"]) == ("early_decision", "n0")
    assert "the honest ballots (no 1, yes 4) give yes" in v["detail"]
    assert check_early_decision(early_tables([(3, "n0", "q1", "no", False)], ballots), seven()) == []
    assert check_early_decision(early_tables([(3, "n0", "q1", "yes", True)], ballots), seven()) == []


def test_early_decisions_are_judged_only_where_the_rule_promises_them() -> None:
    """Liars beyond max_faulty, or liars whose unsigned second ballots count, void the promise: no verdict."""
    ballots = [(1, "n1", "q1", "yes"), (1, "n2", "q1", "yes"), (1, "n3", "q1", "yes")]
    decided = [(3, "n0", "q1", "no", True)]
    assert check_early_decision(early_tables(decided, ballots, liars=("n5", "n6")), seven()) != []
    assert check_early_decision(early_tables(decided, ballots, liars=("n5", "n6")), seven(max_faulty=1)) == []
    assert check_early_decision(early_tables(decided, ballots, liars=("n5", "n6")), seven(authenticated=False)) == []
    assert check_early_decision(early_tables(decided, ballots), seven(authenticated=False)) != []


class TrustingVoting(Voting):
    """Broken: decides early as if no counted ballot could be voided (a faulty voter's first ballot carries it)."""

    def _unseen(self, poll: Any) -> Any:
        from sim.protocols._tally import Unseen

        return Unseen()


def liars_against_the_truth(behaviour: str) -> Any:
    return scenario_from_dict(
        {
            "name": "liars",
            "mechanism": "voting",
            "nodes": 7,
            "seed": 1,
            "duration": "1s",
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "20ms"}},
            "protocol": {"accuracy": 0.7, "timeout": "100ms"},
            "faults": [{"byzantine": ["n4", "n5", "n6"], "behaviour": behaviour}],
            "workload": {"kind": "questions", "every": "50ms", "truth": "yes"},
        }
    )


@pytest.mark.parametrize("behaviour", ["corrupt", "double_vote"])
def test_early_decision_fires_on_a_collector_that_trusts_every_counted_ballot(behaviour: str) -> None:
    """Three liars of seven (the most majority tolerates): the real collector's early decisions hold, the trusting one's do not."""
    real = run(liars_against_the_truth(behaviour))
    assert real.violations.empty
    broken = run(liars_against_the_truth(behaviour), protocol_cls=TrustingVoting)
    assert set(broken.violations["rule"]) == {"early_decision"}
