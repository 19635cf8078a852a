"""Raft's flow control (etcd/raft's Progress): probe and replicate states, a window of AppendEntries."""

from __future__ import annotations

from typing import Any

from sim import run, scenario_from_dict
from sim.protocols.base import ClientRequest
from sim.protocols.raft import Raft
from sim.protocols.raft.messages import AppendEntries, AppendEntriesResponse, RequestVoteResponse
from sim.protocols.raft.progress import PROBE, REPLICATE
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


def test_appends_go_as_one_multicast_only_when_every_follower_gets_the_same_message(monkeypatch: Any) -> None:
    """The leader's steady-state multicast leaves the run byte-identical to sending peer by peer, and is really used."""
    from sim.protocols.raft.replication import Replication

    scenario = scenario_from_dict(
        {
            "name": "raft-multicast",
            "mechanism": "raft",
            "nodes": 5,
            "seed": 3,
            "duration": "2s",
            "network": {"delay": {"dist": "lognormal", "median": "2ms", "sigma": 0.3}},
            "workload": {"kind": "poisson", "rate": "500/s"},
        }
    )
    used = []
    multicast = Replication._send_append_to_all

    def counted(self: Replication) -> bool:
        sent = multicast(self)
        used.append(sent)
        return sent

    monkeypatch.setattr(Replication, "_send_append_to_all", counted)
    together = run(scenario).summary
    assert any(used) and not all(used)  # both paths ran
    monkeypatch.setattr(Replication, "_send_append_to_all", lambda self: False)
    apart = run(scenario).summary
    assert together["journal_sha256"] == apart["journal_sha256"]
    assert together["messages_sent"] == apart["messages_sent"] > 0


def test_the_multicast_skips_a_follower_that_is_probing() -> None:
    """n2 still probes (paused with its probe out): the leader sends n1 the new entry and n2 nothing, as peer by peer."""
    raft, ctx = leader()
    raft.progress["n2"].paused = True  # type: ignore[attr-defined]
    submit(raft, 1)
    assert len(appends_to(ctx, "n1")) == 1
    assert appends_to(ctx, "n2") == []
