"""A timer whose deadline moves often, kept on one kernel timer that is set again only when it must be.

A backup's request timer moves its deadline whenever the oldest waiting request executes or a
first one arrives, and the retransmission timer whenever the replica progresses: several times
per request. Setting a kernel timer each time costs a queue entry and a wake-up per move. As in
Castro's library (one view-change timer per replica, not one per request), the kernel timer
instead stays where it is while the deadline only moves later or stops; when it goes off before
the deadline it is set again for it, and when the deadline comes earlier it is set at once.

The deadline is computed as `ctx.set_timer(name, delay)` computes its firing time, and the
kernel timer is always set to go off at that very instant, so a firing happens exactly when the
plain timer's would have.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.protocols.base import Context


def delay_to(now: float, due: float) -> float:
    """The largest delay that, added to `now` as the kernel adds it, does not pass `due` (>= now).

    `due - now` rounds, so `now + (due - now)` can miss `due` by a unit in the last place; a
    step of the delay by its own last place finds the sum that lands on it. A few sums land on
    no delay at all (the steps round past it, half to even): then the timer goes off a unit
    early, finds itself early and is set again from there, where the difference is exact.
    """
    delay = due - now
    while now + delay < due:
        delay = math.nextafter(delay, math.inf)
    while now + delay > due:
        delay = math.nextafter(delay, -math.inf)
    return delay


class Alarm:
    """The timer `name` of one replica: `set` and `stop` it as often as needed; `expired` says whether a firing is real."""

    __slots__ = ("ctx", "name", "due", "ringing_at")

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self.due: float | None = None
        """When the timer expires (None: stopped)."""
        self.ringing_at: float | None = None
        """When the kernel timer goes off (None: none pending)."""

    def set(self, delay: float) -> None:
        """Expire `delay` ms from now (replacing the deadline), as `ctx.set_timer(name, delay)` would."""
        now = self.ctx.now
        self.due = now + max(delay, 0.0)
        if self.ringing_at is None or self.ringing_at > self.due:
            self._ring_at(now, self.due)

    def stop(self) -> None:
        """Stop it; a pending kernel timer goes off unheeded (or serves a deadline set before then)."""
        self.due = None

    def cancel(self) -> None:
        """Stop it and forget the kernel timer, as `ctx.cancel_timer(name)` does."""
        self.ctx.cancel_timer(self.name)
        self.due = self.ringing_at = None

    def expired(self) -> bool:
        """The kernel timer went off: True when the deadline is now (the timer stops); else it is set again if running."""
        self.ringing_at = None
        due = self.due
        if due is None:
            return False
        now = self.ctx.now
        if now < due:
            self._ring_at(now, due)
            return False
        self.due = None
        return True

    def _ring_at(self, now: float, due: float) -> None:
        self.ringing_at = due
        self.ctx.set_timer(self.name, delay_to(now, due))
