"""PBFT messages (Castro and Liskov, OSDI 1999) and the digests they carry.

Every message is authenticated by its sender; the node rejects one whose claimed sender is not
its true sender (`Protocol.authenticated`), so the sizes below include an authenticator.
Certificates inside view-change messages are the signed messages themselves, each paired with
its signer (`Signed`): a replica that received a message over an authenticated channel knows
who sent it, and as with signatures a faulty replica cannot make another replica's, so the
byzantine behaviours only ever sign as a faulty replica or pass on messages they really got.
Receivers check everything else: that the messages match, come from distinct replicas of the
right roles, are enough, and lie within the watermarks. A message carrying certificates (a
view-change, a new-view) reports in `signatures` every signed message in them, so a receiver's
`crypto.verify` cost is charged once for each, as checking them takes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar

from sim.protocols.base import Message, payload_bytes

AUTH_BYTES = 32
"""Bytes of the authenticator (signature or MAC vector) every message carries."""
DIGEST_BYTES = 32
NULL_DIGEST = "null"
"""The digest of the null request a new primary puts in sequence numbers nobody prepared."""


def request_digest(client: str, cmd_id: str, op: str) -> str:
    """A collision-resistant digest of a client request (short, for readability)."""
    return hashlib.blake2b(f"{client}|{cmd_id}|{op}".encode(), digest_size=8).hexdigest()


def next_state_digest(state: str, seq: int, value: str) -> str:
    """The service state after executing `value` at `seq` (a hash chain over the execution)."""
    return hashlib.blake2b(f"{state}|{seq}|{value}".encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class Request(Message):
    """<REQUEST, o, t, c>: a client operation; `cmd_id` plays the timestamp's role (unique)."""

    client: str
    cmd_id: str
    op: str = ""

    @property
    def digest(self) -> str:
        """D(m)."""
        return request_digest(self.client, self.cmd_id, self.op)

    @property
    def size_bytes(self) -> int:
        """Header, operation and authenticator."""
        return self.header_bytes + len(self.cmd_id) + len(self.op) + payload_bytes(self.cmd_id) + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class Reply(Message):
    """<REPLY, v, t, c, i, r>: the result of executing the client's request."""

    view: int
    cmd_id: str
    result: str

    @property
    def size_bytes(self) -> int:
        """Header, result and authenticator."""
        return self.header_bytes + len(self.result) + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class PrePrepare(Message):
    """<<PRE-PREPARE, v, n, d>, m>: the primary assigns sequence number `seq` to a request."""

    view: int
    seq: int
    digest: str
    request: Request | None = None

    @property
    def size_bytes(self) -> int:
        """Header, digest, authenticator and the piggybacked request."""
        body = self.request.size_bytes if self.request is not None else 0
        return self.header_bytes + DIGEST_BYTES + AUTH_BYTES + body


@dataclass(frozen=True, slots=True)
class Vote(Message):
    """The shape of the two agreement phases' messages: a replica's vote for digest `digest` at (v, n)."""

    view: int
    seq: int
    digest: str

    size_bytes: ClassVar[int] = Message.header_bytes + DIGEST_BYTES + AUTH_BYTES
    """Header, digest and authenticator."""


@dataclass(frozen=True, slots=True)
class Prepare(Vote):
    """<PREPARE, v, n, d, i>: a backup agrees to the primary's assignment."""


@dataclass(frozen=True, slots=True)
class Commit(Vote):
    """<COMMIT, v, n, D(m), i>: the sender has prepared the request."""


@dataclass(frozen=True, slots=True)
class Checkpoint(Message):
    """<CHECKPOINT, n, d, i>: the sender's state digest after executing up to `seq`."""

    seq: int
    state: str

    size_bytes: ClassVar[int] = Message.header_bytes + DIGEST_BYTES + AUTH_BYTES
    """Header, state digest and authenticator."""


@dataclass(frozen=True, slots=True)
class PreparedCert:
    """A prepared certificate: the primary's pre-prepare and q - 1 matching prepares, each with its signer."""

    pre_prepare: PrePrepare
    prepares: tuple[tuple[str, Prepare], ...]

    @property
    def seq(self) -> int:
        """The sequence number the certificate is for."""
        return self.pre_prepare.seq

    @property
    def view(self) -> int:
        """The view in which the request prepared."""
        return self.pre_prepare.view

    @property
    def digest(self) -> str:
        """The digest that prepared."""
        return self.pre_prepare.digest

    @property
    def request(self) -> Request | None:
        """The request that prepared (None for the null request)."""
        return self.pre_prepare.request

    @property
    def size_bytes(self) -> int:
        """The pre-prepare plus every prepare."""
        return self.pre_prepare.size_bytes + sum(p.size_bytes for _, p in self.prepares)

    @property
    def signatures(self) -> int:
        """The signed messages it holds, each checked by a receiver: the pre-prepare and every prepare."""
        return 1 + len(self.prepares)


@dataclass(frozen=True, slots=True)
class ViewChange(Message):
    """<VIEW-CHANGE, v+1, n, C, P, i>: the sender's stable checkpoint and prepared certificates."""

    view: int
    stable_seq: int
    stable_state: str
    checkpoint_proof: tuple[tuple[str, Checkpoint], ...]
    """C: the q checkpoint messages (with their signers) that made the checkpoint stable."""
    prepared: tuple[PreparedCert, ...]

    @property
    def size_bytes(self) -> int:
        """Header, checkpoint proof and every certificate."""
        proof = sum(c.size_bytes for _, c in self.checkpoint_proof)
        return self.header_bytes + AUTH_BYTES + proof + sum(c.size_bytes for c in self.prepared)

    @property
    def signatures(self) -> int:  # type: ignore[override]  # per message here, a class constant elsewhere
        """The sender's, each checkpoint message's of C and each message's of every certificate in P.

        A view-change is valid only if its certificates are (Castro and Liskov, section 4.4): the
        receiver checks every signed message in them, so `crypto.verify` is charged for each.
        """
        return 1 + len(self.checkpoint_proof) + sum(cert.signatures for cert in self.prepared)


@dataclass(frozen=True, slots=True)
class NewView(Message):
    """<NEW-VIEW, v+1, V, O>: the new primary's proof (V) and its re-issued pre-prepares (O)."""

    view: int
    view_changes: tuple[tuple[str, ViewChange], ...]
    pre_prepares: tuple[PrePrepare, ...]

    kind: ClassVar[str] = "new_view"

    @property
    def size_bytes(self) -> int:
        """Header plus the view-change and pre-prepare messages it carries."""
        return (
            self.header_bytes
            + AUTH_BYTES
            + sum(vc.size_bytes for _, vc in self.view_changes)
            + sum(pp.size_bytes for pp in self.pre_prepares)
        )

    @property
    def signatures(self) -> int:  # type: ignore[override]  # per message here, a class constant elsewhere
        """The new primary's, and every view-change's in V with all the certificates each carries.

        A backup accepts a new-view only if the view-changes in it are valid (Castro and Liskov,
        section 4.4), so it checks each one whole, even one it has already received itself; O is
        covered by the new primary's signature and checked by recomputing it from V, not signature
        by signature.
        """
        return 1 + sum(vc.signatures for _, vc in self.view_changes)


@dataclass(frozen=True, slots=True)
class Status(Message):
    """A stalled replica's summary of where it is; peers answer by re-sending what it lacks.

    This is the receiver-based retransmission of Castro's BFT library: only a replica that makes
    no progress sends it, so a loss-free run never sees one.
    """

    view: int
    active: bool
    stable_seq: int
    last_exec: int
    phases: tuple[tuple[int, int], ...]
    """(seq, phase) above `last_exec` in `view`: 1 pre-prepared, 2 prepared, 3 committed-local."""

    @property
    def size_bytes(self) -> int:
        """Header, authenticator, four integers and a few bytes per listed sequence number."""
        return self.header_bytes + AUTH_BYTES + 16 + 5 * len(self.phases)


@dataclass(frozen=True, slots=True)
class Fetch(Message):
    """Asks for the requests committed at sequence numbers `low`..`high` (state transfer)."""

    low: int
    high: int

    size_bytes: ClassVar[int] = Message.header_bytes + AUTH_BYTES + 8
    """Header, authenticator and the range."""


@dataclass(frozen=True, slots=True)
class FetchReply(Message):
    """The committed requests (None for the null request) of a range, with the view of each."""

    entries: tuple[tuple[int, Request | None, int], ...]

    @property
    def size_bytes(self) -> int:
        """Header, authenticator and every request."""
        body = sum(8 + (req.size_bytes if req is not None else 0) for _, req, _ in self.entries)
        return self.header_bytes + AUTH_BYTES + body
