"""Raft (Ongaro & Ousterhout, 2014): leader election, log replication, the commit rule, snapshots.

Persistent state (currentTerm, votedFor, the log after the snapshot, the snapshot, and the
highest index recorded as a decision) lives in `ctx.storage`, written before any message that
depends on it leaves (`ctx.persist()` charges the scenario's storage write time). The log keeps
a sentinel for the snapshot's last index, so it is addressed by Raft index through `RaftLog`.
Each node also keeps a CRC chain over its log (volatile, rebuilt on start): decisions and
`leader` events carry it, so the checkers can test log matching and leader completeness from
the journal alone. Election lives in election.py; replication, commit and snapshots in
replication.py; the leader's per-follower flow control in progress.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.base import Message, Protocol, register
from sim.protocols.raft.election import ELECTION, FOLLOWER, HEARTBEAT, LEADER, Election
from sim.protocols.raft.log import RaftLog
from sim.protocols.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    InstallSnapshot,
    PreVote,
    PreVoteResponse,
    RaftConfig,
    RequestVote,
    RequestVoteResponse,
    Snapshot,
    timing_problems,
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
class Raft(Election, Replication, Protocol):
    """One Raft server: follower, (pre-)candidate or leader."""

    Config = RaftConfig
    tolerates = "crash f<n/2"
    ready_event = "leader"  # nothing commits before the first leader is elected
    config: RaftConfig
    byzantine_behaviours = ("silent", "omit", "delay", "replay", "forge", "equivocate", "double_vote")

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
        elif kind is InstallSnapshot:
            self._on_install_snapshot(src, msg)  # type: ignore[arg-type]

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
