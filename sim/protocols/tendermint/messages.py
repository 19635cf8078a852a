"""Tendermint's messages (Buchman, Kwon and Milosevic, "The latest gossip on BFT consensus", 2018)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sim.protocols._broadcast_client import AUTH_BYTES, Request
from sim.protocols.base import Message

DIGEST_BYTES = 32


@dataclass(frozen=True, slots=True)
class Value:
    """A proposed value: a batch of client commands (a block), named by its digest."""

    cmds: tuple[Request, ...]
    proposer: str
    height: int
    salt: int = 0
    """Distinguishes values an equivocating proposer makes (0 for honest ones)."""

    @property
    def id(self) -> str:
        """The value's digest, binding every command."""
        text = f"{self.height}|{self.proposer}|{self.salt}|" + ",".join(c.cmd_id for c in self.cmds)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    @property
    def size_bytes(self) -> int:
        """The commands and a digest."""
        return DIGEST_BYTES + sum(c.size_bytes for c in self.cmds)


@dataclass(frozen=True, slots=True)
class Proposal(Message):
    """<PROPOSAL, h, r, v, vr>: the round's proposer proposes v (vr: the round where v got a polka, or -1)."""

    height: int
    round: int
    value: Value
    valid_round: int

    @property
    def size_bytes(self) -> int:
        """Header, height, round, valid round, the value and a signature."""
        return self.header_bytes + 24 + self.value.size_bytes + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class Prevote(Message):
    """<PREVOTE, h, r, id(v) or nil>."""

    height: int
    round: int
    value: str | None

    @property
    def size_bytes(self) -> int:
        """Header, height, round, a digest and a signature."""
        return self.header_bytes + 16 + DIGEST_BYTES + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class Precommit(Message):
    """<PRECOMMIT, h, r, id(v) or nil>."""

    height: int
    round: int
    value: str | None

    @property
    def size_bytes(self) -> int:
        """Header, height, round, a digest and a signature."""
        return self.header_bytes + 16 + DIGEST_BYTES + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class SyncRequest(Message):
    """Ask a peer ahead of us for the value decided at `height` and its commit certificate."""

    height: int

    @property
    def size_bytes(self) -> int:
        """Header and height."""
        return self.header_bytes + 8


@dataclass(frozen=True, slots=True)
class SyncReply(Message):
    """A decided value with its commit: the replicas whose precommits for it in `round` form a quorum."""

    height: int
    round: int
    value: Value
    signers: frozenset[str]

    @property
    def size_bytes(self) -> int:
        """Header, the value and one signature per precommit."""
        return self.header_bytes + 16 + self.value.size_bytes + AUTH_BYTES * len(self.signers)

    @property
    def signatures(self) -> int:  # type: ignore[override]  # per message here, a class constant elsewhere
        """The sender's, and each precommit's of the commit certificate: adopting the height checks them all."""
        return 1 + len(self.signers)


@dataclass(frozen=True, slots=True)
class FetchValue(Message):
    """Ask peers for the value with digest `value` (seen in a quorum of votes, its proposal missed)."""

    height: int
    value: str

    @property
    def size_bytes(self) -> int:
        """Header, height and digest."""
        return self.header_bytes + 8 + DIGEST_BYTES


@dataclass(frozen=True, slots=True)
class ValueReply(Message):
    """A value sent in answer to `FetchValue`; the receiver checks it against the digest, so it needs no trust."""

    height: int
    value: Value

    @property
    def size_bytes(self) -> int:
        """Header, height and the value."""
        return self.header_bytes + 8 + self.value.size_bytes


@dataclass(frozen=True, slots=True)
class Relay(Message):
    """Other replicas' signed proposals and votes of `height`, passed on by the gossip: (signer, message) pairs.

    As with signatures, a replica cannot make another's: a relayer, faulty or not, only passes on
    what it received from the signer (or in a relay), so the receiver counts each as its signer's.
    """

    height: int
    signed: tuple[tuple[str, Proposal | Prevote | Precommit], ...]

    @property
    def size_bytes(self) -> int:
        """Header, height, and each message without its header (it keeps its signature) with its signer's id."""
        return self.header_bytes + 8 + sum(msg.size_bytes - msg.header_bytes + 8 for _, msg in self.signed)

    @property
    def signatures(self) -> int:  # type: ignore[override]  # per message here, a class constant elsewhere
        """The relayer's, and each relayed message's signer's: every one is checked."""
        return 1 + len(self.signed)
