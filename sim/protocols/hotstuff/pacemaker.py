"""HotStuff's pacemaker: view timeouts with backoff, new-views to every replica, the join rule and re-sends.

The paper leaves the pacemaker open but its liveness argument (Yin et al., PODC 2019, Thm. 4)
needs one: after GST it must bring every correct replica into one view with a correct leader
for long enough. Sending the new-view once, to the next leader only, does not: a lost message
or two leave replicas in different views, and since each replica's backoff resets on its own
votes their timers drift apart and they may never meet again. So, as DiemBFT/LibraBFT do with
their timeouts and PBFT with its view-changes:

- a replica that times out sends its new-view (with its highest QC) to every replica;
- a replica that hears of views above its own from f + 1 distinct replicas (one correct at
  least) joins them, announces it and restarts its timer: PBFT's view-change join rule
  (Castro and Liskov, OSDI 1999, sec. 4.5.2), DiemBFT's round sync on a timeout certificate.
  f faulty replicas alone can never drag a correct one into a higher view;
- while it waits in a view it announced and its leader has not proposed, it re-sends its
  new-view to the leader every `view_timeout / 4` (DiemBFT re-sends its timeout for the same
  reason: links may lose it), and on the same timer re-asks for blocks it still misses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.hotstuff.messages import NewView

if TYPE_CHECKING:
    from collections.abc import Callable

    from sim.protocols.base import Context

RESEND_SHARE = 4
"""Re-sends per view timeout (unbacked-off): often enough to beat a lost message well within the view."""


class Pacemaker:
    """Mixin of the replica: when to give up on a view, where to go next, and how the others follow.

    A replica with work outstanding waits `view_timeout` for progress, doubling after each
    consecutive timeout (up to `max_backoff`); it then moves to the next leader's first view and
    tells every replica, with its highest QC. It joins the highest view that f + 1 other replicas
    have announced, if that is above its own.
    """

    ctx: Context
    config: Any
    st: Any
    me: str
    f: int
    timer_on: bool
    timeouts_in_row: int
    announced: int
    """The last view this replica announced (by timeout or by joining); 0 for none."""
    heard: dict[str, int]
    """The highest view each other replica announced to us."""
    resend_on: bool
    refetch: Callable[[], bool]
    """Ask again for missing blocks; whether any is missing (provided by `BlockFetch`: a stub here would shadow it)."""

    def has_work(self) -> bool:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def leader(self, view: int) -> str:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def on_new_view(self, src: str, nv: NewView) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def advance(self, view: int) -> None:
        """Enter `view` (views only move forward)."""
        if view > self.st.view:
            self.st.view = view

    def progress(self) -> None:
        """Something moved: reset the backoff and restart the view timer."""
        self.timeouts_in_row = 0
        self.timer_on = False
        self.ctx.cancel_timer("view")
        self.arm_timer()

    def arm_timer(self) -> None:
        """Start the view timer if work is outstanding and it is not running."""
        if self.timer_on or not self.has_work():
            return
        self.timer_on = True
        self.ctx.set_timer("view", self.config.view_timeout * min(2**self.timeouts_in_row, self.config.max_backoff))

    def arm_resend(self) -> None:
        """Start the re-send timer unless it runs (set again while running, it would postpone every re-send)."""
        if not self.resend_on:
            self.resend_on = True
            self.ctx.set_timer("resend", self.config.view_timeout / RESEND_SHARE)

    def on_timer(self, name: str) -> None:
        """No progress in time: leave the view and tell every replica our highest QC. Or: time to re-send."""
        if name == "resend":
            self.resend_on = False
            self.resend()
            return
        self.timer_on = False
        if name != "view" or not self.has_work():
            return
        st = self.st
        self.timeouts_in_row += 1
        self.ctx.count("view_timeouts")
        self.ctx.record("view_timeout", view=st.view)
        st.view = (st.view // self.config.leader_term + 1) * self.config.leader_term
        self.announce()
        self.arm_timer()

    def announce(self) -> None:
        """Tell every replica we are in our view now, with our highest QC (the leader counts them, the rest may join)."""
        st = self.st
        self.announced = st.view
        nv = NewView(st.view, st.qc_high)
        self.ctx.broadcast(nv)
        if self.leader(st.view) == self.me:
            self.on_new_view(self.me, nv)
        self.arm_resend()

    def heard_of(self, src: str, view: int) -> None:
        """Another replica announced `view`: join the highest view f + 1 replicas have reached, if above ours."""
        if src == self.me or view <= self.heard.get(src, 0):
            return
        self.heard[src] = view
        ahead = sorted((v for v in self.heard.values() if v > self.st.view), reverse=True)
        if len(ahead) > self.f:
            # At least one of the f + 1 highest is correct, and it reached ahead[f] or beyond by its own timeouts.
            self.join(ahead[self.f])

    def join(self, view: int) -> None:
        """Move to `view` with the replicas already there, say so, and give the view a full timer."""
        self.st.view = view
        self.ctx.record("view_join", view=view)
        self.timer_on = False
        self.ctx.cancel_timer("view")
        self.announce()
        self.arm_timer()

    def resend(self) -> None:
        """Re-send what a lost message may have cost us; keep at it while something is still missing."""
        st, again = self.st, self.refetch()
        to = self.leader(st.view)
        if st.view == self.announced and st.voted < st.view and to != self.me and self.has_work():
            # Still in the view we announced and its leader has not proposed (or we could not vote): say it again.
            self.ctx.send(to, NewView(st.view, st.qc_high))
            again = True
        if again:
            self.arm_resend()
