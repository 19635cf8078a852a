"""Raft's client sessions (thesis section 6.3): exact duplicate detection in O(clients) state."""

from __future__ import annotations

from typing import Any

from sim import run, scenario_from_dict
from sim.protocols.base import NOOP, ClientReply, ClientRequest
from sim.protocols.raft import Raft
from sim.protocols.raft.messages import AppendEntries, AppendEntriesResponse, InstallSnapshot, RequestVoteResponse
from sim.protocols.raft.session import Sessions, split_id
from sim.testing import ManualContext, make_node

NODES = ["n0", "n1", "n2"]


def test_split_id_reads_client_and_number() -> None:
    """Workload ids are `client:seq`; anything else is not a session id."""
    assert split_id("c0:17") == ("c0", 17)
    assert split_id("a:b:3") == ("a:b", 3)
    assert split_id("k") is None and split_id("c0:x") is None and split_id("c0:") is None


def test_a_session_is_exact_with_commands_applied_out_of_order() -> None:
    """An open-loop client has several commands outstanding and they may commit in any order:
    the session must not take a lower number for applied because a higher one was (which the
    single "highest number applied" of a one-request-at-a-time client would)."""
    s = Sessions()
    s.apply((1, "c:5", 3))  # c:3 and c:4 still unanswered
    assert s.applied("c:5") and not s.applied("c:3") and not s.applied("c:4")
    s.apply((1, "c:3", 3))
    assert s.applied("c:3") and not s.applied("c:4")
    s.apply((1, "c:7", 4))  # the client has its answer for c:3 now
    assert s.applied("c:3") and not s.applied("c:4") and not s.applied("d:3")
    s.apply((1, "c:4", 4))
    s.apply((1, "c:9", 9))
    assert all(s.applied(f"c:{i}") for i in (3, 4, 5, 7, 9)) and not s.applied("c:10")
    # Below the floor nothing is kept; at or above it, what was applied.
    assert s.rows() == (("c", 9, (9,)),)


def test_a_stale_copy_below_the_floor_is_a_duplicate_and_floors_never_go_back() -> None:
    """A late copy of a request carries an old floor: it must not lower the session's floor."""
    s = Sessions()
    s.apply((1, "c:1", 1))
    s.apply((1, "c:2", 2))
    s.apply((1, "c:1", 0))  # a duplicate entry with an old floor
    assert s.rows() == (("c", 2, (2,)),) and s.applied("c:1")


def leader(**config: Any) -> tuple[Raft, ManualContext]:
    raft, ctx = make_node(Raft, "n0", NODES, noop_on_elect=False, **config)
    win(raft, ctx)
    return raft, ctx  # type: ignore[return-value]


def win(raft: Raft, ctx: ManualContext) -> None:
    ctx.now += 1000.0
    raft.on_timer("election")
    raft.on_message("n1", RequestVoteResponse(raft.term, True))
    raft.on_message("n1", AppendEntriesResponse(raft.term, True, raft.log.last_index))
    assert raft.is_leader()
    ctx.take()


def commit(raft: Raft, ctx: ManualContext, *requests: ClientRequest) -> list[str]:
    """Submit the requests, let n1 acknowledge everything, return the commands answered."""
    for request in requests:
        raft.on_request(request)
    raft.on_message("n1", AppendEntriesResponse(raft.term, True, raft.log.last_index))
    return [m.cmd_id for _, m in ctx.take(ClientReply) if isinstance(m, ClientReply) and m.ok]


def test_an_older_outstanding_command_is_still_appended_after_a_newer_one_applied() -> None:
    """c:2 commits while c:1 is outstanding (floor 1): c:1 must go into the log, not be answered unapplied."""
    raft, ctx = leader()
    assert commit(raft, ctx, ClientRequest("c", "c:2", floor=1)) == ["c:2"]
    assert commit(raft, ctx, ClientRequest("c", "c:1", floor=1)) == ["c:1"]
    assert [value for _, value, _ in ctx.decided] == ["c:2", "c:1"]


def test_a_retry_after_a_snapshot_and_a_crash_is_not_applied_again() -> None:
    """The regression for sessions: the sessions live in the snapshot, so a server that restarts from
    it (or installs it) answers a retry of an applied command without appending it again, both a
    retry still at or above the floor and a stale copy below it."""
    raft, ctx = leader(snapshot_interval=2)
    done = commit(raft, ctx, *(ClientRequest("c", f"c:{i}", floor=0) for i in range(3)))
    assert done == ["c:0", "c:1", "c:2"]
    done = commit(raft, ctx, ClientRequest("c", "c:3", floor=2), ClientRequest("c", "c:5", floor=2))
    assert done == ["c:3", "c:5"]
    snapshot = ctx.storage["snapshot"]
    assert snapshot.index == 5 and raft.log.offset == 5 and snapshot.sessions == (("c", 2, (2, 3, 5)),)
    # Crash and restart from storage: the whole log is gone, the sessions are not.
    again = Raft(ctx, raft.config)
    again.on_start()
    win(again, ctx)
    last = again.log.last_index
    for retry in (ClientRequest("c", "c:5", floor=2), ClientRequest("c", "c:2", floor=2), ClientRequest("c", "c:0", floor=0)):
        again.on_request(retry)
        assert ctx.take(ClientReply) == [("c", ClientReply(retry.cmd_id, True, "n0"))]
    assert again.log.last_index == last  # nothing appended
    assert commit(again, ctx, ClientRequest("c", "c:4", floor=2)) == ["c:4"]  # a new one is
    # A follower that installs the snapshot and then leads answers the same way.
    n2, ctx2 = make_node(Raft, "n2", NODES, noop_on_elect=False)
    n2.on_message("n0", InstallSnapshot(again.term, "n0", snapshot))
    assert n2.last_applied == 5
    ctx2.now = 5000.0
    n2.on_timer("election")
    n2.on_message("n1", RequestVoteResponse(n2.term, True))  # type: ignore[attr-defined]
    ctx2.take()
    n2.on_request(ClientRequest("c", "c:3", floor=2))
    assert ctx2.take(ClientReply) == [("c", ClientReply("c:3", True, "n2"))]
    assert n2.log.last_index == 5  # type: ignore[attr-defined]


def test_the_snapshot_grows_with_clients_not_with_commands() -> None:
    """Snapshot.size_bytes models the sessions table: after 100 or 1000 commands from two clients
    with four numbers kept each, the snapshot is the same size, and a client's numbers below its
    floor are not in it."""
    raft, ctx = make_node(Raft, "n1", NODES, snapshot_interval=100)
    sizes = []
    index = 0
    for batch in range(10):
        entries = []
        for i in range(batch * 100, batch * 100 + 100):
            client = "a" if i % 2 else "b"
            entries.append((1, f"{client}:{i}", max(0, i - 6)))  # about three outstanding per client
        raft.on_message("n0", AppendEntries(1, "n0", index, 1 if index else 0, tuple(entries), index + 100))
        index += 100
        snapshot = ctx.storage["snapshot"]
        assert snapshot.index == index
        sizes.append(snapshot.size_bytes)
    assert len(set(sizes)) == 1, sizes
    sessions = dict((client, (floor, done)) for client, floor, done in snapshot.sessions)
    assert sessions == {"a": (993, (993, 995, 997, 999)), "b": (992, (992, 994, 996, 998))}
    per_client = 1 + 4 + 8 + 4  # id, length prefix, floor, count
    assert sizes[0] == 3 * 8 + 2 * per_client + 8 * 8


def test_a_raft_request_carries_the_floor_and_pays_for_it() -> None:
    """ClientRequest.floor costs 8 bytes when sent; a request without one costs nothing more."""
    with_floor, without = ClientRequest("c", "c:1", floor=1), ClientRequest("c", "c:1")
    assert with_floor.size_bytes == without.size_bytes + 8


def test_stale_duplicated_requests_under_churn_are_never_applied_twice() -> None:
    """End to end: two open-loop clients, a leader crash every second, 20% duplicated and 5% lost
    messages (late copies of answered requests arrive below the floor): every command commits,
    exactly once, and the run is safe."""
    result = run(
        scenario_from_dict(
            {
                "name": "raft-sessions",
                "mechanism": "raft",
                "nodes": 3,
                "seed": 4,
                "duration": "6s",
                "protocol": {"snapshot_interval": 50},
                "network": {"delay": {"dist": "uniform", "low": "1ms", "high": "15ms"}, "duplicate": 0.2, "loss": 0.05},
                "faults": [{"every": "1s", "crash": "leader", "for": "300ms"}],
                "workload": {"kind": "poisson", "rate": "150/s", "clients": 2, "until": "4s"},
            }
        )
    )
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["liveness"] == 1.0 and result.summary["retries"] > 0
    d = result.decisions
    assert not d[d["value"] != NOOP].duplicated(["node", "value"]).any()
