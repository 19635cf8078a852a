"""A rebooted PBFT replica keeps only what Castro's replicas keep on stable storage, and catches up (issue 8, item 6b)."""

from __future__ import annotations

from sim import run, scenario_from_dict
from sim.protocols.pbft import Pbft
from sim.protocols.pbft.messages import Checkpoint, Commit, Prepare, PrePrepare, Request, ViewChange
from sim.testing import make_node

NODES = ["n0", "n1", "n2", "n3"]


def test_reboot_forgets_received_votes_queues_and_execution_past_the_last_checkpoint() -> None:
    """Own messages, certificates and the checkpointed service state survive; everything received does not."""
    node, ctx = make_node(Pbft, "n1", NODES, checkpoint_interval=2)
    reqs = [Request("client0", f"client0:{i}") for i in range(4)]
    for seq, req in enumerate(reqs[:3], start=1):
        node.on_message("n0", PrePrepare(0, seq, req.digest, req))
        node.on_message("n2", Prepare(0, seq, req.digest))
        for peer in ("n0", "n2"):
            node.on_message(peer, Commit(0, seq, req.digest))
    node.on_message("n0", PrePrepare(0, 4, reqs[3].digest, reqs[3]))
    node.on_message("n3", Prepare(0, 4, reqs[3].digest))
    node.on_message("n3", Checkpoint(2, "whatever"))
    node.on_message("client9", Request("client9", "client9:0"))
    node.on_message("n2", ViewChange(1, 0, "genesis", (), ()))
    assert node.st.last_exec == 3 and node.st.waiting
    before = node.st
    state_at_2 = before.checkpoints[2]["n1"]

    node.on_start()  # the reboot: `ctx.storage` holds the disk
    st = node.st
    assert st is not before and st.last_exec == 2 and st.state == state_at_2  # its own last checkpoint
    assert sorted(st.history) == [1, 2] and set(st.executed) == {"client0:0", "client0:1"}
    assert st.log[(0, 4)].digest == reqs[3].digest and st.log[(0, 4)].prepares == {"n1": reqs[3].digest}
    assert st.log[(0, 3)].commits == {"n1": reqs[2].digest}  # its own commit; n0's and n2's are gone
    assert not st.log[(0, 3)].prepared and not st.log[(0, 3)].committed
    assert st.certs == before.certs and set(st.certs) == {1, 2, 3, 4}  # prepared certificates are on disk
    assert st.checkpoints == {2: {"n1": state_at_2}}
    assert not st.waiting and not st.committed and not st.view_changes and not st.future


def test_rebooted_replica_re_executes_from_its_last_checkpoint_and_catches_up() -> None:
    """n3 crashes after executing seq 47 (last checkpoint 40): it re-executes 41.. and ends level with the others."""
    result = run(
        scenario_from_dict(
            {
                "name": "pbft-recovery",
                "mechanism": "pbft",
                "nodes": 4,
                "seed": 2,
                "duration": "2500ms",
                "protocol": {"checkpoint_interval": 8, "view_change_timeout": "200ms"},
                "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "8ms"}},
                "faults": [{"at": "690ms", "crash": "n3", "for": "300ms"}],
                "workload": {"kind": "poisson", "rate": "60/s", "until": "2s", "timeout": "100ms"},
            }
        )
    )
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["liveness"] == 1.0
    slots = result.decisions.groupby(["node", "incarnation"])["slot"].agg(["min", "max"])
    before, after = slots.loc[("n3", 0)], slots.loc[("n3", 1)]
    assert before["max"] % 8 != 0  # it crashed between checkpoints...
    assert after["min"] == before["max"] - before["max"] % 8 + 1  # ...and lost the executions past the last one
    assert after["max"] == slots.loc[("n0", 0), "max"]
