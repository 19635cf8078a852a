"""Multi-Paxos messages, named after the phases of the paper (prepare/promise, accept/accepted)."""

from __future__ import annotations

from dataclasses import dataclass

from sim.protocols.base import Message, payload_bytes

Ballot = tuple[int, int]
"""(round, node index): totally ordered, unique to one proposer."""
NO_BALLOT: Ballot = (0, -1)


@dataclass(frozen=True, slots=True)
class Prepare(Message):
    """Phase 1a: promise me `ballot`, and report what you accepted from slot `low` on."""

    ballot: Ballot
    low: int


@dataclass(frozen=True, slots=True)
class Promise(Message):
    """Phase 1b: promised; `accepted` lists (slot, ballot, value) for slots >= low."""

    ballot: Ballot
    low: int
    accepted: tuple[tuple[int, Ballot, str], ...]

    @property
    def size_bytes(self) -> int:
        """Header plus one entry per accepted slot."""
        return self.header_bytes + sum(16 + len(v) for _, _, v in self.accepted)


@dataclass(frozen=True, slots=True)
class Accept(Message):
    """Phase 2a: accept `value` for `slot` under `ballot`."""

    ballot: Ballot
    slot: int
    value: str

    @property
    def size_bytes(self) -> int:
        """Header plus the value (with a command's payload)."""
        return self.header_bytes + len(self.value) + payload_bytes(self.value)


@dataclass(frozen=True, slots=True)
class Accepted(Message):
    """Phase 2b: accepted `slot` under `ballot`; the acceptor has learned every slot below `learned`."""

    ballot: Ballot
    slot: int
    learned: int = 0


@dataclass(frozen=True, slots=True)
class Decide(Message):
    """Learning: `value` is chosen for `slot` (chosen in ballot round `round`)."""

    slot: int
    value: str
    round: int

    @property
    def size_bytes(self) -> int:
        """Header plus the value."""
        return self.header_bytes + len(self.value)


@dataclass(frozen=True, slots=True)
class Nack(Message):
    """Rejection of `ballot`: the acceptor has promised the higher `promised`."""

    ballot: Ballot
    promised: Ballot


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Leader to all: I lead with `ballot`; every slot below `chosen_upto` is chosen.

    Every node has learned every slot below `compacted`: their accepted values can be forgotten.
    """

    ballot: Ballot
    chosen_upto: int
    compacted: int = 0


@dataclass(frozen=True, slots=True)
class CatchUp(Message):
    """Learner to leader: I have learned every slot below `have`; send me what follows."""

    have: int
