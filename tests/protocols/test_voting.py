"""Voting: tally rules, double votes, weights, faulty voters, shipped scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim import load_scenario, run
from sim.protocols._tally import Rule, parse_fraction
from sim.protocols.base import ClientRequest
from sim.protocols.voting import Question, Vote, Voting
from sim.scenario import ScenarioError, scenario_from_dict
from sim.testing import make_node

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
NODES = [f"n{i}" for i in range(5)]


def voting(**data: object):
    base = {
        "name": "v",
        "mechanism": "voting",
        "nodes": 7,
        "duration": "2s",
        "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}},
        "protocol": {"accuracy": 1.0, "timeout": "50ms"},
        "workload": {"kind": "questions", "every": "100ms", "truth": "yes"},
    }
    for key, value in data.items():
        base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return scenario_from_dict(base)


def test_fractions_and_rule_thresholds():
    """'2/3' parses; majority is strict, supermajority inclusive, unanimous needs everyone cast."""
    assert parse_fraction("2/3") == pytest.approx(2 / 3)
    majority = Rule("majority", 0.5)
    assert majority.outcome({"yes": 2, "no": 2}, 4, final=True) == (None, "tie")
    assert majority.outcome({"yes": 3, "no": 1}, 4, final=True) == ("yes", "")
    assert majority.outcome({"yes": 2}, 5, final=False) == (None, "open")
    assert majority.outcome({"yes": 3}, 5, final=False) == ("yes", "")  # unbeatable: decide early
    super_ = Rule("supermajority", 2 / 3)
    assert super_.outcome({"yes": 4, "no": 2}, 6, final=True) == ("yes", "")
    assert super_.outcome({"yes": 3, "no": 2}, 6, final=True) == (None, "threshold")
    assert Rule("unanimous", 1.0).outcome({"yes": 4}, 5, final=False) == (None, "open")
    assert Rule("majority", 0.5, quorum=0.8).outcome({"yes": 3}, 5, final=True) == (None, "quorum")


def test_coordinator_collects_and_decides_once_unbeatable():
    """The coordinator broadcasts the question, counts its own ballot, and decides at a strict majority."""
    node, ctx = make_node(Voting, "n0", NODES, accuracy=1.0)
    node.on_request(ClientRequest("client0", "q1", "truth=yes"))
    assert len([m for _, m in ctx.sent if isinstance(m, Question)]) == 4
    node.on_message("n1", Vote("q1", "n1", "yes", 1, True))
    assert ctx.decided == []
    node.on_message("n2", Vote("q1", "n2", "yes", 1, True))
    assert [(d[0], d[1]) for d in ctx.decided] == [("q1", "yes")]


def test_double_vote_is_caught_and_discarded_when_signed():
    """Two different signed ballots from one voter: both are discarded and the double vote is counted."""
    node, ctx = make_node(Voting, "n0", NODES, accuracy=0.0, answers=["yes", "no"])
    node.on_request(ClientRequest("client0", "q1", "truth=yes"))  # our own ballot: 'no' (accuracy 0)
    node.on_message("n1", Vote("q1", "n1", "no", 7, True))
    node.on_message("n1", Vote("q1", "n1", "no", 8, True))
    assert ctx.counters == {"double_votes_detected": 1}
    node.on_message("n1", Vote("q1", "n1", "no", 9, True))  # a caught voter stays out
    assert ctx.counters == {"double_votes_detected": 1}
    node.on_message("n2", Vote("q1", "n2", "no", 1, True))
    assert ctx.decided == []  # without n1, 'no' has 2 of 5: not yet a majority
    unsigned, uctx = make_node(Voting, "n0", NODES, accuracy=0.0, authenticated=False)
    unsigned.on_request(ClientRequest("client0", "q1", "truth=yes"))
    unsigned.on_message("n1", Vote("q1", "n1", "no", 7, False))
    unsigned.on_message("n1", Vote("q1", "n1", "no", 7, False))  # an identical copy is a duplicate, ignored
    assert uctx.decided == []
    unsigned.on_message("n1", Vote("q1", "n1", "no", 8, False))  # unsigned: a second ballot counts
    assert [(d[0], d[1]) for d in uctx.decided] == [("q1", "no")]


def test_double_voters_win_without_signatures_and_are_caught_with_them():
    """3 of 7 double-voting against the truth carry the vote when unsigned; with signatures they are discarded."""
    faults = [{"byzantine": ["n4", "n5", "n6"], "behaviour": "double_vote"}]
    signed = run(voting(faults=faults, protocol={"authenticated": True})).summary
    unsigned = run(voting(faults=faults, protocol={"authenticated": False})).summary
    assert signed["double_votes_detected"] > 0 and signed["decision_accuracy"] == 1.0
    assert "double_votes_detected" not in unsigned and unsigned["decision_accuracy"] < 0.5


def test_weighted_voting_decides_by_weight_not_head_count():
    """One heavy honest voter outweighs four light liars under `weighted`; by head count the liars win."""
    nodes = [{"name": "big", "weight": 5}] + [{"name": f"s{i}", "weight": 1} for i in range(4)]
    faults = [{"byzantine": ["s0", "s1", "s2", "s3"], "behaviour": "corrupt"}]
    common = {"nodes": nodes, "faults": faults}
    weighted = run(voting(protocol={"rule": "weighted", "coordinator": "big"}, **common)).summary
    heads = run(voting(protocol={"rule": "majority", "coordinator": "big"}, **common)).summary
    assert weighted["decisions"] > 10 and weighted["decision_accuracy"] == 1.0
    assert heads["decisions"] > 10 and heads["decision_accuracy"] == 0.0


def test_silent_voters_break_the_participation_quorum():
    """With 3 of 7 abstaining and a 2/3 participation quorum, questions time out undecided."""
    faults = [{"byzantine": ["n4", "n5", "n6"], "behaviour": "silent"}]
    s = run(voting(faults=faults, protocol={"quorum": "2/3", "rule": "unanimous"})).summary
    assert s["decisions"] == 0 and s["no_decision_quorum"] >= 15


def test_collect_all_every_node_decides():
    """With `collect: all` votes are broadcast and every node decides every question."""
    result = run(voting(protocol={"collect": "all"}))
    per_question = result.decisions.groupby("slot")["node"].nunique()
    assert len(per_question) >= 15 and (per_question == 7).all()
    assert result.summary["decision_accuracy"] == 1.0 and result.violations.empty


def test_bad_voting_settings_are_rejected():
    """A threshold on a fixed rule, a bad fraction and an unknown coordinator are load errors."""
    with pytest.raises(ScenarioError, match="threshold"):
        voting(protocol={"rule": "majority", "threshold": "2/3"})
    with pytest.raises(ScenarioError, match="fraction"):
        voting(protocol={"rule": "supermajority", "threshold": "two thirds"})
    with pytest.raises(ScenarioError, match="protocol.coordinator"):
        voting(protocol={"coordinator": "zz"})
    with pytest.raises(ScenarioError, match="workload.truth"):
        voting(workload={"kind": "questions", "every": "100ms", "truth": "maybe"})


# --- shipped scenarios ----------------------------------------------------------------------


def test_scenarios_majority_vs_supermajority_with_a_third_faulty():
    """A third voting against: majority still decides almost always and mostly right; 2/3 often cannot decide."""
    majority = run(load_scenario(SCENARIOS / "voting-majority-third-faulty.yaml")).summary
    supermajority = run(load_scenario(SCENARIOS / "voting-supermajority-third-faulty.yaml")).summary
    assert majority["no_decision"] <= 2 and majority["decision_accuracy"] > 0.85
    assert supermajority["no_decision"] > 0.3 * supermajority["questions"]
    assert supermajority["decision_accuracy"] >= majority["decision_accuracy"]


def test_scenario_weighted():
    """The shipped weighted scenario decides right >90% of the time; the same voters by head count never do."""
    data = yaml.safe_load((SCENARIOS / "voting-weighted.yaml").read_text())
    weighted = run(scenario_from_dict(data)).summary
    data["protocol"]["rule"] = "majority"
    del data["protocol"]["threshold"]
    heads = run(scenario_from_dict(data)).summary
    assert weighted["decision_accuracy"] > 0.9 and heads["decision_accuracy"] < 0.1
