"""Raft unit tests named after the paper's rules (sections 5.1-5.4), driving nodes by hand."""

from __future__ import annotations

from typing import Any

from sim import run, scenario_from_dict
from sim.protocols.base import NOOP, ClientReply, ClientRequest
from sim.protocols.raft import Raft
from sim.protocols.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    PreVote,
    PreVoteResponse,
    RequestVote,
    RequestVoteResponse,
)
from sim.scenario import ScenarioError
from sim.testing import ManualContext, make_node

NODES = ["n0", "n1", "n2", "n3", "n4"]


def node_with(name: str, nodes: list[str], terms: list[int], term: int | None = None, **config: Any) -> tuple[Raft, ManualContext]:
    """A started node whose persistent log holds entries of the given terms (values name index and term)."""
    raft, ctx = make_node(Raft, name, nodes, start=False, **config)
    ctx.storage["log"] = [(0, "")] + [(t, f"i{i}t{t}") for i, t in enumerate(terms, start=1)]
    ctx.storage["term"] = term if term is not None else max(terms, default=0)
    raft.on_start()
    return raft, ctx  # type: ignore[return-value]


def elect(raft: Raft, ctx: ManualContext) -> None:
    """Let the election timer expire and hand the candidate a majority of votes."""
    ctx.now += 1000.0
    raft.on_timer("election")
    assert raft.role == "candidate"
    for peer in ctx.peers[: raft.majority - 1]:
        raft.on_message(peer, RequestVoteResponse(raft.term, True))
    assert raft.is_leader()


def terms_of(raft: Raft) -> list[int]:
    return [t for t, _ in raft.log.entries[1:]]


# --- 5.1 ----------------------------------------------------------------------------------


def test_5_1_stale_term_rejected() -> None:
    """An AppendEntries or RequestVote of an older term is refused and answered with the current term."""
    raft, ctx = node_with("n1", NODES, [1, 2], term=3)
    raft.on_message("n0", AppendEntries(2, "n0", 2, 2, ((2, "x"),), 2))
    [(dst, reply)] = ctx.take()
    assert dst == "n0" and reply == AppendEntriesResponse(3, False, 0)
    assert terms_of(raft) == [1, 2] and raft.commit_index == 0 and raft.leader_id is None
    raft.on_message("n2", RequestVote(2, "n2", 5, 2))
    assert ctx.take() == [("n2", RequestVoteResponse(3, False))]
    assert raft.voted_for is None


def test_5_1_higher_term_makes_leader_step_down() -> None:
    """A leader that sees a higher term in a reply adopts it, becomes follower and stops heartbeats."""
    raft, ctx = node_with("n0", NODES, [])
    elect(raft, ctx)
    assert "heartbeat" in ctx.timers
    raft.on_message("n3", AppendEntriesResponse(7, False, 0))
    assert raft.role == "follower" and raft.term == 7 and raft.voted_for is None
    assert "heartbeat" not in ctx.timers and "election" in ctx.timers
    assert ("step_down", {"term": 1, "new_term": 7}) in ctx.events
    assert ctx.storage["term"] == 7


# --- 5.2 ----------------------------------------------------------------------------------


def test_5_2_election_timeout_starts_election_and_majority_elects() -> None:
    """On timeout a follower bumps its term, votes for itself, asks everyone; a majority makes it leader."""
    raft, ctx = node_with("n0", NODES, [1, 1])
    ctx.now = 1000.0
    raft.on_timer("election")
    requests = ctx.take(RequestVote)
    assert sorted(d for d, _ in requests) == NODES[1:]
    assert all(m == RequestVote(2, "n0", 2, 1) for _, m in requests)
    assert raft.voted_for == "n0" and ctx.storage["term"] == 2
    raft.on_message("n1", RequestVoteResponse(2, True))
    raft.on_message("n1", RequestVoteResponse(2, True))  # a duplicate is not a second vote
    raft.on_message("n2", RequestVoteResponse(2, False))
    assert raft.role == "candidate"
    raft.on_message("n3", RequestVoteResponse(2, True))
    assert raft.is_leader()
    assert (
        "leader",
        {"term": 2, "last_index": 2, "last_term": 1, "chain": raft.log.chain_at(2), "runs": "1@1", "snapshot_index": 0},
    ) in ctx.events
    beats = ctx.take(AppendEntries)
    assert len(beats) == 4 and all(m.term == 2 and m.entries == ((2, NOOP),) for _, m in beats)


def test_5_2_one_vote_per_term() -> None:
    """A server votes for at most one candidate per term (first come first served), and persists it."""
    raft, ctx = node_with("n4", NODES, [])
    raft.on_message("n1", RequestVote(1, "n1", 0, 0))
    raft.on_message("n2", RequestVote(1, "n2", 0, 0))
    raft.on_message("n1", RequestVote(1, "n1", 0, 0))  # a retry from the same candidate is fine
    assert [m.vote_granted for _, m in ctx.take()] == [True, False, True]
    assert ctx.storage["voted_for"] == "n1"
    raft.on_message("n2", RequestVote(2, "n2", 0, 0))
    assert ctx.take() == [("n2", RequestVoteResponse(2, True))]


def test_5_2_candidate_falls_back_on_append_entries_of_equal_term() -> None:
    """A candidate that hears from a leader of its own term becomes its follower and accepts the entries."""
    raft, ctx = node_with("n2", NODES, [1])
    ctx.now = 1000.0
    raft.on_timer("election")
    assert raft.role == "candidate" and raft.term == 2
    ctx.take()
    raft.on_message("n0", AppendEntries(2, "n0", 1, 1, ((2, "c"),), 0))
    assert raft.role == "follower" and raft.term == 2 and raft.leader_id == "n0"
    assert ctx.take() == [("n0", AppendEntriesResponse(2, True, 2))]
    assert ("follow", {"term": 2, "leader": "n0"}) in ctx.events


def test_5_2_candidate_falls_back_on_append_entries_of_higher_term() -> None:
    """A candidate that hears from a leader of a higher term adopts the term and follows."""
    raft, ctx = node_with("n2", NODES, [1])
    ctx.now = 1000.0
    raft.on_timer("election")
    raft.on_message("n3", AppendEntries(5, "n3", 1, 1, (), 0))
    assert raft.role == "follower" and raft.term == 5 and raft.voted_for is None


# --- 5.3 ----------------------------------------------------------------------------------


def test_5_3_consistency_check_fails_on_missing_or_mismatched_prev_entry() -> None:
    """prevLogIndex beyond the log or a different prevLogTerm is refused, with a hint to back up."""
    raft, ctx = node_with("n1", NODES, [1, 1, 2, 2], term=3)
    raft.on_message("n0", AppendEntries(3, "n0", 6, 3, ((3, "x"),), 0))
    assert ctx.take() == [("n0", AppendEntriesResponse(3, False, 6, 5))]  # too short: last index + 1
    raft.on_message("n0", AppendEntries(3, "n0", 4, 3, ((3, "x"),), 0))
    assert ctx.take() == [("n0", AppendEntriesResponse(3, False, 4, 3))]  # first index of the conflicting term 2
    assert terms_of(raft) == [1, 1, 2, 2]


def test_5_3_conflicting_entries_truncated_and_stale_messages_do_not_truncate() -> None:
    """A conflicting entry and all after it are deleted; a delayed older AppendEntries removes nothing."""
    raft, ctx = node_with("n1", NODES, [1, 1, 2, 2], term=3)
    raft.on_message("n0", AppendEntries(3, "n0", 2, 1, ((3, "a"), (3, "b"), (3, "c")), 0))
    assert raft.log.entries[1:] == [(1, "i1t1"), (1, "i2t1"), (3, "a"), (3, "b"), (3, "c")]
    assert "i3t2" not in raft.log.cmd_index and raft.log.cmd_index["c"] == 5
    raft.on_message("n0", AppendEntries(3, "n0", 2, 1, ((3, "a"),), 0))  # stale duplicate
    assert raft.log.last_index == 5
    assert [m.index for _, m in ctx.take()] == [5, 3]


def test_5_3_followers_apply_up_to_leader_commit() -> None:
    """A follower commits min(leaderCommit, index of the last new entry) and applies in order with terms."""
    raft, ctx = node_with("n1", NODES, [1, 1, 1, 9], term=2)  # index 4 is a stale entry the leader lacks
    raft.on_message("n0", AppendEntries(2, "n0", 2, 1, (), 4))
    assert raft.commit_index == 2
    assert [(s, v, f["term"]) for s, v, f in ctx.decided] == [(1, "i1t1", 1), (2, "i2t1", 1)]
    raft.on_message("n0", AppendEntries(2, "n0", 3, 1, ((2, "d"),), 4))
    assert raft.commit_index == 4 and ctx.decided[-1][:2] == (4, "d")


FIGURE_7 = {
    "leader": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],
    "b": [1, 1, 1, 4],
    "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    "e": [1, 1, 1, 4, 4, 4, 4],
    "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
}


def exchange(nodes: dict[str, tuple[Raft, ManualContext]], limit: int = 200) -> int:
    """Deliver every message between the nodes (no loss, in order) until quiet; returns how many."""
    delivered = 0
    while delivered < limit:
        batch = [(src, dst, msg) for src, (_, ctx) in nodes.items() for dst, msg in ctx.take()]
        if not batch:
            return delivered
        for src, dst, msg in batch:
            if dst in nodes:
                nodes[dst][0].on_message(src, msg)
                delivered += 1
    raise AssertionError("no quiescence")


def test_5_3_figure7_divergent_followers_repaired() -> None:
    """The six follower logs of Figure 7 are brought to exactly the term-8 leader's log."""
    names = list(FIGURE_7)
    nodes = {name: node_with(name, names, FIGURE_7[name], term=7 if name in ("leader", "d") else None) for name in names}
    leader, lctx = nodes["leader"]
    lctx.now = 1000.0
    leader.on_timer("election")  # term 8
    for voter in ("a", "b", "e"):  # d (term 7) would refuse; a, b, e have older terms
        leader.on_message(voter, RequestVoteResponse(8, True))
    assert leader.is_leader() and leader.term == 8
    lctx.take(RequestVote)
    leader.on_request(ClientRequest("cl", "x"))
    exchange(nodes)
    for name in names[1:]:
        follower = nodes[name][0]
        assert follower.log.entries == leader.log.entries, name
        assert follower.term == 8
    assert terms_of(leader) == [*FIGURE_7["leader"], 8, 8]
    assert leader.commit_index == 12 and all(nodes[n][0].commit_index <= 12 for n in names)
    assert {p.match for p in leader.progress.values()} == {12}


# --- 5.4 ----------------------------------------------------------------------------------


def test_5_4_1_vote_denied_to_less_up_to_date_log() -> None:
    """A vote is refused when the candidate's last term is lower, or equal with a shorter log."""
    raft, ctx = node_with("n1", NODES, [1, 2, 2], term=2)
    raft.on_message("n2", RequestVote(3, "n2", 5, 1))  # longer but older last term
    raft.on_message("n3", RequestVote(4, "n3", 2, 2))  # same last term, shorter
    raft.on_message("n4", RequestVote(5, "n4", 3, 2))  # as up to date
    assert [(d, m.vote_granted) for d, m in ctx.take()] == [("n2", False), ("n3", False), ("n4", True)]
    assert raft.term == 5 and raft.voted_for == "n4"


def test_5_4_2_figure8_no_commit_of_earlier_term_entry_by_counting() -> None:
    """Figure 8: a term-4 leader with an un-committed term-2 entry on a majority does not commit it
    until an entry of its own term reaches a majority; then both commit."""
    raft, ctx = node_with("n0", NODES, [1, 2], term=3, noop_on_elect=False)
    elect(raft, ctx)
    assert raft.term == 4
    ctx.take()
    for peer in ("n1", "n2"):
        raft.on_message(peer, AppendEntriesResponse(4, True, 2))
    assert raft.progress["n1"].match == raft.progress["n2"].match == 2
    assert raft.commit_index == 0 and ctx.decided == []
    raft.on_request(ClientRequest("cl", "c3"))
    raft.on_message("n1", AppendEntriesResponse(4, True, 3))
    assert raft.commit_index == 0
    raft.on_message("n2", AppendEntriesResponse(4, True, 3))
    assert raft.commit_index == 3
    assert [(s, v, f["term"]) for s, v, f in ctx.decided] == [(1, "i1t1", 1), (2, "i2t2", 2), (3, "c3", 4)]
    assert ("cl", ClientReply("c3", True, "n0")) in ctx.sent


def test_5_4_3_state_persists_across_a_crash() -> None:
    """A new instance over the same storage keeps term, vote and log; commitIndex starts at 0."""
    raft, ctx = node_with("n1", NODES, [])
    raft.on_message("n0", AppendEntries(3, "n0", 0, 0, ((3, "a"), (3, "b")), 1))
    raft.on_message("n2", RequestVote(4, "n2", 2, 3))
    assert raft.voted_for == "n2" and raft.commit_index == 1
    again = Raft(ctx, raft.config)  # what recovery does: a fresh instance, same storage
    again.on_start()
    assert again.term == 4 and again.voted_for == "n2" and again.log.entries[1:] == [(3, "a"), (3, "b")]
    assert again.commit_index == 0 and again.last_applied == 0 and again.role == "follower"
    again.on_message("n3", RequestVote(4, "n3", 2, 3))
    assert ctx.take()[-1] == ("n3", RequestVoteResponse(4, False))
    again.on_message("n2", AppendEntries(4, "n2", 2, 3, (), 2))
    # Index 1 is applied again after recovery but not recorded as a second decision.
    assert [s for s, _, _ in ctx.decided] == [1, 2] and again.last_applied == 2


# --- extensions: pre-vote, batching, clients ---------------------------------------------


def test_pre_vote_does_not_bump_terms() -> None:
    """A pre-vote round changes no term; it is refused by a server that heard a leader recently,
    and a real election starts only after a majority of pre-votes."""
    raft, ctx = node_with("n0", NODES, [1], pre_vote=True)
    ctx.now = 1000.0
    raft.on_timer("election")
    assert raft.term == 1 and raft.role == "precandidate" and ctx.storage["term"] == 1
    assert all(m == PreVote(2, "n0", 1, 1) for _, m in ctx.take())
    voter, vctx = node_with("n1", NODES, [1], pre_vote=True)
    vctx.now = 1000.0
    voter.on_message("n0", PreVote(2, "n0", 1, 1))
    assert vctx.take() == [("n0", PreVoteResponse(2, True))] and voter.term == 1 and voter.voted_for is None
    voter.on_message("n2", AppendEntries(1, "n2", 1, 1, (), 0))  # hears a leader
    vctx.take()
    vctx.now += 10.0
    voter.on_message("n0", PreVote(2, "n0", 1, 1))
    assert vctx.take() == [("n0", PreVoteResponse(1, False))] and voter.term == 1
    raft.on_message("n1", PreVoteResponse(2, True))
    assert raft.term == 1
    raft.on_message("n3", PreVoteResponse(2, True))
    assert raft.term == 2 and raft.role == "candidate"
    assert len(ctx.take(RequestVote)) == 4


def test_max_batch_respected() -> None:
    """No AppendEntries carries more than max_batch entries; a lagging follower gets batch after batch."""
    raft, ctx = node_with("n0", ["n0", "n1", "n2"], [1] * 10, max_batch=3, noop_on_elect=False)
    elect(raft, ctx)
    ctx.take()
    raft.on_message("n1", AppendEntriesResponse(2, False, 10, 1))  # n1's log is empty
    [(_, msg)] = ctx.take(AppendEntries)
    assert msg.prev_log_index == 0 and len(msg.entries) == 3  # a probe: one message, then wait
    raft.on_message("n1", AppendEntriesResponse(2, True, 3))  # it matches: stream the rest
    sent = [m for _, m in ctx.take(AppendEntries)]
    assert [(m.prev_log_index, len(m.entries)) for m in sent] == [(3, 3), (6, 3), (9, 1)]


def test_client_command_appended_once_and_answered_on_apply() -> None:
    """A retried command id is not appended twice; the leader answers when it applies it; others redirect."""
    raft, ctx = node_with("n0", ["n0", "n1", "n2"], [], noop_on_elect=False)
    elect(raft, ctx)
    ctx.take()
    raft.on_request(ClientRequest("cl", "k"))
    raft.on_request(ClientRequest("cl", "k"))
    assert terms_of(raft) == [1]
    raft.on_message("n1", AppendEntriesResponse(1, True, 1))
    assert ctx.take(ClientReply) == [("cl", ClientReply("k", True, "n0"))]
    raft.on_request(ClientRequest("cl", "k"))
    assert ctx.take(ClientReply) == [("cl", ClientReply("k", True, "n0"))] and terms_of(raft) == [1]
    follower, fctx = node_with("n1", ["n0", "n1", "n2"], [])
    follower.on_message("n0", AppendEntries(1, "n0", 0, 0, (), 0))
    follower.on_request(ClientRequest("cl", "z"))
    assert fctx.take(ClientReply) == [("cl", ClientReply("z", False, "n0"))]


def test_validate_rejects_bad_timeouts() -> None:
    """election_timeout low must not be above high, heartbeats below the low end: one clear error each."""
    base = {"name": "t", "mechanism": "raft", "nodes": 3}
    for protocol, field in (
        ({"election_timeout": ["300ms", "150ms"]}, "protocol.election_timeout"),
        ({"heartbeat_interval": "200ms"}, "protocol.heartbeat_interval"),
    ):
        try:
            scenario_from_dict({**base, "protocol": protocol})
        except ScenarioError as err:
            assert err.field == field
        else:
            raise AssertionError(f"{protocol} accepted")


# --- integration through run() ------------------------------------------------------------


def small(**extra: Any) -> Any:
    data = {
        "name": "raft-test",
        "mechanism": "raft",
        "nodes": 5,
        "seed": 3,
        "duration": "4s",
        "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.4}},
        "workload": {"kind": "poisson", "rate": "100/s", "until": "3.5s"},
    }
    data.update(extra)
    return scenario_from_dict(data)


def test_run_elects_one_leader_and_commits_commands() -> None:
    """Without faults: one election, every command committed on every node, no violations."""
    result = run(small())
    s = result.summary
    assert s["safety_violations"] == 0 and s["liveness"] == 1.0
    assert s["terms"] == 1 and s["elections"] >= 1
    per_node = result.decisions.groupby("node")["slot"].nunique()
    assert len(per_node) == 5 and per_node.min() >= s["commands_submitted"]


def test_run_recovers_from_leader_crash() -> None:
    """After the leader crashes a new leader takes over, the failover is measured, commands still commit."""
    result = run(small(faults=[{"at": "1.5s", "crash": "leader"}, {"at": "2.5s", "recover": "all"}]))
    s = result.summary
    assert s["safety_violations"] == 0 and s["liveness"] == 1.0
    assert s["terms"] >= 2 and s["failover_ms_count"] == 1
    assert 150.0 <= s["failover_ms_max"] < 1000.0
    crashed = result.events.query("kind == 'crash'")["node"].iloc[0]
    d = result.decisions
    late = d[(d["node"] == crashed) & (d["time_ms"] > 2500)]
    # After recovery it decides what is new to it, but records nothing it had decided before.
    assert len(late) > 0 and set(late["incarnation"]) == {1}
    assert not d[d["node"] == crashed].duplicated("slot").any()


def test_retry_of_an_older_term_entry_appends_a_noop_of_the_leaders_term() -> None:
    """Without noop_on_elect, a new leader whose log ends in an older term appends a no-op of its own
    term when a client retries a command stuck there, so section 5.4.2 lets the command commit."""
    raft, ctx = node_with("n0", ["n0", "n1", "n2"], [1, 1], noop_on_elect=False)
    raft.log.entries[2] = (1, "k")
    raft.on_start()  # rebuild the command index over the edited log
    elect(raft, ctx)
    assert terms_of(raft) == [1, 1]
    ctx.take()
    raft.on_request(ClientRequest("cl", "k"))
    assert terms_of(raft) == [1, 1, 2] and raft.log.entry(3) == (2, NOOP)
    raft.on_request(ClientRequest("cl", "k"))  # a second retry appends nothing more
    assert terms_of(raft) == [1, 1, 2]
    raft.on_message("n1", AppendEntriesResponse(2, True, 3))
    assert raft.commit_index == 3
    assert ctx.take(ClientReply) == [("cl", ClientReply("k", True, "n0"))]


def test_closed_workload_without_noop_on_elect_survives_a_failover() -> None:
    """Issue 8 item 8: with `noop_on_elect: false` the one closed-loop client used to stall forever
    after the leader crash (16 of 20 seeds); now it keeps completing commands until the end."""
    for seed in (1, 2, 3, 4):
        scenario = scenario_from_dict(
            {
                "name": "raft-no-noop-stall",
                "mechanism": "raft",
                "nodes": 3,
                "seed": seed,
                "duration": "4s",
                "protocol": {"noop_on_elect": False},
                "network": {"delay": "2ms"},
                "faults": [{"at": "1s", "crash": "leader", "for": "500ms"}],
                "workload": {"kind": "closed", "clients": 1, "timeout": "200ms", "until": "3.5s"},
            }
        )
        result = run(scenario)
        assert result.violations.empty
        assert result.summary["liveness"] == 1.0, seed
        assert result.requests["done_ms"].max() > 3000.0, seed
