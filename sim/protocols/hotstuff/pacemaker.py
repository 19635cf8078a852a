"""HotStuff's pacemaker: view timeouts with backoff, and the new-view message to the next leader."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.hotstuff.messages import NewView

if TYPE_CHECKING:
    from sim.protocols.base import Context


class Pacemaker:
    """Mixin of the replica: when to give up on a view and where to go next.

    A replica with work outstanding waits `view_timeout` for progress, doubling after each
    consecutive timeout (up to `max_backoff`); it then moves to the next leader's first view and
    sends that leader its highest QC.
    """

    ctx: Context
    config: Any
    st: Any
    me: str
    timer_on: bool
    timeouts_in_row: int

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

    def on_timer(self, name: str) -> None:
        """No progress in time: leave the view and tell the next leader our highest QC."""
        self.timer_on = False
        if name != "view" or not self.has_work():
            return
        st = self.st
        self.timeouts_in_row += 1
        self.ctx.count("view_timeouts")
        self.ctx.record("view_timeout", view=st.view)
        st.view = (st.view // self.config.leader_term + 1) * self.config.leader_term
        nv = NewView(st.view, st.qc_high)
        to = self.leader(st.view)
        if to == self.me:
            self.on_new_view(self.me, nv)
        else:
            self.ctx.send(to, nv)
        self.arm_timer()
