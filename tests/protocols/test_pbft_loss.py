"""PBFT over lossy links: retransmission, view-change and new-view re-sends, state transfer by fetch."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.protocols.pbft import Pbft
from sim.protocols.pbft.messages import (
    Checkpoint,
    Commit,
    Fetch,
    FetchReply,
    NewView,
    Prepare,
    PrePrepare,
    Request,
    Status,
    ViewChange,
    next_state_digest,
)
from sim.testing import ManualContext, make_node

NODES = ["n0", "n1", "n2", "n3"]
REQ = Request("client0", "client0:0", "op")


def lossy(nodes: int, loss: float, seed: int, **fields: Any) -> Any:
    """Poisson clients until 1.5s on a lossy network; 1.5s more for the stragglers."""
    data: dict[str, Any] = {
        "name": "pbft-loss",
        "mechanism": "pbft",
        "nodes": nodes,
        "seed": seed,
        "duration": "3s",
        "protocol": {"checkpoint_interval": 16},
        "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}, "loss": loss},
        "workload": {"kind": "poisson", "rate": "60/s", "until": "1500ms"},
    }
    data.update(fields)
    return scenario_from_dict(data)


def deliver(ctx: ManualContext, dst: str, node: Pbft) -> None:
    """Hand every message `ctx` sent to `dst` over to `node` (and forget them)."""
    for to, msg in ctx.take():
        if to == dst:
            node.on_message(ctx.name, msg)


# --- by hand ---------------------------------------------------------------------------------


def test_no_retransmission_timer_fires_work_while_the_replica_progresses() -> None:
    """A stalled backup (pre-prepare but too few prepares) multicasts a status after the timeout, not before."""
    node, ctx = make_node(Pbft, "n1", NODES, view_change_timeout="300ms")
    node.on_message("n0", PrePrepare(0, 1, REQ.digest, REQ))
    ctx.take()
    assert ctx.timers["retransmit"] == 50.0  # a sixth of the view-change timeout
    ctx.now = 50.0
    node.on_timer("retransmit")
    statuses = ctx.take(Status)
    assert sorted(d for d, _ in statuses) == ["n0", "n2", "n3"]
    assert statuses[0][1] == Status(0, True, 0, 0, ((1, 1),))
    assert not ctx.take()  # nothing else: its own prepare is re-sent only when a peer asks


def test_status_gets_the_missing_pre_prepare_prepares_and_commits_re_sent() -> None:
    """Peers answer a status with their own earlier messages: pre-prepare (primary), prepare and commit."""
    primary, pctx = make_node(Pbft, "n0", NODES)
    backup, bctx = make_node(Pbft, "n2", NODES)
    primary.on_message("client0", REQ)
    pre_prepare = pctx.take(PrePrepare)[0][1]
    backup.on_message("n0", pre_prepare)
    for node in (primary, backup):
        node.on_message("n1", Prepare(0, 1, REQ.digest))
        node.on_message("n3", Prepare(0, 1, REQ.digest))
    pctx.take(), bctx.take()
    # n3 lost the pre-prepare and every prepare: it knows nothing of seq 1.
    lagging = Status(0, True, 0, 0, ())
    primary.on_message("n3", lagging)
    assert [type(m) for _, m in pctx.take()] == [PrePrepare, Commit]
    backup.on_message("n3", lagging)
    assert bctx.take() == [("n3", Prepare(0, 1, REQ.digest)), ("n3", Commit(0, 1, REQ.digest))]
    backup.on_message("n3", Status(0, True, 0, 0, ((1, 2),)))  # prepared already: only the commit
    assert bctx.take() == [("n3", Commit(0, 1, REQ.digest))]
    backup.on_message("n3", Status(0, True, 0, 0, ((1, 3),)))
    assert not bctx.take()


def test_replica_that_missed_the_new_view_re_sends_its_view_change_and_gets_the_new_view() -> None:
    """The new-view to n2 is lost; n2's retransmission timer re-sends its view-change, n1 re-sends the new-view."""
    new_primary, pctx = make_node(Pbft, "n1", NODES)
    backup, bctx = make_node(Pbft, "n2", NODES)
    for node in (new_primary, backup):  # both suspect n0: what an expired request timer does
        node.start_view_change(1)
        node.arm_retransmit()
    own_vc = bctx.take(ViewChange)[0][1]
    new_primary.on_message("n2", own_vc)
    new_primary.on_message("n3", ViewChange(1, 0, "genesis", (), ()))
    assert new_primary.st.active and new_primary.st.view == 1
    assert [d for d, m in pctx.take() if isinstance(m, NewView)] == ["n0", "n2", "n3"]  # the one to n2 is lost
    assert not backup.st.active and "retransmit" in bctx.timers
    bctx.now = bctx.timers["retransmit"]
    backup.on_timer("retransmit")
    resent = [d for d, m in bctx.sent if m == own_vc]
    assert resent == ["n0", "n1", "n3"]
    deliver(bctx, "n1", new_primary)
    deliver(pctx, "n2", backup)
    assert backup.st.active and backup.st.view == 1


def _history(requests: list[Request]) -> list[str]:
    """The state digest after each of `requests`, executed at sequence numbers 1, 2, ..."""
    states, state = [], "genesis"
    for seq, req in enumerate(requests, start=1):
        state = next_state_digest(state, seq, req.cmd_id)
        states.append(state)
    return states


def test_lagging_replica_fetches_and_decides_every_skipped_sequence_number() -> None:
    """A stable checkpoint at 4 beyond n3's log: n3 asks f+1 vouchers, refuses forged histories, decides 1..4.

    A forged history that swaps in an already-executed request (no change to the service state)
    is refused too: the checkpoint digest chains every decided value.
    """
    node, ctx = make_node(Pbft, "n3", NODES, checkpoint_interval=4)
    a, b, c = (Request("client0", f"client0:{i}", "op") for i in range(3))
    reqs = [a, b, a, c]  # a was decided twice (a retransmitted request), executed once
    states = _history(reqs)
    for peer in ("n0", "n1", "n2"):
        node.on_message(peer, Checkpoint(4, states[-1]))
    assert node.st.h == 4 and node.st.last_exec == 0 and not ctx.decided
    assert ctx.take(Fetch) == [("n0", Fetch(1, 4)), ("n1", Fetch(1, 4))]
    forged = tuple((s, r if s != 3 else Request("client0", "client0:x", "op"), 0) for s, r in enumerate(reqs, start=1))
    node.on_message("n0", FetchReply(forged))
    node.on_message("n0", FetchReply(((1, a, 0), (2, b, 0), (3, b, 0), (4, c, 0))))  # another duplicate in place of a
    node.on_message("n0", FetchReply(tuple((s, r, 0) for s, r in enumerate(reqs[:3], start=1))))  # partial
    assert not ctx.decided and node.st.last_exec == 0
    node.on_message("n1", FetchReply(tuple((s, r, 0) for s, r in enumerate(reqs, start=1))))
    assert [(s, v) for s, v, _ in ctx.decided] == [(s, r.cmd_id) for s, r in enumerate(reqs, start=1)]
    # The second copy of a is chosen at 3 but not executed again: it says so (exactly once).
    assert [s for s, _, fields in ctx.decided if fields.get("duplicate")] == [3]
    assert node.st.last_exec == 4 and node.st.state == states[-1]
    # It now answers fetches itself, from its history.
    node.on_message("n2", Fetch(3, 9))
    assert ctx.take(FetchReply) == [("n2", FetchReply(((3, reqs[2], 0), (4, reqs[3], 0))))]


# --- whole runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("nodes", "loss"), [(4, 0.1), (4, 0.2), (7, 0.1), (7, 0.2)])
def test_safe_and_live_under_message_loss(nodes: int, loss: float, seed: int) -> None:
    """10-20% loss at n=4 and n=7: no violation, >= 90% of the requests decided, no gaps in any log."""
    result = run(lossy(nodes, loss, seed))
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["liveness"] >= 0.9
    assert result.summary["commands_submitted"] > 60
    for node, decided in result.decisions.groupby("node"):
        slots = sorted(decided["slot"])
        assert slots == list(range(1, len(slots) + 1)), node


def test_lagging_replica_catches_up_without_gaps_after_a_partition() -> None:
    """n3 cut off for 800ms while the others pass several checkpoints: it fetches and decides every seq, same values.

    The view-change timeout is long enough that n3 does not suspect the primary while cut off
    (a replica that did would sit alone in view 1, out of the normal case, until the next view change).
    """
    faults = [{"at": "200ms", "partition": [["n0", "n1", "n2"], ["n3"]], "until": "1000ms"}]
    protocol = {"checkpoint_interval": 8, "view_change_timeout": "2s"}
    result = run(lossy(4, 0.0, 2, protocol=protocol, faults=faults))
    assert result.violations.empty and result.summary["liveness"] == 1.0
    decisions = result.decisions
    lagging = decisions[decisions["node"] == "n3"].sort_values("slot")
    reference = decisions[decisions["node"] == "n0"].sort_values("slot")
    assert list(lagging["slot"]) == list(range(1, len(reference) + 1))
    assert list(lagging["value"]) == list(reference["value"])
    events = result.events
    fetched = events[(events["node"] == "n3") & (events["kind"] == "fetched")]
    assert len(fetched) >= 1 and fetched["count"].sum() > 16  # more than a log window's worth was fetched
