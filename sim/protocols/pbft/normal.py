"""PBFT's normal case: requests, pre-prepare, prepare, commit, and execution in sequence order.

The primary assigns each waiting request the next sequence number inside the watermark window
and multicasts a pre-prepare; a backup that accepts it multicasts a prepare; a replica that is
prepared (the pre-prepare and q - 1 matching prepares from different backups) multicasts a
commit; one that is committed-local (prepared and q matching commits) executes the request once
every lower sequence number has executed, replies to the client and, every checkpoint interval,
takes a checkpoint. Messages of a view not entered yet wait in `future`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.base import NOOP, Message
from sim.protocols.dispatch import handles
from sim.protocols.pbft.messages import NULL_DIGEST, Commit, Prepare, PrePrepare, Reply, Request, Vote, next_state_digest

if TYPE_CHECKING:
    from sim.protocols.base import Context
    from sim.protocols.pbft.config import PbftConfig
    from sim.protocols.pbft.state import ReplicaState, Slot

FUTURE_LIMIT = 100_000
"""Most messages of not-yet-entered views a replica keeps (a faulty peer must not exhaust memory)."""


class NormalCase:
    """The normal-case half of a PBFT replica (mixed into `Pbft`)."""

    ctx: Context
    config: PbftConfig
    st: ReplicaState
    me: str
    commit_quorum: int
    prepare_quorum: int
    since: dict[str, float]

    if TYPE_CHECKING:  # provided by Pbft and its other halves

        def primary(self, view: int) -> str: ...  # noqa: D102

        def is_leader(self) -> bool: ...  # noqa: D102

        def slot(self, view: int, seq: int) -> Slot: ...  # noqa: D102

        def in_window(self, seq: int) -> bool: ...  # noqa: D102

        def wait_for(self, req: Request) -> None: ...  # noqa: D102

        def arm_timer(self) -> None: ...  # noqa: D102

        def make_cert(self, seq: int, view: int, slot: Slot) -> object: ...  # noqa: D102

        def take_checkpoint(self, seq: int) -> None: ...  # noqa: D102

    # --- requests ------------------------------------------------------------------------------

    @handles(Request)
    def on_client_request(self, src: str, req: Request) -> None:
        """Primary: assign a sequence number. Backup: forward to the primary and start the timer."""
        st = self.st
        if req.cmd_id in st.executed:
            self.ctx.send(req.client, Reply(st.view, req.cmd_id, st.executed[req.cmd_id]))
            return
        self.wait_for(req)
        if not st.active:
            return
        if self.is_leader():
            self.assign_pending()
            return
        if src not in self.ctx.nodes:
            self.ctx.send(self.primary(st.view), req)
        self.arm_timer()

    def assign_pending(self) -> None:
        """Primary: give every waiting, unassigned request the next sequence number in the window."""
        st = self.st
        for cmd_id, req in list(st.waiting.items()):
            if cmd_id in st.assigned:
                continue
            if not self.in_window(st.next_seq):
                return
            seq = st.next_seq
            st.next_seq += 1
            st.assigned[cmd_id] = seq
            slot = self.slot(st.view, seq)
            digest = req.digest  # a hash: computed once
            slot.digest, slot.request = digest, req
            self.multicast(PrePrepare(st.view, seq, digest, req))
            self.check_prepared(st.view, seq, slot)

    # --- normal case ---------------------------------------------------------------------------

    def keep_if_later(self, src: str, view: int, msg: Message) -> None:
        """A message not of the view we are active in: keep it for its view if we have not entered that yet, else drop it."""
        st = self.st
        if view >= st.view and len(st.future) < FUTURE_LIMIT:
            st.future.append((src, msg))

    @handles(PrePrepare)
    def on_pre_prepare(self, src: str, pp: PrePrepare) -> None:
        """Accept a pre-prepare from the primary of our view if its digest is right and unique."""
        st = self.st
        if pp.view != st.view or not st.active:
            self.keep_if_later(src, pp.view, pp)
            return
        if src != self.primary(pp.view) or not self.in_window(pp.seq):
            return
        expected = pp.request.digest if pp.request is not None else NULL_DIGEST
        if pp.digest != expected:
            return  # a digest that does not match the request: a faulty primary
        slot = self.slot(pp.view, pp.seq)
        if slot.digest is not None:
            return  # already accepted one for (v, n): keep the first, ignore conflicts
        self.accept_pre_prepare(pp, slot)

    def accept_pre_prepare(self, pp: PrePrepare, slot: Slot) -> None:
        """Log the pre-prepare, multicast our prepare, and start waiting for the request."""
        slot.digest, slot.request = pp.digest, pp.request
        if pp.request is not None:
            self.wait_for(pp.request)
            self.arm_timer()
        self.vote(slot.prepares, slot.prepare_votes, self.me, pp.digest)
        self.multicast(Prepare(pp.view, pp.seq, pp.digest))
        self.check_prepared(pp.view, pp.seq, slot)

    def multicast(self, msg: PrePrepare | Vote) -> None:
        """Multicast a first-time pre-prepare, prepare or commit, and journal what it said.

        The `sent` events let `check_no_equivocation` see whether an honest replica ever said
        two things about one (kind, view, seq); retransmissions re-send these and are not journaled.
        """
        self.ctx.record("sent", msg=msg.kind, view=msg.view, seq=msg.seq, digest=msg.digest)
        self.ctx.broadcast(msg)

    @staticmethod
    def vote(votes: dict[str, str], counts: dict[str, int], sender: str, digest: str) -> bool:
        """Record one vote per sender; False when the sender already voted."""
        if sender in votes:
            return False
        votes[sender] = digest
        counts[digest] = counts.get(digest, 0) + 1
        return True

    @handles(Prepare)
    def on_prepare(self, src: str, p: Prepare) -> None:
        """Log a backup's prepare for our view."""
        st = self.st
        if p.view != st.view or not st.active:
            self.keep_if_later(src, p.view, p)
            return
        if src == self.primary(p.view) or not self.in_window(p.seq):
            return
        slot = self.slot(p.view, p.seq)
        if self.vote(slot.prepares, slot.prepare_votes, src, p.digest):
            self.check_prepared(p.view, p.seq, slot)

    def check_prepared(self, view: int, seq: int, slot: Slot) -> None:
        """prepared(m, v, n, i): the pre-prepare and q - 1 matching prepares from different backups."""
        if slot.prepared or slot.digest is None or slot.prepare_votes.get(slot.digest, 0) < self.prepare_quorum:
            return
        slot.prepared = True
        self.st.certs[seq] = self.make_cert(seq, view, slot)
        self.vote(slot.commits, slot.commit_votes, self.me, slot.digest)
        self.multicast(Commit(view, seq, slot.digest))
        self.check_committed(view, seq, slot)

    @handles(Commit)
    def on_commit(self, src: str, c: Commit) -> None:
        """Log a replica's commit for our view."""
        st = self.st
        if c.view != st.view or not st.active:
            self.keep_if_later(src, c.view, c)
            return
        if not self.in_window(c.seq):
            return
        slot = self.slot(c.view, c.seq)
        if self.vote(slot.commits, slot.commit_votes, src, c.digest):
            self.check_committed(c.view, c.seq, slot)

    def check_committed(self, view: int, seq: int, slot: Slot) -> None:
        """committed-local(m, v, n, i): prepared and q matching commits (ours included)."""
        if slot.committed or not slot.prepared or slot.commit_votes.get(slot.digest or "", 0) < self.commit_quorum:
            return
        slot.committed = True
        assert slot.digest is not None
        if seq > self.st.last_exec:
            self.st.committed.setdefault(seq, (slot.digest, slot.request, view))
        self.execute()

    def execute(self) -> None:
        """Execute committed requests in sequence order, reply to clients, checkpoint."""
        st = self.st
        progress = False
        while st.last_exec + 1 in st.committed:
            seq = st.last_exec + 1
            _, req, view = st.committed.pop(seq)
            progress = self.apply(seq, req, view, True) or progress
            if seq % self.config.checkpoint_interval == 0:
                self.take_checkpoint(seq)
        if progress:
            st.backoff = 1
        self.arm_timer()  # executed requests no longer count; the next-oldest one sets the deadline

    def apply(self, seq: int, req: Request | None, view: int, reply: bool) -> bool:
        """Decide and execute `seq` (the next one); True when it executed a new request."""
        st = self.st
        # A request ordered a second time (a retransmission assigned again after a view change)
        # is executed once: the decision says so, for the exactly-once checker.
        fresh = req is not None and req.cmd_id not in st.executed
        if req is not None and not fresh:
            self.ctx.decide(seq, req.cmd_id, view=view, duplicate=True)
        else:
            self.ctx.decide(seq, NOOP if req is None else req.cmd_id, view=view)
        st.last_exec = seq
        st.history[seq] = (req, view)
        # The digest chains every decided value, duplicates included, so that a checkpoint
        # certifies the whole decided sequence (which is what a fetched history is checked against).
        st.state = next_state_digest(st.state, seq, NOOP if req is None else req.cmd_id)
        if req is None:
            return False
        if fresh:  # a request is executed once, whatever its sequence numbers
            st.executed[req.cmd_id] = st.state
        st.waiting.pop(req.cmd_id, None)
        self.since.pop(req.cmd_id, None)
        if reply:
            self.ctx.send(req.client, Reply(st.view, req.cmd_id, st.executed[req.cmd_id]))
        return fresh
