"""Raft's snapshots and log compaction (section 7), and recovery that replays only the tail."""

from __future__ import annotations

from typing import Any

from sim import run, scenario_from_dict
from sim.protocols.base import ClientRequest
from sim.protocols.raft import Raft
from sim.protocols.raft.messages import AppendEntries, AppendEntriesResponse, InstallSnapshot, RequestVoteResponse, Snapshot
from sim.protocols.raft.progress import REPLICATE, SNAPSHOT
from sim.testing import ManualContext, make_node

NODES = ["n0", "n1", "n2"]


def follower(**config: Any) -> tuple[Raft, ManualContext]:
    raft, ctx = make_node(Raft, "n1", NODES, **config)
    return raft, ctx  # type: ignore[return-value]


def entries(first: int, last: int, term: int = 1) -> tuple[tuple[int, str], ...]:
    return tuple((term, f"c{i}") for i in range(first, last + 1))


def test_a_follower_snapshots_every_interval_and_compacts_its_log() -> None:
    """With snapshot_interval 3, applying 5 entries writes a snapshot at 5 and drops the log up to it."""
    raft, ctx = follower(snapshot_interval=3)
    raft.on_message("n0", AppendEntries(1, "n0", 0, 0, entries(1, 5), 5))
    snapshot = ctx.storage["snapshot"]
    assert (snapshot.index, snapshot.term) == (5, 1) and snapshot.loose == {f"c{i}" for i in range(1, 6)}
    assert snapshot.chain == raft.log.chain_at(5)
    assert raft.log.offset == 5 and ctx.storage["log"] == [(1, "")]
    raft.on_message("n0", AppendEntries(1, "n0", 5, 1, entries(6, 7), 7))
    assert raft.log.entries[1:] == list(entries(6, 7)) and raft.log.term(4) is None
    assert [slot for slot, _, _ in ctx.decided] == [1, 2, 3, 4, 5, 6, 7]


def test_recovery_starts_from_the_snapshot_replays_the_tail_and_records_nothing_twice() -> None:
    """A restarted server holds the snapshot's state at once; the entries after it are applied again
    as the leader's commit index arrives, without new decision rows."""
    raft, ctx = follower(snapshot_interval=3)
    raft.on_message("n0", AppendEntries(1, "n0", 0, 0, entries(1, 7), 7))
    assert ctx.storage["snapshot"].index == 7
    raft.on_message("n0", AppendEntries(1, "n0", 7, 1, entries(8, 9), 9))
    again = Raft(ctx, raft.config)
    again.on_start()
    assert again.commit_index == again.last_applied == 7 and again.sessions.loose == {f"c{i}" for i in range(1, 8)}
    assert again.log.offset == 7 and again.log.last_index == 9
    again.on_message("n0", AppendEntries(1, "n0", 9, 1, (), 9))
    assert again.last_applied == 9 and again.sessions.loose == {f"c{i}" for i in range(1, 10)}
    assert [slot for slot, _, _ in ctx.decided] == list(range(1, 10))


def test_the_leader_sends_its_snapshot_to_a_follower_behind_its_first_retained_index() -> None:
    """n2's log is empty and the leader kept only what follows index 5: it gets an InstallSnapshot,
    installs it, and the leader streams the rest."""
    leader, lctx = make_node(Raft, "n0", NODES, snapshot_interval=5, noop_on_elect=False)
    lctx.now = 1000.0
    leader.on_timer("election")
    leader.on_message("n1", RequestVoteResponse(1, True))  # type: ignore[attr-defined]
    leader.on_message("n1", AppendEntriesResponse(1, True, 0))  # type: ignore[attr-defined]
    for i in range(1, 7):
        leader.on_request(ClientRequest("cl", f"c{i}"))
    leader.on_message("n1", AppendEntriesResponse(1, True, 6))
    assert leader.log.offset == 6  # type: ignore[attr-defined]
    lctx.take()
    leader.on_message("n2", AppendEntriesResponse(1, False, 0, 1))  # n2 answers the first probe: empty log
    [(dst, install)] = lctx.take()
    assert dst == "n2" and isinstance(install, InstallSnapshot) and install.snapshot.index == 6
    assert leader.progress["n2"].state == SNAPSHOT  # type: ignore[attr-defined]
    n2, ctx2 = make_node(Raft, "n2", NODES)
    n2.on_message("n0", install)
    assert n2.commit_index == n2.last_applied == 6 and n2.log.offset == 6  # type: ignore[attr-defined]
    assert ctx2.decided == [] and ctx2.storage["snapshot"] is install.snapshot
    [(_, reply)] = ctx2.take()
    assert reply == AppendEntriesResponse(1, True, 6)
    leader.on_message("n2", reply)
    assert leader.progress["n2"].state == REPLICATE and leader.progress["n2"].match == 6  # type: ignore[attr-defined]


def test_install_snapshot_keeps_a_matching_suffix_and_discards_a_conflicting_log() -> None:
    """Figure 13: a log that has the snapshot's last entry keeps what follows it; one that does not
    is replaced by the snapshot alone."""
    snapshot = Snapshot(3, 1, 0, loose=frozenset({"c1", "c2", "c3"}))
    keep, kctx = follower()
    keep.on_message("n0", AppendEntries(1, "n0", 0, 0, entries(1, 5), 0))
    keep.on_message("n0", InstallSnapshot(1, "n0", snapshot))
    assert keep.log.offset == 3 and keep.log.entries[1:] == list(entries(4, 5)) and keep.commit_index == 3
    drop, dctx = follower()
    drop.on_message("n0", AppendEntries(1, "n0", 0, 0, ((1, "c1"), (1, "x2")), 0))
    drop.on_message("n0", InstallSnapshot(2, "n0", Snapshot(3, 2, 0, loose=frozenset({"c1", "c2", "c3"}))))
    assert drop.log.offset == 3 and drop.log.entries == [(2, "")] and drop.log.last_index == 3
    assert drop.sessions.loose == {"c1", "c2", "c3"} and "x2" not in drop.log.cmd_index


def churn(seconds: int) -> Any:
    """A leader crash every second (back after 300 ms), 100 commands/s, five nodes."""
    return scenario_from_dict(
        {
            "name": "raft-recoveries",
            "mechanism": "raft",
            "nodes": 5,
            "seed": 3,
            "duration": f"{seconds}s",
            "protocol": {"snapshot_interval": 200},
            "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "8ms"}},
            "faults": [{"every": "1s", "crash": "leader", "for": "300ms"}],
            "workload": {"kind": "poisson", "rate": "100/s"},
        }
    )


def test_decision_rows_grow_with_the_log_not_with_recoveries_times_log_length() -> None:
    """Issue 8 item 10: a recovering node used to record its whole log again as decisions. Now each
    node records each index at most once across all its incarnations, so the rows stay within
    nodes x indexes however many recoveries there are; snapshots were taken and installed."""
    result = run(churn(12))
    d = result.decisions
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["failover_ms_count"] >= 8
    assert not d.duplicated(["node", "slot"]).any()
    assert len(d) <= 5 * d["slot"].nunique()
    assert (result.events["kind"] == "crash").sum() >= 10
    assert (d["slot"].max()) > 1000  # the log is long enough for recoveries x length to show
