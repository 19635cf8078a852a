"""Raft's checkers are seen to fail on deliberately broken Rafts, and stay quiet on the real one."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from sim import run, scenario_from_dict
from sim.protocols.base import ClientReply, ClientRequest, Message
from sim.protocols.raft import Raft
from sim.protocols.raft.messages import RequestVote, RequestVoteResponse
from sim.workload import Client


class BroadcastClient(Client):
    """Sends each command to every node once (so whoever believes it leads appends it); never retries."""

    def submit(self, cmd_id: str, op: str) -> None:
        for node in self.nodes:
            self.ctx.send(node, ClientRequest(self.ctx.name, cmd_id, op))

    def on_message(self, src: str, msg: Message) -> None:
        if isinstance(msg, ClientReply) and msg.ok:
            self.ctx.complete(msg.cmd_id)


class ScriptedRaft(Raft):
    """The correct Raft, driven by the broadcast client of the Figure 8 script."""

    @classmethod
    def client_class(cls) -> type[Client]:
        return BroadcastClient


class CountingRaft(ScriptedRaft):
    """Broken: commits any entry stored on a majority, whatever its term (violates section 5.4.2)."""

    def _may_commit(self, index: int) -> bool:
        return True


class DoubleVoteRaft(Raft):
    """Broken: grants every vote request with an up-to-date log, even after voting in that term."""

    def _on_request_vote(self, src: str, msg: RequestVote) -> None:
        self._observe_term(msg.term)
        granted = msg.term == self.term and self.role != "leader" and self._log_ok(msg.last_log_index, msg.last_log_term)
        if granted:
            self.reset_at = self.ctx.now
        self.ctx.send(src, RequestVoteResponse(self.term, granted))


def figure8() -> Any:
    """Figure 8 of the paper as a fault plan on five nodes.

    Star topologies (cuts between all but one node) leave only one possible winner per phase:
    n0 leads first and appends X at index 3, reaching only n1; n4 wins term 2 in the other
    half and appends Y at index 3 alone; then n0 or n1 (holding X) is elected with n2, n3 and
    copies X to a majority, which a broken leader commits; finally n4 returns with its newer
    last term, wins over n2 and n3, and overwrites index 3 with Y.
    """
    leaves = ["n1", "n2", "n3", "n4"]
    return scenario_from_dict(
        {
            "name": "raft-figure-8",
            "mechanism": "raft",
            "nodes": 5,
            "seed": 1,
            "duration": "4.5s",
            "protocol": {"noop_on_elect": False},
            "network": {"delay": {"dist": "uniform", "low": "2ms", "high": "6ms"}},
            "faults": [
                {"at": 0, "cut": {"from": leaves, "to": leaves}, "until": "1s"},
                {"at": "1s", "partition": [["n0", "n1"], ["n2", "n3", "n4"]], "until": "1.9s"},
                {"at": "1s", "cut": {"from": ["n2", "n3"], "to": ["n2", "n3"]}, "until": "1.9s"},
                {"at": "1.9s", "partition": [["n0", "n1", "n2", "n3"], ["n4"]], "until": "3s"},
                {"at": "1.9s", "cut": {"from": ["n0", "n1"], "to": ["n2", "n3"]}, "until": "2.3s"},
                {"at": "3s", "partition": [["n0", "n1"], ["n2", "n3", "n4"]]},
            ],
            "workload": {
                "kind": "script",
                "timeout": "10s",
                "commands": [{"at": "600ms"}, {"at": "800ms"}, {"at": "1.05s"}, {"at": "2s"}, {"at": "3.5s"}],
            },
        }
    )


def rules(result: Any) -> set[str]:
    return set(result.violations["rule"])


def test_commit_by_counting_earlier_term_entries_is_caught() -> None:
    """Figure 8: a Raft that commits an earlier-term entry by counting replicas loses it to a later
    leader; agreement and leader completeness report it, and the real Raft stays safe on the same plan."""
    broken = run(figure8(), protocol_cls=CountingRaft)
    assert {"agreement", "leader_completeness"} <= rules(broken)
    detail = broken.violations[broken.violations["rule"] == "agreement"]["detail"].iloc[0]
    assert detail.startswith("slot 3:")
    correct = run(figure8(), protocol_cls=ScriptedRaft)
    assert correct.violations.empty
    assert (correct.decisions["slot"] == 3).any()  # the same plan did reach index 3


def flapping(seed: int) -> Any:
    """Five nodes whose election timers expire almost together, with the leader crashed again and again."""
    return scenario_from_dict(
        {
            "name": "raft-split-votes",
            "mechanism": "raft",
            "nodes": 5,
            "seed": seed,
            "duration": "3s",
            "protocol": {"election_timeout": ["150ms", "155ms"]},
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}},
            "faults": [{"every": "400ms", "crash": "leader", "for": "200ms"}],
            "workload": {"kind": "poisson", "rate": "50/s"},
        }
    )


def test_two_votes_in_a_term_break_election_safety() -> None:
    """A Raft that votes twice in a term elects two leaders in one term; election safety names the term."""
    result = run(flapping(1), protocol_cls=DoubleVoteRaft)
    safety = result.violations[result.violations["rule"] == "election_safety"]
    assert not safety.empty
    assert safety["detail"].iloc[0].startswith("term ") and "leaders:" in safety["detail"].iloc[0]
    assert run(flapping(1)).violations.empty


def test_equivocating_leader_breaks_agreement_and_log_matching() -> None:
    """A byzantine leader that sends half its followers no-ops in place of commands makes honest
    followers apply different values at the same index; agreement and log matching report it."""
    leaves = ["n1", "n2", "n3", "n4"]
    scenario = scenario_from_dict(
        {
            "name": "raft-equivocate",
            "mechanism": "raft",
            "nodes": 5,
            "seed": 2,
            "duration": "2s",
            "faults": [
                {"at": 0, "cut": {"from": leaves, "to": leaves}},  # a star: only n0 can be elected
                {"byzantine": ["n0"], "behaviour": "equivocate"},
            ],
            "workload": {"kind": "poisson", "rate": "50/s"},
        }
    )
    result = run(scenario)
    assert {"agreement", "log_matching"} <= rules(result)
    assert not result.violations["nodes"].str.contains("n0").any()  # the liar itself is not judged


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_checkers_quiet_on_correct_raft_under_faults(seed: int) -> None:
    """Crashes, a partition, loss, duplicates and reordering: the correct Raft has no violation."""
    scenario = scenario_from_dict(
        {
            "name": "raft-chaos",
            "mechanism": "raft",
            "nodes": 5,
            "seed": seed,
            "duration": "5s",
            "network": {"delay": {"dist": "exponential", "mean": "8ms"}, "loss": 0.1, "duplicate": 0.05},
            "faults": [
                {"every": "700ms", "crash": "leader", "for": "300ms"},
                {"at": "2s", "partition": [["n0", "n1"], ["n2", "n3", "n4"]], "until": "3s"},
                {"churn": {"mtbf": "1s", "mttr": "300ms", "max_down": 1}},
            ],
            "workload": {"kind": "poisson", "rate": "100/s", "until": "4.5s"},
        }
    )
    result = run(scenario)
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["terms"] >= 3 and result.summary["decisions"] > 100


def test_byzantine_double_voter_can_elect_two_leaders() -> None:
    """Through the scenario's `double_vote` behaviour (Raft.mutate), one lying voter lets two
    candidates win the same term under lossy, near-simultaneous elections."""
    scenario = scenario_from_dict(
        {
            "name": "raft-double-vote",
            "mechanism": "raft",
            "nodes": 5,
            "seed": 2,
            "duration": "5s",
            "protocol": {"election_timeout": ["150ms", "160ms"], "heartbeat_interval": "100ms"},
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "20ms"}, "loss": 0.3},
            "faults": [{"byzantine": ["n4"], "behaviour": "double_vote"}],
            "workload": {"kind": "poisson", "rate": "50/s"},
        }
    )
    assert "election_safety" in rules(run(scenario))


def test_late_leader_of_an_older_term_is_not_a_leader_completeness_violation() -> None:
    """Issue 8 item 11: n2 wins term 2 on late votes after term 3 has committed index 2 (an entry of
    term 1) without it; leader completeness only asks leaders of terms above the commit term."""
    scenario = scenario_from_dict(
        {
            "name": "raft-leader-completeness-false-positive",
            "mechanism": "raft",
            "nodes": 5,
            "seed": 5,
            "duration": "2s",
            "protocol": {"election_timeout": ["150ms", "300ms"], "heartbeat_interval": "50ms"},
            "network": {"delay": "2ms", "links": [{"from": ["n3", "n4"], "to": "n2", "delay": "120ms"}]},
            "faults": [
                {"at": "1000ms", "cut": {"from": "n0", "to": ["n2", "n3", "n4"]}},
                {"at": "1030ms", "crash": "n0"},
                {"at": "1000ms", "cut": {"from": "n1", "to": "n2"}},
            ],
            "workload": {"kind": "script", "commands": [{"at": "1010ms"}]},
        }
    )
    result = run(scenario)
    leaders = result.events[result.events["kind"] == "leader"].set_index("term")
    index2 = result.decisions[result.decisions["slot"] == 2]
    # The situation of the reproduction: term 3 committed index 2 before n2 became leader of term 2.
    assert leaders.loc[2, "node"] == "n2" and index2["commit_term"].min() == 3
    assert index2["time_ms"].min() < leaders.loc[2, "time_ms"]
    assert result.violations.empty, result.violations.to_string()


def test_leader_completeness_judges_by_commit_term_on_hand_built_tables() -> None:
    """Hand-built journal: an entry committed in term 2 missing from a term-3 leader is reported;
    the same entry missing from a term-2 leader (elected late) is not."""
    from sim.protocols.raft.checks import check_leader_completeness
    from sim.records import RunTables

    decisions = pd.DataFrame(
        {"time_ms": [10.0], "node": ["n0"], "slot": [1], "value": ["a"], "incarnation": [0], "term": [1], "commit_term": [2], "chain": [7]}
    )
    leaders = pd.DataFrame(
        {
            "time_ms": [20.0, 30.0],
            "node": ["n1", "n2"],
            "kind": ["leader", "leader"],
            "term": [2, 3],
            "last_index": [0, 0],
            "last_term": [0, 0],
            "chain": [0, 0],
            "runs": ["", ""],
        }
    )
    tables = RunTables(decisions, pd.DataFrame(), leaders, pd.DataFrame())
    found = check_leader_completeness(tables, None)  # type: ignore[arg-type]
    assert [v["nodes"] for v in found] == ["n2"]
