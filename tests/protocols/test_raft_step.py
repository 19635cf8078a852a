"""Raft's step: one term check for every message, then the current role's handler (as etcd's raft.go)."""

from __future__ import annotations

from sim.protocols.raft import Raft
from sim.protocols.raft.election import CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE
from sim.protocols.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    PreVote,
    PreVoteResponse,
    RequestVote,
    RequestVoteResponse,
)
from tests.protocols.test_raft import NODES, elect, node_with


def test_every_role_has_a_table_with_the_vote_requests_and_only_its_own_messages() -> None:
    """Vote requests are handled in every role; entries only by a follower (others stand down first); acks only by a leader."""
    tables = Raft.role_handlers
    assert set(tables) == {FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER}
    for role, table in tables.items():
        assert table[RequestVote] is Raft._on_request_vote and table[PreVote] is Raft._on_pre_vote, role
    assert tables[FOLLOWER][AppendEntries] is Raft._on_append_entries
    assert all(tables[role][AppendEntries] is Raft._meet_leader for role in (PRECANDIDATE, CANDIDATE, LEADER))
    assert [role for role, table in tables.items() if AppendEntriesResponse in table] == [LEADER]
    assert [role for role, table in tables.items() if RequestVoteResponse in table] == [CANDIDATE]
    assert [role for role, table in tables.items() if PreVoteResponse in table] == [PRECANDIDATE]


def test_stale_pre_vote_is_refused_in_our_term_and_stale_answers_are_dropped() -> None:
    """A pre-vote for a term below ours gets our term back; stale vote and append answers change nothing."""
    raft, ctx = node_with("n1", NODES, [1, 2], term=3)
    raft.on_message("n0", PreVote(2, "n0", 9, 2))
    assert ctx.take() == [("n0", PreVoteResponse(3, False))]
    for msg in (RequestVoteResponse(2, True), PreVoteResponse(2, False), AppendEntriesResponse(1, True, 2)):
        raft.on_message("n0", msg)
    assert ctx.take() == [] and raft.term == 3 and raft.role == FOLLOWER and ctx.writes == 0


def test_granted_pre_vote_answer_keeps_the_term_and_a_refusal_of_a_higher_term_is_adopted() -> None:
    """A granted pre-vote carries the proposed term and must not move ours; a refusal carrying a higher term does."""
    raft, ctx = node_with("n0", NODES, [1], pre_vote=True)
    ctx.now = 1000.0
    raft.on_timer("election")
    assert raft.role == PRECANDIDATE
    raft.on_message("n1", PreVoteResponse(2, True))
    assert raft.term == 1 and raft.role == PRECANDIDATE and raft.votes == {"n0", "n1"}
    raft.on_message("n2", PreVoteResponse(5, False))
    assert raft.term == 5 and raft.role == FOLLOWER and raft.voted_for is None and ctx.storage["term"] == 5


def test_higher_term_vote_request_makes_a_leader_follow_and_vote_in_one_step() -> None:
    """A leader asked to vote in a higher term steps down into it and then grants the vote (log up to date)."""
    raft, ctx = node_with("n0", NODES, [])
    elect(raft, ctx)
    ctx.take()
    raft.on_message("n2", RequestVote(4, "n2", 1, 1))
    assert raft.role == FOLLOWER and raft.term == 4 and raft.voted_for == "n2"
    assert ctx.take(RequestVoteResponse) == [("n2", RequestVoteResponse(4, True))]
    assert ("step_down", {"term": 1, "new_term": 4}) in ctx.events


def test_leader_meeting_another_leader_of_its_term_steps_down_and_follows_it() -> None:
    """Only a liar sends this (one leader per term): the leader records a step-down and takes the entries."""
    raft, ctx = node_with("n0", NODES, [])
    elect(raft, ctx)
    ctx.take()
    raft.on_message("n3", AppendEntries(1, "n3", 0, 0, ((1, "x"),), 0))
    assert raft.role == FOLLOWER and raft.leader_id == "n3" and raft.log.last_index == 1
    assert ("step_down", {"term": 1, "new_term": 1}) in ctx.events
    assert ctx.take(AppendEntriesResponse) == [("n3", AppendEntriesResponse(1, True, 1))]
