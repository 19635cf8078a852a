"""PBFT view changes: view-change with prepared certificates, new-view with the V and O sets.

A replica whose timer expires moves to view v + 1 and multicasts a view-change carrying its
stable checkpoint (with its quorum proof) and a prepared certificate for every sequence number
above it. The primary of v + 1, once it holds a quorum q (2f + 1 when n = 3f + 1) of valid view-changes (its own included),
multicasts a new-view: V, those view-changes, and O, a pre-prepare in v + 1 for every sequence
number between the latest stable checkpoint in V (min-s) and the highest prepared one (max-s),
carrying the request prepared in the highest view, or the null request where none was. Each
backup recomputes O from V before accepting it. A replica that hears f + 1 view-changes for
higher views joins the smallest of them, and the timer for a new view backs off exponentially.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.dispatch import handles
from sim.protocols.pbft.messages import NULL_DIGEST, Checkpoint, NewView, Prepare, PreparedCert, PrePrepare, Request, ViewChange
from sim.protocols.pbft.state import Slot

if TYPE_CHECKING:
    from sim.protocols.base import Context, Message
    from sim.protocols.pbft.alarm import Alarm
    from sim.protocols.pbft.state import ReplicaState


class ViewChangeMixin:
    """The view-change half of a PBFT replica (mixed into `Pbft`)."""

    ctx: Context
    st: ReplicaState
    n: int
    f: int
    commit_quorum: int
    prepare_quorum: int
    window: int
    me: str
    timer_on: bool
    vc_alarm: Alarm

    if TYPE_CHECKING:  # provided by Pbft

        def primary(self, view: int) -> str: ...  # noqa: D102

        def check_prepared(self, view: int, seq: int, slot: Slot) -> None: ...  # noqa: D102

        def slot(self, view: int, seq: int) -> Slot: ...  # noqa: D102

        def make_stable(self, seq: int, state: str, proof: tuple[tuple[str, Checkpoint], ...]) -> None: ...  # noqa: D102

        def assign_pending(self) -> None: ...  # noqa: D102

        def arm_timer(self) -> None: ...  # noqa: D102

        def wait_for(self, req: Request) -> None: ...  # noqa: D102

        def restart_clocks(self) -> None: ...  # noqa: D102

        def on_message(self, src: str, msg: object) -> None: ...  # noqa: D102

        def multicast(self, msg: PrePrepare | Prepare) -> None: ...  # noqa: D102

        @staticmethod
        def vote(votes: dict[str, str], counts: dict[str, int], sender: str, digest: str) -> bool: ...  # noqa: D102

        config: object

    @staticmethod
    def make_cert(seq: int, view: int, slot: Slot) -> PreparedCert:
        """The prepared certificate of a slot: its pre-prepare and the matching prepares it received.

        The messages are rebuilt from what the slot logged (signer and digest): equal to the ones
        received, since a prepare holds nothing else, so one message object serves every signer.
        """
        assert slot.digest is not None
        digest = slot.digest
        prepare = Prepare(view, seq, digest)
        prepares = tuple([(s, prepare) for s, d in sorted(slot.prepares.items()) if d == digest])  # a list: no generator per cert
        return PreparedCert(PrePrepare(view, seq, slot.digest, slot.request), prepares)

    def set_vc_timer(self) -> None:
        """Once a quorum of view-changes for our new view is in, wait T x backoff for its new-view.

        Waiting for a quorum first keeps a lone replica from racing through views nobody else
        joins; the wait doubles with every view change until a new request executes.
        """
        st = self.st
        if st.active or self.timer_on or len(st.view_changes.get(st.view, {})) < self.commit_quorum:
            return
        cfg = self.config
        self.vc_alarm.set(cfg.view_change_timeout * st.backoff)  # type: ignore[attr-defined]
        self.timer_on = True
        st.backoff = min(st.backoff * 2, cfg.max_backoff)  # type: ignore[attr-defined]

    def start_view_change(self, view: int) -> None:
        """Move to `view` (not yet active) and multicast our view-change."""
        st = self.st
        if view <= st.view:
            return
        st.view, st.active = view, False
        certs = tuple(st.certs[s] for s in sorted(st.certs) if s > st.h)
        vc = ViewChange(view, st.h, st.stable_state, st.stable_proof, certs)
        st.view_changes = {v: d for v, d in st.view_changes.items() if v >= view}
        st.view_changes.setdefault(view, {})[self.me] = vc
        st.own_view_changes[view] = vc
        self.ctx.record("view_change", view=view)
        self.ctx.broadcast(vc)
        self.vc_alarm.cancel()
        self.timer_on = False
        self.set_vc_timer()
        self.maybe_new_view(view)

    def valid_view_change(self, vc: ViewChange) -> bool:
        """Whether a view-change proves what it claims, as a backup checks it (section 4.4).

        C holds q checkpoint messages for (stable_seq, stable_state) from distinct replicas.
        Each certificate in P is for a view below the new one and a sequence number within the
        sender's watermarks (stable_seq, stable_seq + L]; its pre-prepare's digest matches its
        request, and it holds q - 1 prepares matching the pre-prepare from distinct backups
        (the primary of that view sends none); one certificate per sequence number.
        """
        nodes = self.ctx.nodes
        if vc.stable_seq > 0:
            signers = {s for s, c in vc.checkpoint_proof if s in nodes and c.seq == vc.stable_seq and c.state == vc.stable_state}
            if len(signers) < self.commit_quorum:
                return False
        elif vc.stable_seq < 0:
            return False
        seen: set[int] = set()
        for cert in vc.prepared:
            pp = cert.pre_prepare
            if pp.view >= vc.view or not vc.stable_seq < pp.seq <= vc.stable_seq + self.window or pp.seq in seen:
                return False
            seen.add(pp.seq)
            if pp.digest != (pp.request.digest if pp.request is not None else NULL_DIGEST):
                return False
            primary = self.primary(pp.view)
            key = (pp.view, pp.seq, pp.digest)
            backups = {s for s, p in cert.prepares if s in nodes and s != primary and (p.view, p.seq, p.digest) == key}
            if len(backups) < self.prepare_quorum:
                return False
        return True

    def signatures_to_check(self, src: str, msg: Message) -> int:
        """A view-change or new-view costs a verify per signed message it carries, except what is known or stale.

        `on_view_change` and `on_new_view` drop a message for a view this replica is past (and a
        new-view not from that view's primary) before looking inside it, so only its sender's
        signature is checked; a view-change it already holds
        (a retransmission, or one inside a new-view) is matched, not verified again, as Castro's
        library keeps the view-change messages it has checked and a new-view names them by digest.
        """
        st = self.st
        kind = type(msg)
        if kind is ViewChange:
            assert isinstance(msg, ViewChange)
            stale = msg.view < st.view or (msg.view == st.view and st.active)
            return 1 if stale or st.view_changes.get(msg.view, {}).get(src) == msg else msg.signatures
        if kind is NewView:
            assert isinstance(msg, NewView)
            if msg.view < st.view or (msg.view == st.view and st.active) or src != self.primary(msg.view):
                return 1
            held = st.view_changes.get(msg.view, {})
            return 1 + sum(0 if held.get(sender) == vc else vc.signatures for sender, vc in msg.view_changes)
        return msg.signatures

    @handles(ViewChange)
    def on_view_change(self, src: str, vc: ViewChange) -> None:
        """Collect view-changes; join a view f + 1 others want; the new primary may start it."""
        st = self.st
        if vc.view < st.view or (vc.view == st.view and st.active):
            if st.active and vc.view == st.view and st.new_view is not None:
                self.ctx.send(src, st.new_view)  # a straggler missed our new-view
            elif vc.view in st.own_view_changes and vc.view < st.view:
                # The sender still collects view-changes for a view we gave up on before it
                # started: without ours (lost, say) it might never reach a quorum nor time out.
                self.ctx.send(src, st.own_view_changes[vc.view])
            return
        if not self.valid_view_change(vc):
            return
        st.view_changes.setdefault(vc.view, {})[src] = vc
        higher = sorted(v for v, d in st.view_changes.items() if v > st.view and d)
        senders = {s for v in higher for s in st.view_changes[v] if s != self.me}
        if len(senders) >= self.f + 1:
            self.start_view_change(higher[0])
        self.set_vc_timer()
        self.maybe_new_view(vc.view)

    def compute_new_view(self, view: int, view_changes: tuple[tuple[str, ViewChange], ...]) -> tuple[int, tuple[PrePrepare, ...]]:
        """min-s and the O set a new primary must issue, computed from V."""
        min_s = max(vc.stable_seq for _, vc in view_changes)
        best: dict[int, PreparedCert] = {}
        for _, vc in view_changes:
            for cert in vc.prepared:
                if cert.seq > min_s and (cert.seq not in best or cert.view > best[cert.seq].view):
                    best[cert.seq] = cert
        max_s = max([min_s, *best])
        out = []
        for seq in range(min_s + 1, max_s + 1):
            cert = best.get(seq)
            if cert is None:
                out.append(PrePrepare(view, seq, NULL_DIGEST, None))
            else:
                out.append(PrePrepare(view, seq, cert.digest, cert.request))
        return min_s, tuple(out)

    def maybe_new_view(self, view: int) -> None:
        """As the primary of `view`, with a quorum of view-changes (ours included), send the new-view."""
        st = self.st
        if self.primary(view) != self.me or st.view != view or st.active:
            return
        vcs = st.view_changes.get(view, {})
        if self.me not in vcs or len(vcs) < self.commit_quorum:
            return
        proof = tuple(sorted(vcs.items()))
        min_s, pre_prepares = self.compute_new_view(view, proof)
        msg = NewView(view, proof, pre_prepares)
        st.new_view = msg
        for pp in pre_prepares:  # O: the new primary's pre-prepares of this view, journaled like any other
            self.ctx.record("sent", msg=pp.kind, view=pp.view, seq=pp.seq, digest=pp.digest)
        self.ctx.broadcast(msg)
        self.ctx.record("leader", term=view)
        self.enter_view(view, proof, min_s, pre_prepares)

    @handles(NewView)
    def on_new_view(self, src: str, msg: NewView) -> None:
        """Check a new-view (V valid and O recomputed from it) and enter its view."""
        st = self.st
        if msg.view < st.view or (msg.view == st.view and st.active) or src != self.primary(msg.view):
            return
        senders = [s for s, _ in msg.view_changes]
        if len(set(senders)) != len(senders) or len(senders) < self.commit_quorum or self.primary(msg.view) not in senders:
            return
        for sender, vc in msg.view_changes:
            if sender not in self.ctx.nodes or vc.view != msg.view or not self.valid_view_change(vc):
                return
        min_s, pre_prepares = self.compute_new_view(msg.view, msg.view_changes)
        if pre_prepares != msg.pre_prepares:
            return  # the primary did not issue what V requires: wait for the next view
        st.new_view = None
        self.enter_view(msg.view, msg.view_changes, min_s, pre_prepares)

    def enter_view(self, view: int, proof: tuple[tuple[str, ViewChange], ...], min_s: int, pre_prepares: tuple[PrePrepare, ...]) -> None:
        """Become active in `view`: adopt the stable checkpoint, log O, prepare it, go on."""
        st = self.st
        st.view = view
        st.view_changes = {v: d for v, d in st.view_changes.items() if v > view}
        st.own_view_changes = {v: vc for v, vc in st.own_view_changes.items() if v > view}
        self.vc_alarm.cancel()
        self.timer_on = False
        st.assigned = {}  # the previous view's assignments mean nothing in this one
        if min_s > st.h:
            # Still inactive here, so that a new primary assigns nothing before O is logged:
            # otherwise it would pre-prepare fresh requests at sequence numbers O re-issues.
            # The checkpoint is adopted on the strength of the q checkpoint messages in that
            # view-change's C (checked in `valid_view_change`), not on its sender's word.
            _, vc = next((s, vc) for s, vc in proof if vc.stable_seq == min_s)
            self.make_stable(min_s, vc.stable_state, vc.checkpoint_proof)
        st.active = True
        leader = self.primary(view) == self.me
        for pp in pre_prepares:
            if pp.seq <= st.h:
                continue
            slot = self.slot(view, pp.seq)
            slot.digest, slot.request = pp.digest, pp.request
            if pp.request is not None:
                st.assigned[pp.request.cmd_id] = pp.seq
                self.wait_for(pp.request)
            if not leader:
                self.vote(slot.prepares, slot.prepare_votes, self.me, pp.digest)
                self.multicast(Prepare(view, pp.seq, pp.digest))
            self.check_prepared(view, pp.seq, slot)
        st.next_seq = max([st.h, *(pp.seq for pp in pre_prepares)]) + 1
        # Messages of this view that arrived before its new-view.
        later, st.future = st.future, []
        for src, msg in later:
            self.on_message(src, msg)
        if leader:
            self.assign_pending()
        self.restart_clocks()
        self.arm_timer()
