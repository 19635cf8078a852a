"""Proof that `consim explore` finds bugs: deliberately broken mechanisms are found and shrunk, the real ones pass.

Each case is a small base scenario, a broken variant of a shipped mechanism, the explore seed and
the number of schedules (the budget), and the checker rule that must fire. The same schedules run
against the real mechanism and find nothing. The broken variants break what the papers insist on:

- Raft committing an earlier term's entry by counting replicas (Figure 8, section 5.4.2);
- PBFT with quorums of 2f + 1 at n = 5 (two quorums then share only f = 1 replica, possibly a liar);
- Multi-Paxos whose new leader ignores the values reported in promises;
- gossip whose store is not persisted (a crash loses the writes that node alone held);
- voting that decides early as if no faulty voter's ballot could be voided;
- HotStuff voting without its lock, or committing on a two-chain (a forking leader then splits the chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sim.explore import explore, judge
from sim.protocols._tally import Unseen
from sim.protocols.gossip import Gossip
from sim.protocols.pbft import Pbft
from sim.protocols.raft import Raft
from sim.protocols.voting import Poll, Voting
from sim.units import parse_duration
from tests.protocols.test_hotstuff import NoLockHotStuff, TwoChainHotStuff
from tests.protocols.test_multipaxos import ForgetfulPaxos


class CountingRaft(Raft):
    """Broken: commits any entry stored on a majority, whatever its term (violates section 5.4.2)."""

    def _may_commit(self, index: int) -> bool:
        return True


class SmallQuorumPbft(Pbft):
    """Broken: quorums of 2f + 1 whatever n is (at n = 5 two of them meet in one replica only)."""

    def on_start(self) -> None:
        super().on_start()
        self.commit_quorum = 2 * self.f + 1
        self.prepare_quorum = 2 * self.f


class ForgetfulGossip(Gossip):
    """Broken: keeps its store in memory only, so a crash loses the writes that node alone held."""

    def on_start(self) -> None:
        self.ctx.storage.pop("store", None)
        self.ctx.storage.pop("writes", None)
        super().on_start()


class TrustingVoting(Voting):
    """Broken: decides early as if no counted ballot could be voided (a faulty voter's first ballot carries it)."""

    def _unseen(self, poll: Poll) -> Unseen:
        return Unseen()


NET = {"delay": {"dist": "uniform", "low": "1ms", "high": "10ms"}}


def _base(mechanism: str, nodes: int, duration: str, workload: dict[str, Any], **protocol: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": f"find-{mechanism}", "mechanism": mechanism, "nodes": nodes, "seed": 1, "duration": duration}
    if protocol:
        data["protocol"] = protocol
    return {**data, "network": NET, "workload": workload}


def _poisson(rate: str, until: str) -> dict[str, Any]:
    return {"kind": "poisson", "rate": rate, "until": until}


@dataclass(frozen=True)
class Case:
    """A broken variant, the base it is explored on, the budget, and the rule that must fire."""

    name: str
    base: dict[str, Any]
    broken: type
    seed: int
    schedules: int
    rule: str
    outcome: str = "violation"


RAFT3 = _base(
    "raft",
    3,
    "2s",
    _poisson("20/s", "1.8s"),
    election_timeout=["150ms", "300ms"],
    heartbeat_interval="50ms",
    noop_on_elect=False,  # the paper's Figure 8: no entry of the new term until a client asks
)
HOTSTUFF4 = _base("hotstuff", 4, "1.5s", _poisson("50/s", "1.2s"))
CASES = [
    Case("raft-figure-8", RAFT3, CountingRaft, 0, 21, "leader_completeness"),
    Case(
        "pbft-2f-quorums-n5",
        _base("pbft", 5, "1.5s", _poisson("30/s", "1.2s"), view_change_timeout="200ms"),
        SmallQuorumPbft,
        0,
        8,
        "agreement",
    ),
    Case("multipaxos-forgetful-leader", _base("multipaxos", 5, "1.5s", _poisson("50/s", "1.2s")), ForgetfulPaxos, 2, 4, "agreement"),
    Case(
        "gossip-volatile-store",
        _base(
            "gossip",
            6,
            "3s",
            {"kind": "updates", "rate": "20/s", "keys": 3, "until": "1.5s"},
            style="anti_entropy",
            mode="pushpull",
            interval="50ms",
            settle="500ms",
        ),
        ForgetfulGossip,
        2,
        9,
        "no_progress_after_heal",
        "stuck",
    ),
    # A liar forking four certificates back (below the others' lock) gets their votes only without the lock.
    Case("hotstuff-without-lock", HOTSTUFF4, NoLockHotStuff, 0, 18, "no_fork"),
    # A liar that got its block certified forks below what one honest replica committed on the two-chain.
    Case("hotstuff-two-chain-commit", HOTSTUFF4, TwoChainHotStuff, 0, 6, "no_fork"),
    Case(
        "voting-decides-early",
        _base("voting", 7, "2s", {"kind": "questions", "every": "50ms", "truth": "yes"}, rule="majority", accuracy=0.9, timeout="100ms"),
        TrustingVoting,
        1,
        4,
        "early_decision",
    ),
]


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_explore_finds_and_shrinks_the_broken_variant(case: Case, tmp_path: Path) -> None:
    """The broken variant fails within the budget with the expected rule; the failure shrinks to a small
    scenario that still fails that way, and the real mechanism passes the shrunk scenario."""
    result = explore(
        _write(tmp_path, case.base),
        schedules=case.schedules,
        seed=case.seed,
        out=tmp_path / "out",
        protocol_cls=case.broken,
        shrink_limit=30,
    )
    failed = result.failed
    assert case.rule in set(failed["rule"]), result.runs[["schedule", "outcome", "rule"]].to_string()
    failure = next(f for f in result.failures if f["rule"] == case.rule and "minimal" in f)
    original = yaml.safe_load(Path(failure["scenario"]).read_text(encoding="utf-8"))
    minimal = yaml.safe_load(Path(failure["minimal"]).read_text(encoding="utf-8"))
    assert len(minimal["faults"]) <= min(len(original["faults"]), 3)
    assert minimal["nodes"] <= original["nodes"]
    assert parse_duration(minimal["duration"]) <= parse_duration(original["duration"])
    replay = judge(minimal, "minimal", case.broken)
    assert replay["outcome"] == case.outcome and case.rule in (replay["rules"].split(",") if replay["rules"] else [replay["rule"]])
    assert judge(minimal, "minimal")["outcome"] == "ok"  # the real mechanism survives the shrunk scenario


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_real_mechanism_passes_the_same_schedules(case: Case, tmp_path: Path) -> None:
    """The registered mechanism, on the same base, seed and budget, gives no failure."""
    result = explore(_write(tmp_path, case.base), schedules=case.schedules, seed=case.seed, out=tmp_path / "out")
    assert result.failures == [], result.runs[["schedule", "outcome", "rule", "error"]].to_string()
    assert len(result.runs) == case.schedules
