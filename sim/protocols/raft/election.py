"""Raft's leader election (section 5.2), the pre-vote round (thesis section 9.6) and terms (5.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.base import NOOP
from sim.protocols.dispatch import handles
from sim.protocols.raft.messages import PreVote, PreVoteResponse, RequestVote, RequestVoteResponse
from sim.protocols.raft.progress import Progress

if TYPE_CHECKING:
    from sim.protocols.base import Context
    from sim.protocols.raft.config import RaftConfig
    from sim.protocols.raft.log import RaftLog

FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER = "follower", "precandidate", "candidate", "leader"
ELECTION, HEARTBEAT = "election", "heartbeat"


class Election:
    """The election half of a Raft server (mixed into `Raft`)."""

    ctx: Context
    config: RaftConfig
    term: int
    voted_for: str | None
    role: str
    leader_id: str | None
    votes: set[str]
    majority: int
    log: RaftLog
    progress: dict[str, Progress]
    pending: dict[str, str]
    reset_at: float
    timeout: float
    leader_contact: float

    if TYPE_CHECKING:  # provided by the replication half (declared for the type checker only)

        def _send_append(self, peer: str, empty_ok: bool = False) -> bool: ...
        def _leader_append(self, entry: tuple[int, str]) -> None: ...
        def _advance_commit(self) -> None: ...

    def _persist(self) -> None:
        """Write currentTerm and votedFor (before any message that depends on them leaves)."""
        self.ctx.storage["term"] = self.term
        self.ctx.storage["voted_for"] = self.voted_for
        self.ctx.persist()

    def _arm_election(self) -> None:
        low, high = self.config.election_timeout
        self.timeout = self.ctx.rng.uniform(low, high)
        self.ctx.set_timer(ELECTION, self.reset_at + self.timeout - self.ctx.now)

    def _election_timer(self) -> None:
        """Election timeout, checked lazily against the last reset."""
        if self.role == LEADER:
            return
        if self.ctx.now < self.reset_at + self.timeout:
            # Heard from a leader or granted a vote since arming: wait out a fresh timeout.
            self._arm_election()
            return
        self.reset_at = self.ctx.now
        if self.config.pre_vote:
            self._start_pre_vote()
        else:
            self._start_election()
        self._arm_election()

    def _start_pre_vote(self) -> None:
        self.role = PRECANDIDATE
        self.votes = {self.ctx.name}
        self.ctx.record("pre_vote", proposed_term=self.term + 1)
        if len(self.votes) >= self.majority:
            self._start_election()
            return
        self.ctx.broadcast(PreVote(self.term + 1, self.ctx.name, self.log.last_index, self.log.last_term))

    def _start_election(self) -> None:
        self.role = CANDIDATE
        self.term += 1
        self.voted_for = self.ctx.name
        self.leader_id = None
        self._persist()
        self.votes = {self.ctx.name}
        self.ctx.record("election_start", term=self.term)
        if len(self.votes) >= self.majority:
            self._become_leader()
            return
        self.ctx.broadcast(RequestVote(self.term, self.ctx.name, self.log.last_index, self.log.last_term))

    def _log_ok(self, last_log_index: int, last_log_term: int) -> bool:
        """Section 5.4.1: the candidate's log is at least as up-to-date as ours."""
        log = self.log
        return last_log_term > log.last_term or (last_log_term == log.last_term and last_log_index >= log.last_index)

    def _observe_term(self, term: int) -> None:
        """Any message with a higher term: adopt it and become a follower (section 5.1)."""
        if term > self.term:
            led = self.term if self.role == LEADER else None
            self.term = term
            self.voted_for = None
            self._persist()
            self.leader_id = None
            self._become_follower(led)

    def _become_follower(self, led: int | None = None) -> None:
        if self.role == LEADER:
            self.ctx.record("step_down", term=self.term if led is None else led, new_term=self.term)
            self.ctx.cancel_timer(HEARTBEAT)
            self.pending.clear()
            self.progress = {}
            self.reset_at = self.ctx.now
            self.role = FOLLOWER
            self._arm_election()
        self.role = FOLLOWER

    @handles(RequestVote)
    def _on_request_vote(self, src: str, msg: RequestVote) -> None:
        """Any role, in the request's term (the term check has adopted a higher one)."""
        granted = self.voted_for in (None, msg.candidate) and self.role != LEADER and self._log_ok(msg.last_log_index, msg.last_log_term)
        if granted:
            self.voted_for = msg.candidate
            self._persist()
            self.reset_at = self.ctx.now
            self.role = FOLLOWER  # a pre-candidate that votes for someone else stops campaigning
        self.ctx.send(src, RequestVoteResponse(self.term, granted))

    @handles(PreVote)
    def _on_pre_vote(self, src: str, msg: PreVote) -> None:
        """Any role: grant a later term to a log at least as up-to-date, unless a leader was heard lately."""
        # No term changes here: that is the point of the pre-vote.
        recent = self.role == LEADER or self.ctx.now - self.leader_contact < self.config.election_timeout[0]
        granted = msg.term > self.term and not recent and self._log_ok(msg.last_log_index, msg.last_log_term)
        self.ctx.send(src, PreVoteResponse(msg.term if granted else self.term, granted))

    @handles(RequestVoteResponse, role=CANDIDATE)
    def _on_vote_response(self, src: str, msg: RequestVoteResponse) -> None:
        """A candidate counts the votes of its term; a majority makes it leader."""
        if msg.vote_granted:
            self.votes.add(src)
            if len(self.votes) >= self.majority:
                self._become_leader()

    @handles(PreVoteResponse, role=PRECANDIDATE)
    def _on_pre_vote_response(self, src: str, msg: PreVoteResponse) -> None:
        """A pre-candidate counts grants for the term it proposes; a majority starts the real election."""
        if msg.vote_granted and msg.term == self.term + 1:
            self.votes.add(src)
            if len(self.votes) >= self.majority:
                self._start_election()

    def _become_leader(self) -> None:
        """Every follower starts in probe at our last index + 1 (etcd's becomeLeader)."""
        self.role = LEADER
        self.leader_id = self.ctx.name
        self.ctx.cancel_timer(ELECTION)
        log = self.log
        last = log.last_index
        self.ctx.record(
            "leader",
            term=self.term,
            last_index=last,
            last_term=log.last_term,
            chain=log.chain_at(last),
            runs=log.term_runs(),
            snapshot_index=log.offset,
        )
        self.progress = {peer: Progress(last + 1, self.config.max_inflight) for peer in self.ctx.peers}
        if self.config.noop_on_elect:
            self._leader_append((self.term, NOOP))
        for peer in self.ctx.peers:
            self._send_append(peer, empty_ok=True)
        self.ctx.set_timer(HEARTBEAT, self.config.heartbeat_interval)
        self._advance_commit()
