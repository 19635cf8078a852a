"""Raft (Ongaro & Ousterhout, 2014): leader election, log replication, the commit rule, snapshots.

Persistent state (currentTerm, votedFor, the log after the snapshot, the snapshot, and the
highest index recorded as a decision) lives in `ctx.storage`, written before any message that
depends on it leaves (`ctx.persist()` charges the scenario's storage write time). The log keeps
a sentinel for the snapshot's last index, so it is addressed by Raft index through `RaftLog`.
Each node also keeps a CRC chain over its log (volatile, rebuilt on start): decisions and
`leader` events carry it, so the checkers can test log matching and leader completeness from
the journal alone. Election lives in election.py; replication, commit and snapshots in
replication.py; the leader's per-follower flow control in progress.py.

Messages are stepped as etcd's raft.go steps them: one term check for every message (section
5.1: a higher term makes any server a follower first, a stale one is answered or dropped), then
the handler of the message's type in the current role's table (`@handles(..., role=...)`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.base import Message, Protocol, register
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.raft.config import RaftConfig, timing_problems
from sim.protocols.raft.election import CANDIDATE, ELECTION, FOLLOWER, HEARTBEAT, LEADER, PRECANDIDATE, Election
from sim.protocols.raft.log import RaftLog
from sim.protocols.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    PreVote,
    PreVoteResponse,
    RequestVote,
    RequestVoteResponse,
    Snapshot,
)
from sim.protocols.raft.progress import Progress
from sim.protocols.raft.replication import Replication
from sim.protocols.raft.session import Sessions
from sim.timing import NetworkTiming, leader_timing

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context
    from sim.scenario import Scenario
    from sim.workload import Client


@register("raft")
class Raft(Dispatch, Election, Replication, Protocol):
    """One Raft server: follower, (pre-)candidate or leader."""

    roles = (FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER)

    Config = RaftConfig
    tolerates = "crash f<n/2"
    ready_event = "leader"  # nothing commits before the first leader is elected
    config: RaftConfig
    byzantine_behaviours = ("silent", "omit", "delay", "replay", "forge", "equivocate", "double_vote")
    weighs_nodes = False
    """Every server counts as one: a node weight would do nothing."""

    def on_start(self) -> None:
        """Load persistent state (the snapshot, then the log after it); reset volatile state."""
        storage = self.ctx.storage
        self.term: int = storage.setdefault("term", 0)
        self.voted_for: str | None = storage.setdefault("voted_for", None)
        snapshot: Snapshot | None = storage.get("snapshot")
        offset = snapshot.index if snapshot else 0
        self.log = RaftLog(storage.setdefault("log", [(0, "")]), offset, snapshot.chain if snapshot else 0)
        # The state machine restarts from the snapshot's sessions; entries after it are replayed
        # as they are learned committed again, without being recorded twice.
        self.sessions = Sessions(snapshot.sessions, snapshot.loose) if snapshot else Sessions()
        self.commit_index = self.last_applied = offset
        self.recorded: int = storage.setdefault("recorded", 0)
        self.role = FOLLOWER
        self.leader_id: str | None = None
        self.votes: set[str] = set()
        self.progress: dict[str, Progress] = {}
        self.pending: dict[str, str] = {}  # cmd_id -> client, at the leader
        self.followed_term = -1
        self.leader_contact = float("-inf")  # last time a leader was heard (pre-vote's check)
        self.reset_at = self.ctx.now  # election timer measured from here (lazily re-armed)
        self.majority = len(self.ctx.nodes) // 2 + 1
        self._arm_election()

    def is_leader(self) -> bool:
        """Whether this server is the leader of its current term."""
        return self.role == LEADER

    def epoch(self) -> tuple[int, ...]:
        """The current term."""
        return (self.term,)

    def on_timer(self, name: str) -> None:
        """Election timeout or heartbeat."""
        if name == HEARTBEAT:
            self._heartbeat()
        elif name == ELECTION:
            self._election_timer()

    def on_message(self, src: str, msg: Message) -> None:
        """Etcd's Step: the term check once, then the current role's handler for the message's type."""
        if msg.term != self.term and not self._check_term(src, msg):  # type: ignore[attr-defined]
            return
        handler = self.role_handlers[self.role].get(type(msg))
        if handler is not None:
            handler(self, src, msg)

    def _check_term(self, src: str, msg: Any) -> bool:
        """A message of another term: whether it goes on to the role's handler (section 5.1, as etcd's Step).

        A higher term makes this server a follower in it first, except for the pre-vote round
        (thesis section 9.6): a pre-vote proposes a term nobody has entered, and a granted answer
        carries that term, so neither moves ours. A stale request is answered with our term and
        a refusal, so an old leader or candidate learns it is behind; a stale answer is dropped.
        """
        kind = type(msg)
        if msg.term > self.term:
            if kind is not PreVote and not (kind is PreVoteResponse and msg.vote_granted):
                self._observe_term(msg.term)
            return True
        if kind is AppendEntries or kind is InstallSnapshot:
            self.ctx.send(src, AppendEntriesResponse(self.term, False, 0))
        elif kind is RequestVote:
            self.ctx.send(src, RequestVoteResponse(self.term, False))
        elif kind is PreVote:
            self.ctx.send(src, PreVoteResponse(self.term, False))
        return False

    @handles(AppendEntries, InstallSnapshot, role=(PRECANDIDATE, CANDIDATE, LEADER))
    def _meet_leader(self, src: str, msg: AppendEntries | InstallSnapshot) -> None:
        """The leader of our own term: a (pre-)candidate has lost and follows it.

        A leader meets another leader of its term only from a byzantine sender (a term has one
        leader); it steps down and follows it too, recording the step-down.
        """
        self._become_follower()
        self.role_handlers[FOLLOWER][type(msg)](self, src, msg)

    # --- class hooks ---------------------------------------------------------------------

    @classmethod
    def client_class(cls) -> type[Client]:
        """The leader-following client, sending its session floor with every request (session.py)."""
        from sim.protocols.raft.client import SessionClient

        return SessionClient

    @classmethod
    def validate(cls, scenario: Scenario, config: RaftConfig) -> list[tuple[str, str]]:  # type: ignore[override]
        """Timeouts must make sense: low <= high, heartbeats well inside the election timeout."""
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
        from sim.checkers.execution import LOG_CHECKERS
        from sim.protocols.raft.checks import RAFT_CHECKERS

        return [*GENERIC_CHECKERS, *LOG_CHECKERS, *RAFT_CHECKERS]

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
