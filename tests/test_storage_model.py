"""The stable-storage model: `storage: {write: ...}` delays what a node sends after a write."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.kernel import Simulation
from sim.protocols.raft.messages import RequestVoteResponse
from sim.scenario import ScenarioError


def raft(**fields: Any) -> Any:
    data: dict[str, Any] = {"name": "disk", "mechanism": "raft", "nodes": 3, "seed": 1, "duration": "1s", "network": {"delay": "1ms"}}
    data.update(fields)
    return scenario_from_dict(data)


def test_a_send_after_a_write_waits_for_the_disk_and_writes_queue() -> None:
    """Two writes of 5 ms queue on one disk: what is sent after them leaves 10 ms later; sends
    before any write, or once the disk is idle again, leave at once."""
    sim = Simulation(raft(storage={"write": "5ms"}, workload=None))
    for node in sim.nodes.values():
        node.start()
    n0, n1 = sim.nodes["n0"], sim.nodes["n1"]
    seen: list[tuple[float, bool]] = []
    n1.protocol.on_message = lambda src, msg: seen.append((sim.env.now, msg.vote_granted))  # type: ignore[union-attr, method-assign]
    n0.send("n1", RequestVoteResponse(0, False))
    n0.persist()
    n0.persist()
    n0.send("n1", RequestVoteResponse(0, True))
    sim.env.run(until=20)
    n0.send("n1", RequestVoteResponse(0, False))
    sim.env.run(until=40)
    assert seen == [(1.0, False), (11.0, True), (21.0, False)]
    assert n0.disk_ms == 10.0


def test_storage_writes_slow_raft_commits_and_failover() -> None:
    """A commit waits for the leader's and a follower's write; a failover for the candidate's and a voter's."""
    base: dict[str, Any] = {
        "nodes": 5,
        "duration": "4s",
        "faults": [{"at": "2s", "crash": "leader"}],
        "workload": {"kind": "poisson", "rate": "50/s", "until": "3.5s"},
    }
    fast = run(raft(**base)).summary
    slow = run(raft(**base, storage={"write": "10ms"})).summary
    assert fast["safety_violations"] == slow["safety_violations"] == 0
    assert slow["latency_ms_p50"] >= fast["latency_ms_p50"] + 20.0
    assert slow["failover_ms_count"] == fast["failover_ms_count"] == 1


def test_negative_write_time_is_refused() -> None:
    """storage.write below zero is a one-line error naming the field."""
    with pytest.raises(ScenarioError) as err:
        raft(storage={"write": "-1ms"})
    assert err.value.field.startswith("storage")


def test_equal_election_timeout_bounds_are_allowed_and_fixed_timeouts_never_converge() -> None:
    """The thesis's experiment: with one fixed timeout every server times out together, votes for
    itself, and no election ever succeeds; a spread of timeouts elects a leader at once."""
    fixed = run(raft(nodes=5, duration="3s", protocol={"election_timeout": ["150ms", "150ms"]}, network={"delay": "5ms"}))
    assert (fixed.events["kind"] == "leader").sum() == 0
    assert fixed.summary["terms"] >= 10 and fixed.summary["decisions"] == 0
    spread = run(raft(nodes=5, duration="3s", protocol={"election_timeout": ["150ms", "300ms"]}, network={"delay": "5ms"}))
    assert (spread.events["kind"] == "leader").sum() >= 1
