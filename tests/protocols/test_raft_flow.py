"""Raft's flow control (etcd/raft's Progress): probe and replicate states, a window of AppendEntries."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.node import Node
from sim.protocols.base import ClientRequest
from sim.protocols.raft import Raft
from sim.protocols.raft.messages import AppendEntries, AppendEntriesResponse, RequestVoteResponse
from sim.protocols.raft.progress import PROBE, REPLICATE
from sim.protocols.raft.replication import Replication
from sim.testing import ManualContext, make_node

NODES = ["n0", "n1", "n2"]


def leader(**config: Any) -> tuple[Raft, ManualContext]:
    """n0 leads term 1 of an empty log; n1 has answered the first probe, so it is in replicate."""
    raft, ctx = make_node(Raft, "n0", NODES, noop_on_elect=False, **config)
    ctx.now = 1000.0
    raft.on_timer("election")
    raft.on_message("n1", RequestVoteResponse(1, True))  # type: ignore[attr-defined]
    assert raft.is_leader()
    raft.on_message("n1", AppendEntriesResponse(1, True, 0))
    assert raft.progress["n1"].state == REPLICATE and raft.progress["n2"].state == PROBE  # type: ignore[attr-defined]
    ctx.take()
    return raft, ctx  # type: ignore[return-value]


def appends_to(ctx: ManualContext, dst: str) -> list[AppendEntries]:
    return [m for d, m in ctx.take(AppendEntries) if d == dst]  # type: ignore[misc]


def submit(raft: Raft, count: int) -> None:
    for i in range(count):
        raft.on_request(ClientRequest("cl", f"c{i}"))


def test_replicate_streams_up_to_the_window_and_an_ack_frees_room() -> None:
    """In replicate, at most max_inflight AppendEntries are unacknowledged; each ack lets the next go."""
    raft, ctx = leader(max_batch=1, max_inflight=2)
    submit(raft, 5)
    assert [m.prev_log_index for m in appends_to(ctx, "n1")] == [0, 1]
    raft.on_message("n1", AppendEntriesResponse(1, True, 1))
    assert [m.prev_log_index for m in appends_to(ctx, "n1")] == [2]
    raft.on_message("n1", AppendEntriesResponse(1, True, 3))  # a cumulative ack frees both slots
    assert [m.prev_log_index for m in appends_to(ctx, "n1")] == [3, 4]


def test_probe_sends_one_message_until_answered() -> None:
    """n2 never answered: it stays in probe, so new entries do not pile up messages toward it."""
    raft, ctx = leader(max_batch=1)
    submit(raft, 4)
    assert len(appends_to(ctx, "n2")) == 1
    raft.on_message("n2", AppendEntriesResponse(1, True, 1))  # the probe matched: replicate the rest
    assert raft.progress["n2"].state == REPLICATE
    assert [m.prev_log_index for m in appends_to(ctx, "n2")] == [1, 2, 3]


def test_a_rejection_in_replicate_falls_back_to_probe_at_match_and_stale_ones_are_ignored() -> None:
    """A lost message shows up as a rejection of a later one: probe again from match + 1. A rejection
    of an index at or below match is an old message and changes nothing."""
    raft, ctx = leader(max_batch=1)
    submit(raft, 4)
    raft.on_message("n1", AppendEntriesResponse(1, True, 1))
    ctx.take()
    raft.on_message("n1", AppendEntriesResponse(1, False, 1, 1))  # stale: index 1 is matched
    assert raft.progress["n1"].state == REPLICATE and ctx.take() == []
    raft.on_message("n1", AppendEntriesResponse(1, False, 2, 2))  # the entry at 2 never arrived
    progress = raft.progress["n1"]
    assert progress.state == PROBE and progress.next == 2
    [probe] = appends_to(ctx, "n1")
    assert probe.prev_log_index == 1 and probe.entries == ((1, "c1"),)
    raft.on_message("n1", AppendEntriesResponse(1, True, 2))
    assert [m.prev_log_index for m in appends_to(ctx, "n1")] == [2, 3]


def test_a_stream_with_no_ack_for_a_heartbeat_interval_is_probed_again() -> None:
    """The last message lost, nothing after it to be rejected: at the second heartbeat without any
    progress the leader probes from match + 1 again."""
    raft, ctx = leader(max_batch=4)
    submit(raft, 2)
    ctx.take()
    raft.on_timer("heartbeat")  # first look: remembers match
    assert raft.progress["n1"].state == REPLICATE
    [beat] = appends_to(ctx, "n1")
    assert beat.entries == () and beat.prev_log_index == 0  # a heartbeat checked at match
    raft.on_timer("heartbeat")
    [probe] = appends_to(ctx, "n1")
    assert raft.progress["n1"].state == PROBE and probe.prev_log_index == 0 and len(probe.entries) == 2


def test_one_reordered_append_no_longer_collapses_replication() -> None:
    """Issue 8 item 9: max_batch 1, exponential delays (mean 20 ms), 100 commands/s, no loss. Before,
    a follower behind by one message was fed one entry per acknowledgement and liveness was 0.36."""
    scenario = scenario_from_dict(
        {
            "name": "raft-flow",
            "mechanism": "raft",
            "nodes": 3,
            "seed": 1,
            "duration": "10s",
            "protocol": {"max_batch": 1},
            "network": {"delay": {"dist": "exponential", "mean": "20ms"}},
            "workload": {"kind": "poisson", "rate": "100/s", "until": "9s"},
        }
    )
    result = run(scenario)
    assert result.violations.empty
    assert result.summary["liveness"] >= 0.99
    assert result.summary["latency_ms_p50"] < 200.0


def per_peer(self: Replication) -> None:
    """The leader's appends as `_send_append` sends them, peer by peer."""
    for peer in self.ctx.peers:
        self._send_append(peer)


@pytest.mark.parametrize(
    "network",
    [
        {"delay": {"dist": "lognormal", "median": "2ms", "sigma": 0.3}},
        {"delay": {"dist": "exponential", "mean": "3ms"}, "loss": 0.02},  # rejections, probes and reordering
    ],
)
def test_appends_to_followers_waiting_for_the_same_entries_are_one_multicast(monkeypatch: Any, network: dict[str, Any]) -> None:
    """The leader's multicasts leave the run identical to sending peer by peer (trace and journal), to all and to some followers."""
    scenario = scenario_from_dict(
        {
            "name": "raft-multicast",
            "mechanism": "raft",
            "nodes": 5,
            "seed": 3,
            "duration": "2s",
            "network": network,
            "workload": {"kind": "poisson", "rate": "500/s"},
        }
    )
    sizes: list[int] = []
    multicast = Node.multicast

    def counted(self: Node, dsts: list[str], msg: Any) -> None:
        sizes.append(len(dsts))
        multicast(self, dsts, msg)

    monkeypatch.setattr(Node, "multicast", counted)
    together = run(scenario, trace=True)
    assert sizes.count(4) > 100 and sizes.count(3) + sizes.count(2) > 100  # every follower, and some of them
    monkeypatch.setattr(Replication, "_send_appends", per_peer)
    apart = run(scenario, trace=True)
    assert together.trace is not None and apart.trace is not None
    assert together.trace.equals(apart.trace)
    assert together.summary["journal_sha256"] == apart.summary["journal_sha256"]
    assert together.summary["messages_sent"] == apart.summary["messages_sent"] > 0


def test_the_multicast_skips_a_follower_that_is_probing() -> None:
    """n2 still probes (paused with its probe out): the leader sends n1 the new entry and n2 nothing, as peer by peer."""
    raft, ctx = leader()
    raft.progress["n2"].paused = True  # type: ignore[attr-defined]
    submit(raft, 1)
    assert len(appends_to(ctx, "n1")) == 1
    assert appends_to(ctx, "n2") == []


def test_followers_in_peer_order_with_the_same_next_share_one_message_and_a_different_one_ends_the_run() -> None:
    """Four followers: n1 and n2 wait for index 2, n3 is paused (probe out), n4 waits for index 1.

    Peer by peer that is n1, n2 (equal messages), nothing to n3, then n4 its own: one multicast to
    n1 and n2, then one send to n4, in that order.
    """
    raft, ctx = make_node(Raft, "n0", ["n0", "n1", "n2", "n3", "n4"], noop_on_elect=False, max_batch=8)
    ctx.now = 1000.0
    raft.on_timer("election")
    for voter in ("n1", "n2"):
        raft.on_message(voter, RequestVoteResponse(1, True))  # type: ignore[attr-defined]
    for follower in ("n1", "n2", "n4"):
        raft.on_message(follower, AppendEntriesResponse(1, True, 0))
    submit(raft, 1)  # index 1 to n1, n2 and n4; n3's probe is still out
    for follower in ("n1", "n2"):
        raft.on_message(follower, AppendEntriesResponse(1, True, 1))
    assert raft.progress["n3"].is_paused() and raft.progress["n4"].next == 2  # type: ignore[attr-defined]
    raft.progress["n4"].become_probe()  # type: ignore[attr-defined]  # as after a rejection: back to index 1
    ctx.take()
    calls: list[list[str]] = []
    ctx.multicast = lambda dsts, msg: (calls.append(list(dsts)), ManualContext.multicast(ctx, dsts, msg))  # type: ignore[method-assign]
    submit_one = ClientRequest("cl", "later")
    raft.on_request(submit_one)
    sent = ctx.take(AppendEntries)
    assert [dst for dst, _ in sent] == ["n1", "n2", "n4"]
    assert calls == [["n1", "n2"]]
    (_, to_n1), (_, to_n2), (_, to_n4) = sent
    assert to_n1 is to_n2 and to_n1.prev_log_index == 1 and to_n1.entries == ((1, "later"),)  # type: ignore[attr-defined]
    assert to_n4.prev_log_index == 0 and [e[1] for e in to_n4.entries] == ["c0", "later"]  # type: ignore[attr-defined]
