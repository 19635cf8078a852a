"""Raft (Ongaro & Ousterhout, 2014): leader election, log replication, and the commit rule.

Persistent state (currentTerm, votedFor, log) lives in `ctx.storage` and is mutated in place, so
it is on "disk" before any message that depends on it leaves. The log has a sentinel entry at
index 0 so that `log[i]` is the entry at Raft index i. Each node also keeps a CRC chain over its
log (volatile, rebuilt on start): decisions and `leader` events carry it, so the checkers can
test log matching and leader completeness from the journal alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.base import NOOP, ClientReply, ClientRequest, Message, Protocol, register
from sim.protocols.raft.log import chain_step, term_runs
from sim.protocols.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    PreVote,
    PreVoteResponse,
    RaftConfig,
    RequestVote,
    RequestVoteResponse,
    timing_problems,
)
from sim.timing import NetworkTiming, leader_timing

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context
    from sim.scenario import Scenario

FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER = "follower", "precandidate", "candidate", "leader"
ELECTION, HEARTBEAT = "election", "heartbeat"


@register("raft")
class Raft(Protocol):
    """One Raft server: follower, (pre-)candidate or leader."""

    Config = RaftConfig
    tolerates = "crash f<n/2"
    config: RaftConfig
    byzantine_behaviours = ("silent", "omit", "delay", "replay", "forge", "equivocate", "double_vote")

    # --- lifecycle and persistent state --------------------------------------------------

    def on_start(self) -> None:
        """Load persistent state; reset volatile state; become a follower."""
        storage = self.ctx.storage
        self.term: int = storage.setdefault("term", 0)
        self.voted_for: str | None = storage.setdefault("voted_for", None)
        self.log: list[Entry] = storage.setdefault("log", [(0, "")])
        self.chain: list[int] = [0]
        self.cmd_index: dict[str, int] = {}
        for index in range(1, len(self.log)):
            self.chain.append(chain_step(self.chain[-1], self.log[index]))
            if self.log[index][1] != NOOP:
                self.cmd_index[self.log[index][1]] = index
        self.commit_index = 0
        self.last_applied = 0
        self.role = FOLLOWER
        self.leader_id: str | None = None
        self.votes: set[str] = set()
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.pending: dict[str, str] = {}  # cmd_id -> client, at the leader
        self.followed_term = -1
        self.leader_contact = float("-inf")  # last time a leader was heard (pre-vote's check)
        self.reset_at = self.ctx.now  # election timer measured from here (lazily re-armed)
        self.majority = len(self.ctx.nodes) // 2 + 1
        self._arm_election()

    def _persist(self) -> None:
        self.ctx.storage["term"] = self.term
        self.ctx.storage["voted_for"] = self.voted_for

    def is_leader(self) -> bool:
        """Whether this server is the leader of its current term."""
        return self.role == LEADER

    @property
    def last_index(self) -> int:
        """Index of the last log entry (0 for an empty log)."""
        return len(self.log) - 1

    @property
    def last_term(self) -> int:
        """Term of the last log entry (0 for an empty log)."""
        return self.log[-1][0]

    def _append(self, entry: Entry) -> None:
        self.log.append(entry)
        self.chain.append(chain_step(self.chain[-1], entry))
        if entry[1] != NOOP:
            self.cmd_index[entry[1]] = len(self.log) - 1

    def _truncate(self, index: int) -> None:
        """Delete the entry at `index` and all that follow it (section 5.3)."""
        for position in range(index, len(self.log)):
            value = self.log[position][1]
            if self.cmd_index.get(value) == position:
                del self.cmd_index[value]
        del self.log[index:]
        del self.chain[index:]

    # --- timers --------------------------------------------------------------------------

    def _arm_election(self) -> None:
        low, high = self.config.election_timeout
        self.timeout = self.ctx.rng.uniform(low, high)
        self.ctx.set_timer(ELECTION, self.reset_at + self.timeout - self.ctx.now)

    def on_timer(self, name: str) -> None:
        """Election timeout (checked lazily against the last reset) or heartbeat."""
        if name == HEARTBEAT:
            if self.role == LEADER:
                for peer in self.ctx.peers:
                    self._send_append(peer)
                self.ctx.set_timer(HEARTBEAT, self.config.heartbeat_interval)
            return
        if name != ELECTION or self.role == LEADER:
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

    # --- elections (section 5.2) ---------------------------------------------------------

    def _start_pre_vote(self) -> None:
        self.role = PRECANDIDATE
        self.votes = {self.ctx.name}
        self.ctx.record("pre_vote", proposed_term=self.term + 1)
        if len(self.votes) >= self.majority:
            self._start_election()
            return
        self.ctx.broadcast(PreVote(self.term + 1, self.ctx.name, self.last_index, self.last_term))

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
        self.ctx.broadcast(RequestVote(self.term, self.ctx.name, self.last_index, self.last_term))

    def _log_ok(self, last_log_index: int, last_log_term: int) -> bool:
        """Section 5.4.1: the candidate's log is at least as up-to-date as ours."""
        return last_log_term > self.last_term or (last_log_term == self.last_term and last_log_index >= self.last_index)

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
            self.reset_at = self.ctx.now
            self.role = FOLLOWER
            self._arm_election()
        self.role = FOLLOWER

    def _on_request_vote(self, src: str, msg: RequestVote) -> None:
        self._observe_term(msg.term)
        granted = (
            msg.term == self.term
            and self.voted_for in (None, msg.candidate)
            and self.role != LEADER
            and self._log_ok(msg.last_log_index, msg.last_log_term)
        )
        if granted:
            self.voted_for = msg.candidate
            self._persist()
            self.reset_at = self.ctx.now
            self.role = FOLLOWER  # a pre-candidate that votes for someone else stops campaigning
        self.ctx.send(src, RequestVoteResponse(self.term, granted))

    def _on_pre_vote(self, src: str, msg: PreVote) -> None:
        # No term changes here: that is the point of the pre-vote.
        recent = self.role == LEADER or self.ctx.now - self.leader_contact < self.config.election_timeout[0]
        granted = msg.term > self.term and not recent and self._log_ok(msg.last_log_index, msg.last_log_term)
        self.ctx.send(src, PreVoteResponse(msg.term if granted else self.term, granted))

    def _on_vote_response(self, src: str, msg: RequestVoteResponse) -> None:
        self._observe_term(msg.term)
        if self.role == CANDIDATE and msg.term == self.term and msg.vote_granted:
            self.votes.add(src)
            if len(self.votes) >= self.majority:
                self._become_leader()

    def _on_pre_vote_response(self, src: str, msg: PreVoteResponse) -> None:
        if not msg.vote_granted:
            self._observe_term(msg.term)
        elif self.role == PRECANDIDATE and msg.term == self.term + 1:
            self.votes.add(src)
            if len(self.votes) >= self.majority:
                self._start_election()

    def _become_leader(self) -> None:
        self.role = LEADER
        self.leader_id = self.ctx.name
        self.ctx.cancel_timer(ELECTION)
        last = self.last_index
        self.ctx.record(
            "leader", term=self.term, last_index=last, last_term=self.last_term, chain=self.chain[last], runs=term_runs(self.log)
        )
        self.next_index = {peer: last + 1 for peer in self.ctx.peers}
        self.match_index = {peer: 0 for peer in self.ctx.peers}
        if self.config.noop_on_elect:
            self._append((self.term, NOOP))
        for peer in self.ctx.peers:
            self._send_append(peer)
        self.ctx.set_timer(HEARTBEAT, self.config.heartbeat_interval)
        self._advance_commit()

    # --- log replication (section 5.3) ---------------------------------------------------

    def on_request(self, request: ClientRequest) -> None:
        """Leader: append the command once (ids dedupe retries); others redirect."""
        if self.role != LEADER:
            self.ctx.send(request.client, ClientReply(request.cmd_id, False, self.leader_id))
            return
        cmd = request.cmd_id
        index = self.cmd_index.get(cmd)
        if index is not None:
            if index <= self.last_applied:
                self.ctx.send(request.client, ClientReply(cmd, True, self.ctx.name))
            else:
                self.pending[cmd] = request.client
            return
        self.pending[cmd] = request.client
        self._append((self.term, cmd))
        new = self.last_index
        for peer in self.ctx.peers:
            if self.next_index[peer] == new:  # caught up: ship just the new entry now
                self._send_append(peer)
        self._advance_commit()

    def _send_append(self, peer: str) -> None:
        nxt = self.next_index[peer]
        prev = nxt - 1
        log = self.log
        entries = tuple(log[nxt : nxt + self.config.max_batch]) if nxt < len(log) else ()
        self.ctx.send(peer, AppendEntries(self.term, self.ctx.name, prev, log[prev][0], entries, self.commit_index))
        if entries:
            # Optimistic pipelining: a lost message shows up as a failed consistency check.
            self.next_index[peer] = nxt + len(entries)

    def _on_append_entries(self, src: str, msg: AppendEntries) -> None:
        if msg.term < self.term:
            self.ctx.send(src, AppendEntriesResponse(self.term, False, 0))
            return
        self._observe_term(msg.term)
        if self.role != FOLLOWER:  # a candidate (or pre-candidate) meets the term's leader
            self._become_follower()
        self.leader_id = msg.leader
        self.leader_contact = self.reset_at = self.ctx.now
        if self.followed_term != msg.term:
            self.followed_term = msg.term
            self.ctx.record("follow", term=msg.term, leader=msg.leader)
        log = self.log
        prev = msg.prev_log_index
        if prev >= len(log):
            self.ctx.send(src, AppendEntriesResponse(self.term, False, len(log)))
            return
        if log[prev][0] != msg.prev_log_term:
            # Hint: the first index of the conflicting term, so the leader skips it in one step.
            conflict = log[prev][0]
            hint = prev
            while hint > 1 and log[hint - 1][0] == conflict:
                hint -= 1
            self.ctx.send(src, AppendEntriesResponse(self.term, False, hint))
            return
        index = prev
        for entry in msg.entries:
            index += 1
            if index < len(log):
                if log[index][0] == entry[0]:
                    continue  # already have it; a stale or duplicate message must not truncate
                self._truncate(index)
            self._append(entry)
        last_new = prev + len(msg.entries)
        if msg.leader_commit > self.commit_index:
            commit = min(msg.leader_commit, last_new)
            if commit > self.commit_index:
                self.commit_index = commit
                self._apply()
        self.ctx.send(src, AppendEntriesResponse(self.term, True, last_new))

    def _on_append_response(self, src: str, msg: AppendEntriesResponse) -> None:
        self._observe_term(msg.term)
        if self.role != LEADER or msg.term != self.term or src not in self.match_index:
            return
        if msg.success:
            matched = min(msg.index, self.last_index)
            if matched > self.match_index[src]:
                self.match_index[src] = matched
                if matched > self.commit_index:
                    self._advance_commit()
            if matched >= self.next_index[src]:
                self.next_index[src] = matched + 1
            if self.next_index[src] <= self.last_index and matched + 1 == self.next_index[src]:
                self._send_append(src)  # lagging follower: ship the next batch
            return
        back = max(self.match_index[src] + 1, min(msg.index, self.next_index[src] - 1))
        if back < self.next_index[src]:
            self.next_index[src] = back
            self._send_append(src)

    def _advance_commit(self) -> None:
        """Commit the highest index stored on a majority, if it is of the current term (5.4.2)."""
        matches = sorted([self.last_index, *self.match_index.values()], reverse=True)
        candidate = matches[self.majority - 1]
        if candidate > self.commit_index and self._may_commit(candidate):
            self.commit_index = candidate
            self._apply()

    def _may_commit(self, index: int) -> bool:
        """Only entries of the leader's own term are committed by counting replicas."""
        return self.log[index][0] == self.term

    def _apply(self) -> None:
        log, ctx = self.log, self.ctx
        leading = self.role == LEADER
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            index = self.last_applied
            term, value = log[index]
            ctx.decide(index, value, term=term, chain=self.chain[index])
            if leading and value in self.pending:
                ctx.send(self.pending.pop(value), ClientReply(value, True, ctx.name))

    # --- dispatch ------------------------------------------------------------------------

    def on_message(self, src: str, msg: Message) -> None:
        """Route a message to its handler."""
        kind = type(msg)
        if kind is AppendEntries:
            self._on_append_entries(src, msg)  # type: ignore[arg-type]
        elif kind is AppendEntriesResponse:
            self._on_append_response(src, msg)  # type: ignore[arg-type]
        elif kind is RequestVote:
            self._on_request_vote(src, msg)  # type: ignore[arg-type]
        elif kind is RequestVoteResponse:
            self._on_vote_response(src, msg)  # type: ignore[arg-type]
        elif kind is PreVote:
            self._on_pre_vote(src, msg)  # type: ignore[arg-type]
        elif kind is PreVoteResponse:
            self._on_pre_vote_response(src, msg)  # type: ignore[arg-type]

    # --- class hooks ---------------------------------------------------------------------

    @classmethod
    def validate(cls, scenario: Scenario, config: RaftConfig) -> list[tuple[str, str]]:  # type: ignore[override]
        """Timeouts must make sense: low < high, heartbeats well inside the election timeout."""
        return timing_problems(config)

    @classmethod
    def timing(cls, scenario: Scenario, config: RaftConfig, net: NetworkTiming) -> list[tuple[str, str]]:  # type: ignore[override]
        """An election needs a vote's round trip; heartbeats must reach followers inside the election timeout."""
        return leader_timing(config, net)

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: RaftConfig, net: NetworkTiming) -> float:  # type: ignore[override]
        """To the leader and back (one rtt), plus the leader's AppendEntries round trip to a majority."""
        return 2 * net.rtt

    @classmethod
    def checkers(cls) -> list[Any]:
        """Generic agreement (state machine safety), integrity, validity, plus Raft's own rules."""
        from sim.checkers.agreement import GENERIC_CHECKERS
        from sim.checkers.raft import RAFT_CHECKERS

        return [*GENERIC_CHECKERS, *RAFT_CHECKERS]

    @classmethod
    def summarise(cls, tables: Any, scenario: Scenario) -> dict[str, Any]:
        """Elections, highest term, and failover times after leader crashes."""
        from sim.protocols.raft.metrics import raft_summary

        return raft_summary(tables)

    @classmethod
    def mutate(cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context) -> Message | None:
        """Equivocation and double votes (Raft tolerates crashes only; these break it)."""
        from sim.protocols.raft.byzantine import mutate

        return mutate(behaviour, msg, dst, rng, ctx)
