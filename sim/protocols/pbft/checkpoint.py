"""PBFT checkpoints, garbage collection and state transfer.

Every `checkpoint_interval` executions a replica multicasts its state digest; a quorum q
(2f + 1 when n = 3f + 1) of matching digests make the checkpoint stable, which truncates the log and moves the watermarks. A replica
that learns of a stable checkpoint beyond what it has executed fetches the committed requests it
misses: it asks f + 1 of the replicas that vouched for the checkpoint (then everyone, on the
retransmission timer), and accepts an answer only when re-executing it from its own state gives
the certified digest: the q checkpoint messages are the proof, so one honest answer is
enough and a lying one is recognised. Every fetched sequence number is decided, in order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.base import NOOP
from sim.protocols.dispatch import handles
from sim.protocols.pbft.messages import Checkpoint, Fetch, FetchReply, next_state_digest

if TYPE_CHECKING:
    from sim.protocols.base import Context
    from sim.protocols.pbft.messages import Request
    from sim.protocols.pbft.state import ReplicaState


class CheckpointMixin:
    """The checkpoint and state-transfer half of a PBFT replica (mixed into `Pbft`)."""

    ctx: Context
    st: ReplicaState
    f: int
    commit_quorum: int
    prepare_quorum: int
    me: str

    if TYPE_CHECKING:  # provided by Pbft

        def is_leader(self) -> bool: ...  # noqa: D102

        def assign_pending(self) -> None: ...  # noqa: D102

        def execute(self) -> None: ...  # noqa: D102

        def apply(self, seq: int, req: Request | None, view: int, reply: bool) -> bool: ...  # noqa: D102

    def take_checkpoint(self, seq: int) -> None:
        """Multicast our state digest at `seq` (unless a stable checkpoint already covers it)."""
        if seq <= self.st.h:
            return
        self.st.checkpoints.setdefault(seq, {})[self.me] = self.st.state
        self.ctx.broadcast(Checkpoint(seq, self.st.state))
        self.check_stable(seq)

    @handles(Checkpoint)
    def on_checkpoint(self, src: str, c: Checkpoint) -> None:
        """Collect checkpoint messages above the low watermark."""
        if c.seq <= self.st.h:
            return
        votes = self.st.checkpoints.setdefault(c.seq, {})
        if src not in votes:
            votes[src] = c.state
            self.check_stable(c.seq)

    def check_stable(self, seq: int) -> None:
        """A quorum of matching checkpoint messages makes a checkpoint stable."""
        votes = self.st.checkpoints.get(seq, {})
        counts: dict[str, int] = {}
        for digest in votes.values():
            counts[digest] = counts.get(digest, 0) + 1
        for digest in sorted(counts):
            if counts[digest] >= self.commit_quorum:
                proof = tuple((s, Checkpoint(seq, digest)) for s in sorted(votes) if votes[s] == digest)
                self.make_stable(seq, digest, proof)
                return

    def make_stable(self, seq: int, state: str, proof: tuple[tuple[str, Checkpoint], ...]) -> None:
        """Advance the low watermark to `seq`, discarding the log below it; fetch what we lack."""
        st = self.st
        if seq <= st.h:
            return
        st.h, st.stable_state, st.stable_proof = seq, state, proof
        st.log = {key: slot for key, slot in st.log.items() if key[1] > seq}
        st.certs = {n: c for n, c in st.certs.items() if n > seq}
        st.checkpoints = {n: v for n, v in st.checkpoints.items() if n > seq}
        st.next_seq = max(st.next_seq, seq + 1)
        if st.last_exec < seq:
            # Committed-local entries at or below `seq` stay: they may still execute before the
            # fetch answer comes. f + 1 of the vouching replicas include an honest one.
            self.ctx.record("state_transfer", seq=seq, behind=seq - st.last_exec)
            self.request_fetch([s for s, _ in proof if s != self.me][: self.f + 1])
        if self.is_leader():
            self.assign_pending()
        self.execute()

    # --- state transfer --------------------------------------------------------------------------

    def request_fetch(self, targets: list[str]) -> None:
        """Ask `targets` for the committed requests between our last execution and the stable checkpoint."""
        st = self.st
        if st.last_exec >= st.h:
            return
        msg = Fetch(st.last_exec + 1, st.h)
        for target in targets:
            self.ctx.send(target, msg)

    @handles(Fetch)
    def on_fetch(self, src: str, msg: Fetch) -> None:
        """Answer with the requests we executed in the asked range (as much of it as we have)."""
        st = self.st
        high = min(msg.high, st.last_exec)
        entries = tuple((seq, *st.history[seq]) for seq in range(max(msg.low, 1), high + 1) if seq in st.history)
        if entries:
            self.ctx.send(src, FetchReply(entries))

    @handles(FetchReply)
    def on_fetch_reply(self, src: str, msg: FetchReply) -> None:
        """Execute a fetched range if it leads from our state to the stable checkpoint's digest."""
        st = self.st
        if st.last_exec >= st.h:
            return
        by_seq = {seq: (req, view) for seq, req, view in msg.entries}
        state = st.state
        plan: list[tuple[int, Request | None, int]] = []
        for seq in range(st.last_exec + 1, st.h + 1):
            if seq not in by_seq:
                return  # a partial answer cannot be checked against the certificate
            req, view = by_seq[seq]
            state = next_state_digest(state, seq, NOOP if req is None else req.cmd_id)  # as `Pbft.apply`
            plan.append((seq, req, view))
        if state != st.stable_state:
            return  # not the history the 2f + 1 checkpoint messages vouch for: a faulty answer
        for seq, req, view in plan:
            self.apply(seq, req, view, False)
        st.committed = {n: v for n, v in st.committed.items() if n > st.last_exec}
        self.ctx.record("fetched", seq=st.h, count=len(plan), source=src)
        self.execute()
