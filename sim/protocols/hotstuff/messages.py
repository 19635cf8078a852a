"""Chained HotStuff's blocks, quorum certificates and messages (Yin et al., PODC 2019).

A quorum certificate stands for a threshold signature: the set of replicas whose votes it
aggregates travels with it (so receivers can check it), but its size on the wire is one
aggregate signature plus a signer bitmap, as with BLS or threshold RSA. Checking it is one
verification too, whatever the number of signers, so a message carrying a QC keeps the default
`signatures` of 1: the QC's, as the paper signs only votes (partially). The sender's
authenticator that the sizes count on a proposal or new-view is not charged a verify of its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from sim.protocols._broadcast_client import AUTH_BYTES, Request
from sim.protocols.base import Message

AGGREGATE_BYTES = 96
"""Bytes of an aggregate (threshold) signature."""
DIGEST_BYTES = 32
GENESIS = "genesis"


@dataclass(frozen=True, slots=True)
class QC:
    """A quorum certificate: a quorum of votes for block `block` proposed in `view`."""

    view: int
    block: str
    signers: frozenset[str] = frozenset()

    @property
    def size_bytes(self) -> int:
        """View, digest, one aggregate signature and a bitmap of signers."""
        return 8 + DIGEST_BYTES + AGGREGATE_BYTES + (len(self.signers) + 7) // 8


GENESIS_QC = QC(0, GENESIS)


@dataclass(frozen=True, slots=True)
class Block:
    """A node of the block tree: commands, its parent, and the QC it carries (`justify`)."""

    view: int
    parent: str
    justify: QC
    cmds: tuple[Request, ...]
    proposer: str
    salt: int = 0
    """Distinguishes blocks an equivocating leader makes for one view (0 for honest ones)."""

    @property
    def id(self) -> str:
        """The block's digest: it binds every field, so two different blocks never share an id."""
        text = "|".join([str(self.view), self.parent, str(self.justify.view), self.justify.block, self.proposer, str(self.salt)])
        text += "|" + ",".join(c.cmd_id for c in self.cmds)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()

    @property
    def size_bytes(self) -> int:
        """Header fields, the commands and the carried QC."""
        return 8 + 2 * DIGEST_BYTES + sum(c.size_bytes for c in self.cmds) + self.justify.size_bytes


GENESIS_BLOCK = Block(0, "", GENESIS_QC, (), "")


@dataclass(frozen=True, slots=True)
class Proposal(Message):
    """The leader of `block.view` proposes `block` (its generic phase: prepare, and the QC for the parent)."""

    block: Block

    @property
    def size_bytes(self) -> int:
        """Header, the block and the leader's signature."""
        return self.header_bytes + self.block.size_bytes + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class Vote(Message):
    """A replica's vote for `block` of `view`, sent to the leader of the next view (a partial signature)."""

    view: int
    block: str

    @property
    def size_bytes(self) -> int:
        """Header, view, digest and a partial signature."""
        return self.header_bytes + 8 + DIGEST_BYTES + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class NewView(Message):
    """The pacemaker's message: 'I have left view `view` - 1'; carries the sender's highest QC."""

    view: int
    qc: QC

    kind: ClassVar[str] = "new_view"

    @property
    def size_bytes(self) -> int:
        """Header, view, the QC and a signature."""
        return self.header_bytes + 8 + self.qc.size_bytes + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class FetchBlock(Message):
    """Ask a peer for a block this replica lacks (an ancestor of a proposal)."""

    block: str

    @property
    def size_bytes(self) -> int:
        """Header and digest."""
        return self.header_bytes + DIGEST_BYTES


@dataclass(frozen=True, slots=True)
class BlockReply(Message):
    """A block sent in answer to `FetchBlock` (checked against the asked digest)."""

    block: Block

    @property
    def size_bytes(self) -> int:
        """Header and the block."""
        return self.header_bytes + self.block.size_bytes
