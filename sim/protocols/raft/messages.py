"""Raft's messages (the paper's RPCs and their replies); its `protocol:` settings are in config.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sim.protocols.base import Command, Message

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
