"""PBFT retransmission over lossy links: a stalled replica asks, its peers re-send.

Castro and Liskov assume messages are retransmitted until delivered. As in their BFT library
the mechanism is receiver-based and timer-driven, so a run without loss sends nothing extra:

- A replica with work outstanding (requests waiting, sequence numbers in progress, a checkpoint
  not stable yet, a new view awaited, a fetch unanswered) checks every `retransmit_timeout`
  whether it progressed (executed, changed view, moved its stable checkpoint; progress restarts
  the wait). When it did not,
  it is stalled: it multicasts a `status` saying which sequence numbers it has pre-prepared,
  prepared and committed, re-forwards to the primary the requests nobody pre-prepared, re-sends
  its `fetch`, or, waiting for a new view, re-sends its `view_change`. The period doubles (up to
  x4, after three quick tries) while the stall lasts and drops back once the replica progresses.
- A peer receiving a `status` re-sends the messages it sent earlier that the stalled replica
  lacks: its pre-prepare (primary), prepare and commit for each sequence number of the same view,
  its checkpoints above the stalled replica's stable one, and, to a replica in an older view or
  still waiting for the view's new-view, the new-view (new primary) or its own view-change.

Nothing here creates a new vote: every re-sent message is one the replica already sent, so the
safety argument of the normal case and the view change is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.dispatch import handles
from sim.protocols.pbft.messages import Checkpoint, Commit, Prepare, PrePrepare, Status

if TYPE_CHECKING:
    from sim.protocols.base import Context
    from sim.protocols.pbft.alarm import Alarm
    from sim.protocols.pbft.state import ReplicaState, Slot

MAX_RETRANSMIT_BACKOFF = 4
"""So that a stalled replica still asks at least every 4R = 2/3 of the view-change timeout."""
PRE_PREPARED, PREPARED, COMMITTED = 1, 2, 3


class RetransmitMixin:
    """The retransmission half of a PBFT replica (mixed into `Pbft`)."""

    ctx: Context
    st: ReplicaState
    f: int
    me: str
    window: int
    rt_on: bool
    rt_tries: int
    rt_mark: tuple[int, bool, int, int] | None
    rt_quiet: int | None
    """The view whose log was last looked at whole (None: look again)."""
    rt_touched: dict[tuple[int, int], Slot]
    rt_alarm: Alarm
    """The entries in progress at that look and those handed out by `slot` since: the only ones that can be in progress."""

    if TYPE_CHECKING:  # provided by Pbft

        def primary(self, view: int) -> str: ...  # noqa: D102

        def is_leader(self) -> bool: ...  # noqa: D102

        def request_fetch(self, targets: list[str]) -> None: ...  # noqa: D102

        config: object

    def retransmit_delay(self) -> float:
        """The configured retransmission timeout, or a sixth of the view-change timeout."""
        cfg = self.config
        return cfg.retransmit_timeout or cfg.view_change_timeout / 6  # type: ignore[attr-defined]

    def progress_mark(self) -> tuple[int, bool, int, int]:
        """What changes when a replica progresses."""
        st = self.st
        return (st.view, st.active, st.last_exec, st.h)

    def in_progress(self, view: int, seq: int, slot: Slot) -> bool:
        """Whether a logged sequence number of our view, not executed here yet, is under way."""
        st = self.st
        if view != st.view or seq <= st.last_exec:
            return False
        # Votes from f + 1 replicas show a sequence number is really in progress (one faulty
        # replica alone cannot keep us busy).
        return slot.digest is not None or len(slot.prepares.keys() | slot.commits.keys()) > self.f

    def outstanding(self) -> bool:
        """Whether the replica waits for something that a lost message could hold up.

        Called after every message, so the log (up to a window of entries) is not scanned each
        time. A scan of the view `rt_quiet` leaves in `rt_touched` the entries in progress; from
        then on every entry `slot()` hands out above the last execution is added there, and only
        those can be in progress: within a view an entry starts being in progress only when it
        is touched, and execution only moves forward (the log only loses entries otherwise), so
        an entry at or below the last execution never is again. So a check looks at
        `rt_touched` alone and keeps what is still in progress; a new view, or a busy stretch that
        touched more than a window's worth, makes the next check scan the log again.
        """
        st = self.st
        if not st.active or st.waiting or st.committed or st.future or st.last_exec < st.h or st.checkpoints:
            # (A checkpoint in `checkpoints`, ours or one beyond what we executed, is not stable yet.)
            if len(self.rt_touched) > self.window:
                self.rt_quiet, self.rt_touched = None, {}
            return True
        in_progress = self.in_progress
        if self.rt_quiet == st.view:
            if not self.rt_touched:
                return False  # the last look found nothing in progress, and nothing was touched since
            candidates = self.rt_touched
        else:
            self.rt_quiet, candidates = st.view, st.log
        self.rt_touched = busy = {key: slot for key, slot in candidates.items() if in_progress(key[0], key[1], slot)}
        return bool(busy)

    def lagging(self) -> bool:
        """Whether replicas other than us evidently executed past us (so the primary is not stuck).

        Evidence: a stable checkpoint we have not reached, or checkpoint messages beyond our last
        execution from f + 1 others (one of them honest). A backup whose view-change timer
        expires while lagging catches up instead of starting a view change it would start alone.
        """
        st = self.st
        if st.last_exec < st.h:
            return True
        return any(seq > st.last_exec and len(votes.keys() - {self.me}) > self.f for seq, votes in st.checkpoints.items())

    def arm_retransmit(self) -> None:
        """(Re)start the retransmission timer: on progress, or when work appears and none runs."""
        st = self.st
        mark = (st.view, st.active, st.last_exec, st.h)  # `progress_mark`, inline: this runs after every message
        progressed = mark != self.rt_mark
        if progressed:
            self.rt_tries = 0
        if (self.rt_on and not progressed) or not self.outstanding():
            return
        self.rt_on, self.rt_mark = True, mark
        # R, R, R, 2R, 4R, 4R, ...: a few quick tries (a view change is due at 6R), then back off.
        backoff = min(2 ** max(0, self.rt_tries - 2), MAX_RETRANSMIT_BACKOFF)
        self.rt_alarm.set(self.retransmit_delay() * backoff)

    def on_retransmit_timer(self) -> None:
        """No progress since the timer was armed: the replica is stalled, so ask for help."""
        self.rt_on = False
        if self.progress_mark() == self.rt_mark and self.outstanding():
            self.retransmit()
            self.rt_tries += 1

    def retransmit(self) -> None:
        """Re-send our view-change, or multicast a status, re-forward requests and re-fetch."""
        st = self.st
        if not st.active:
            own = st.view_changes.get(st.view, {}).get(self.me)
            if own is not None:
                self.ctx.broadcast(own)
            return
        self.request_fetch([p for p in self.ctx.nodes if p != self.me])
        self.ctx.broadcast(self.status())
        if self.is_leader():
            return
        pre_prepared = {slot.request.cmd_id for (v, _), slot in st.log.items() if v == st.view and slot.request is not None}
        primary = self.primary(st.view)
        for cmd_id, req in st.waiting.items():
            if cmd_id not in pre_prepared:
                self.ctx.send(primary, req)  # the forwarded request (or the primary's pre-prepare) was lost

    def status(self) -> Status:
        """Our view, stable checkpoint, last execution and the phase of each sequence number above it."""
        st = self.st
        phases = []
        for (view, seq), slot in sorted(st.log.items()):
            if view != st.view or seq <= st.last_exec or slot.digest is None:
                continue
            phases.append((seq, COMMITTED if slot.committed else PREPARED if slot.prepared else PRE_PREPARED))
        return Status(st.view, st.active, st.h, st.last_exec, tuple(phases))

    @handles(Status)
    def on_status(self, src: str, s: Status) -> None:
        """Re-send to a stalled peer what it lacks of what we sent."""
        st, send = self.st, self.ctx.send
        if st.h > s.stable_seq and st.last_exec >= st.h:
            send(src, Checkpoint(st.h, st.stable_state))
        for seq, votes in sorted(st.checkpoints.items()):
            if seq > s.stable_seq and self.me in votes:
                send(src, Checkpoint(seq, votes[self.me]))
        if s.view < st.view or (s.view == st.view and not s.active):
            if st.active and st.new_view is not None and st.new_view.view == st.view:
                send(src, st.new_view)  # the peer missed our new-view
            elif not st.active and s.view < st.view and self.me in st.view_changes.get(st.view, {}):
                send(src, st.view_changes[st.view][self.me])  # let it join the view we want
            return
        if s.view > st.view or not st.active:
            return
        phases = dict(s.phases)
        leader = self.primary(st.view) == self.me
        for (view, seq), slot in sorted(st.log.items()):
            phase = phases.get(seq, 0)
            if view != st.view or seq <= s.last_exec or slot.digest is None or phase >= COMMITTED:
                continue
            if phase < PRE_PREPARED and leader:
                send(src, PrePrepare(view, seq, slot.digest, slot.request))
            if phase < PREPARED and not leader and self.me in slot.prepares:
                send(src, Prepare(view, seq, slot.prepares[self.me]))
            if self.me in slot.commits:
                send(src, Commit(view, seq, slot.commits[self.me]))
