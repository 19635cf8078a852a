"""Voting's messages (a question, a ballot, a recovered collector's repoll) and a collector's poll."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sim.protocols.base import Message
from sim.protocols.message import SIGNATURE_BYTES

if TYPE_CHECKING:
    from sim.protocols.voting.load import Signal


@dataclass(frozen=True, slots=True)
class Question(Message):
    """Coordinator to voters: vote on `qid`. `truth` is the world voters observe (noisily), not a hint."""

    qid: str
    truth: str
    signal: Signal | None = None
    """A load reading voters observe with noise (the `load` workload) instead of `truth` with `accuracy`."""

    @property
    def size_bytes(self) -> int:
        """Header plus the question (and its load reading)."""
        return self.header_bytes + len(self.qid) + len(self.truth) + (self.signal.size_bytes if self.signal is not None else 0)


@dataclass(frozen=True, slots=True)
class Vote(Message):
    """A ballot: `voter` answers `qid` with `answer`; `ballot` is the voter's ballot number."""

    qid: str
    voter: str
    answer: str
    ballot: int
    signed: bool = False

    @property
    def size_bytes(self) -> int:
        """Header, fields, and a signature when signed."""
        return self.header_bytes + len(self.qid) + len(self.voter) + len(self.answer) + 8 + (SIGNATURE_BYTES if self.signed else 0)


@dataclass(frozen=True, slots=True)
class Repoll(Message):
    """A recovered collector to a voter: send me again your ballot on `qid` (mine was lost in the crash)."""

    qid: str

    @property
    def size_bytes(self) -> int:
        """Header and the question's id."""
        return self.header_bytes + len(self.qid)


@dataclass
class Poll:
    """One open question at a collecting node."""

    qid: str
    started: float
    client: str | None = None
    ballots: dict[tuple[str, int], str] = field(default_factory=dict)
    cheaters: set[str] = field(default_factory=set)
