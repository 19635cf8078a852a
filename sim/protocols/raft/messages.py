"""Raft's messages (the paper's RPCs and their replies) and its `protocol:` settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, field_validator

from sim.protocols.base import Message, ProtocolConfig
from sim.scenario import Ms

Entry = tuple[int, str]
"""A log entry: (term, value). Values are client command ids or NOOP."""

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

    @property
    def size_bytes(self) -> int:
        """Header, term and a flag."""
        return self.header_bytes + TERM_BYTES + 1


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

    @property
    def size_bytes(self) -> int:
        """Header, term and a flag."""
        return self.header_bytes + TERM_BYTES + 1


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
        """Header, four integers, the leader id, and each entry's term, length and command."""
        size = self.header_bytes + 2 * TERM_BYTES + 2 * INDEX_BYTES + len(self.leader)
        for _term, value in self.entries:
            size += ENTRY_OVERHEAD + len(value)
        return size


@dataclass(frozen=True, slots=True)
class AppendEntriesResponse(Message):
    """Success: `index` is the follower's match index; failure: a hint where to back up to."""

    term: int
    success: bool
    index: int

    @property
    def size_bytes(self) -> int:
        """Header, term, flag and index."""
        return self.header_bytes + TERM_BYTES + 1 + INDEX_BYTES


class RaftConfig(ProtocolConfig):
    """Raft's settings (`protocol:` in a scenario)."""

    election_timeout: tuple[Ms, Ms] = Field(default=("max(150ms, 5rtt)", "max(300ms, 10rtt)"), validate_default=True)
    """Each election timeout is drawn uniformly from [low, high] ms (default: 150-300ms, or 5-10 rtt on a slower network)."""
    heartbeat_interval: Annotated[Ms, Field(gt=0)] = Field(default="max(50ms, 1rtt)", validate_default=True)
    pre_vote: bool = False
    """Run a PreVote round (which bumps no term) before a real election."""
    max_batch: Annotated[int, Field(ge=1)] = 64
    """At most this many entries per AppendEntries."""
    noop_on_elect: bool = True
    """A new leader appends a no-op of its term so earlier entries commit promptly (section 8)."""

    @field_validator("election_timeout")
    @classmethod
    def _positive(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] <= 0:
            raise ValueError("election timeouts must be positive")
        return value


def timing_problems(config: RaftConfig) -> list[tuple[str, str]]:
    """Timeouts must make sense: low < high, heartbeats inside the election timeout's low end."""
    low, high = config.election_timeout
    problems: list[tuple[str, str]] = []
    if low >= high:
        problems.append(("protocol.election_timeout", f"low ({low:g}ms) must be below high ({high:g}ms)"))
    if config.heartbeat_interval >= low:
        problems.append(
            ("protocol.heartbeat_interval", f"{config.heartbeat_interval:g}ms must be below the election timeout's low end ({low:g}ms)")
        )
    return problems
