"""Raft's messages (the paper's RPCs and their replies) and its `protocol:` settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from sim.protocols.base import Command, Message, ProtocolConfig
from sim.scenario import Ms

Entry = tuple[int, str] | tuple[int, str, int]
"""A log entry: (term, value), or (term, command, floor) for a command whose client said its
session floor (see session.py). Values are client command ids or NOOP."""

TERM_BYTES = 8
INDEX_BYTES = 8
ENTRY_OVERHEAD = TERM_BYTES + 8  # term plus a length prefix for the command


@dataclass(frozen=True, slots=True)
class RequestVote(Message):
    """Candidate asks for a vote in `term` (section 5.2), showing how current its log is."""

    term: int
    candidate: str
    last_log_index: int
    last_log_term: int

    @property
    def size_bytes(self) -> int:
        """Header, three integers and the candidate id."""
        return self.header_bytes + 3 * TERM_BYTES + len(self.candidate)


@dataclass(frozen=True, slots=True)
class RequestVoteResponse(Message):
    """The voter's term and whether it granted its vote."""

    term: int
    vote_granted: bool

    size_bytes: ClassVar[int] = Message.header_bytes + TERM_BYTES + 1
    """Header, term and a flag."""


@dataclass(frozen=True, slots=True)
class PreVote(Message):
    """Would you vote for me in `term` (= my term + 1)? Asked without bumping any term."""

    term: int
    candidate: str
    last_log_index: int
    last_log_term: int

    @property
    def size_bytes(self) -> int:
        """Same shape as RequestVote."""
        return self.header_bytes + 3 * TERM_BYTES + len(self.candidate)


@dataclass(frozen=True, slots=True)
class PreVoteResponse(Message):
    """Granted: `term` echoes the proposed term; refused: the responder's current term."""

    term: int
    vote_granted: bool

    size_bytes: ClassVar[int] = Message.header_bytes + TERM_BYTES + 1
    """Header, term and a flag."""


@dataclass(frozen=True, slots=True)
class AppendEntries(Message):
    """Leader replicates `entries` after (prev_log_index, prev_log_term); empty = heartbeat."""

    term: int
    leader: str
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int

    @property
    def size_bytes(self) -> int:
        """Header, four integers, the leader id, and each entry's term, length and command (with its payload)."""
        size = self.header_bytes + 2 * TERM_BYTES + 2 * INDEX_BYTES + len(self.leader)
        for entry in self.entries:
            value = entry[1]
            size += ENTRY_OVERHEAD + len(value)
            if len(entry) > 2:
                size += INDEX_BYTES
            if type(value) is Command:  # `payload_bytes`, inlined: this runs for every entry sent
                size += value.payload
        return size


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse(Message):
    """A follower's answer to AppendEntries (and to InstallSnapshot).

    Success: `index` is the follower's match index. Failure: `index` is the rejected
    prev_log_index and `hint` the next index worth trying (section 5.3's optimisation).
    """

    term: int
    success: bool
    index: int
    hint: int = 0

    size_bytes: ClassVar[int] = Message.header_bytes + TERM_BYTES + 1 + 2 * INDEX_BYTES
    """Header, term, flag and two indexes."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state machine as of `index` (section 7), with the term and CRC chain of its last entry.

    The state machine is the client sessions table (session.py): per client its floor and the
    numbers applied at or above it, plus any applied ids not of the form `client:seq`.
    Immutable, so it can be stored and shipped as is.
    """

    index: int
    term: int
    chain: int
    sessions: tuple[tuple[str, int, tuple[int, ...]], ...] = ()
    loose: frozenset[str] = frozenset()

    @property
    def size_bytes(self) -> int:
        """Three integers and the sessions table (per client: id, floor, count, numbers)."""
        size = 3 * INDEX_BYTES + sum(len(cmd) + 4 for cmd in self.loose)
        for client, _floor, done in self.sessions:
            size += len(client) + 4 + INDEX_BYTES + 4 + INDEX_BYTES * len(done)
        return size


@dataclass(frozen=True, slots=True)
class InstallSnapshot(Message):
    """The leader's snapshot, for a follower that needs compacted entries (Figure 13, one chunk).

    The follower answers with a successful AppendEntriesResponse at the snapshot's index.
    """

    term: int
    leader: str
    snapshot: Snapshot

    @property
    def size_bytes(self) -> int:
        """Header, term, the leader id and the snapshot."""
        return self.header_bytes + TERM_BYTES + len(self.leader) + self.snapshot.size_bytes


class RaftConfig(ProtocolConfig):
    """Raft's settings (`protocol:` in a scenario)."""

    election_timeout: tuple[Ms, Ms] = Field(default=("max(150ms, 5rtt)", "max(300ms, 10rtt)"), validate_default=True)
    """Each election timeout is drawn uniformly from [low, high] ms (equal bounds: a fixed timeout; default: 150-300ms, or
    5-10 rtt on a slower network)."""
    heartbeat_interval: Annotated[Ms, Field(gt=0)] = Field(default="max(50ms, 1rtt)", validate_default=True)
    pre_vote: bool = False
    """Run a PreVote round (which bumps no term) before a real election."""
    max_batch: Annotated[int, Field(ge=1)] = 64
    """At most this many entries per AppendEntries."""
    max_inflight: Annotated[int, Field(ge=1)] = 256
    """At most this many AppendEntries with entries in flight to a follower in the replicate
    state (etcd/raft's MaxInflightMsgs)."""
    snapshot_interval: Annotated[int, Field(ge=1)] = 10_000
    """Snapshot the state machine and compact the log every this many applied entries."""
    noop_on_elect: bool = True
    """A new leader appends a no-op of its term so earlier entries commit promptly (section 8)."""

    @field_validator("election_timeout")
    @classmethod
    def _positive(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0:
            raise ValueError("election timeouts must be positive")
        return value


def timing_problems(config: RaftConfig) -> list[tuple[str, str]]:
    """Timeouts must make sense: low <= high, heartbeats inside the election timeout's low end."""
    low, high = config.election_timeout
    problems: list[tuple[str, str]] = []
    if low > high:
        problems.append(("protocol.election_timeout", f"low ({low:g}ms) must not be above high ({high:g}ms)"))
    if config.heartbeat_interval >= low:
        problems.append(
            ("protocol.heartbeat_interval", f"{config.heartbeat_interval:g}ms must be below the election timeout's low end ({low:g}ms)")
        )
    return problems
