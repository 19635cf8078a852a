"""The shipped Multi-Paxos, PBFT and crash-vs-byzantine scenarios show what their descriptions say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sim import load_scenario, run
from sim.protocols.base import NOOP, mechanisms

SCENARIOS = Path(__file__).parent.parent / "scenarios"


def result_of(name: str) -> Any:
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    assert scenario.description
    return run(scenario)


def test_multipaxos_steady() -> None:
    """One leader, one phase 1, every command decided, no violation."""
    result = result_of("multipaxos-steady")
    assert result.violations.empty
    assert result.summary["ballots"] == 1 and result.summary["liveness"] == 1.0


def test_multipaxos_leader_crash() -> None:
    """A second leader takes over and decides no-ops in the gaps the first one left."""
    result = result_of("multipaxos-leader-crash")
    assert result.violations.empty
    assert result.summary["leader_changes"] >= 2
    assert (result.decisions["value"] == NOOP).any()
    assert result.summary["liveness"] > 0.95


def test_multipaxos_flexible_quorums() -> None:
    """Q1=4, Q2=2: safe and live through a follower crash."""
    result = result_of("multipaxos-flexible-quorums")
    assert result.scenario["protocol"]["quorums"] == {"phase1": 4, "phase2": 2}
    assert result.violations.empty and result.summary["liveness"] == 1.0


def test_multipaxos_equivocation_violation() -> None:
    """The expected violation: agreement breaks under one equivocating leader."""
    assert set(result_of("multipaxos-equivocation-violation").violations["rule"]) == {"agreement"}


def test_pbft_normal() -> None:
    """No view change, every request decided, checkpoints taken."""
    result = result_of("pbft-normal")
    assert result.violations.empty and result.summary["view_changes"] == 0 and result.summary["liveness"] == 1.0
    assert result.messages.loc[result.messages["type"] == "checkpoint", "sent"].sum() > 0


def test_pbft_equivocating_primary() -> None:
    """The equivocating primary is replaced by a view change; no violation."""
    result = result_of("pbft-equivocating-primary")
    assert result.violations.empty and result.summary["view_changes"] >= 1 and result.summary["liveness"] == 1.0


def test_pbft_silent_backup() -> None:
    """A silent backup costs nothing but its messages: no view change, all done."""
    result = result_of("pbft-silent-backup")
    assert result.violations.empty and result.summary["view_changes"] == 0 and result.summary["liveness"] == 1.0


def test_pbft_f_plus_one_byzantine() -> None:
    """The expected violation: f+1 colluders split the honest replicas."""
    assert "agreement" in set(result_of("pbft-f-plus-one-byzantine").violations["rule"])


def test_pbft_n16() -> None:
    """16 replicas with f=5 silent: still safe and live."""
    result = result_of("pbft-n16")
    assert result.violations.empty and result.summary["liveness"] == 1.0


def test_pbft_n64() -> None:
    """64 replicas: safe, live, and the quadratic message count per request."""
    result = result_of("pbft-n64")
    assert result.violations.empty and result.summary["liveness"] == 1.0
    assert result.summary["messages_per_decision"] > 2 * 63 * 63


@pytest.mark.parametrize("mechanism", ["raft", "multipaxos", "pbft"])
def test_crash_vs_byzantine(mechanism: str) -> None:
    """The same crash and lie: the crash-tolerant protocols lose agreement, PBFT keeps it."""
    if mechanism not in mechanisms():
        pytest.skip(f"{mechanism} has not landed on this branch yet")
    result = result_of(f"crash-vs-byzantine-{mechanism}")
    if mechanism == "pbft":
        assert result.violations.empty and result.summary["liveness"] == 1.0
    else:
        assert "agreement" in set(result.violations["rule"])
