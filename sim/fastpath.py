"""The kernel's fast path: the one module that reaches into SimPy's internals, and the count rows.

Every message delivery and every node timer is an event on SimPy's queue. SimPy's public way
(`env.timeout(delay, value)` with a callback appended, `env.run`) costs several Python calls per
event; at hundreds of thousands of events per run that is most of the kernel's time. So the hot
path takes three shortcuts, all here, so that the rest of the code calls named functions and a
SimPy release that changes its internals breaks this module (and tests/test_fastpath.py) alone:

- `Environment.advance(until)` is `env.run(until=...)` without the per-event method call and
  exception handler, and hands a `FastEvent` straight to its `arrive()`.
- A `FastEvent` (a message in flight, a node's timer) is a slotted object with no `Event`
  machinery. `InFlight` and `Timer` put themselves on the queue as they are made, with the heap
  entry `env.schedule` would make, so they are ordered among SimPy's own events exactly as an
  `env.timeout` would be. A `Burst` (a multicast) keeps its events' entries itself and puts
  only the earliest on the queue, which yields them in the same order.
- `Clocked.now` reads the clock field that SimPy's `now` property wraps.

The contract with SimPy (4.x), checked against plain SimPy in tests/test_fastpath.py:

- `env._queue` is a heap of `(time, priority, eid, event)`; `env._eid` an iterator of
  increasing ints (ties at one time and priority run in scheduling order); `env._now` the clock.
- Processing an event sets its `callbacks` to None, calls each old callback with the event,
  then raises if `event._ok` is false and the event has no `_defused`.

Message counts are kept per (type, src, dst) in a row `[sent, delivered, dropped, bytes_sent]`:
a plain list, the cheapest thing to bump on every message. `count_row` makes one and the
indexes have names; they live in sim/records.py with the recorder (which must not import
SimPy) and are part of this seam.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from operator import itemgetter
from typing import Any

import simpy
from simpy.events import NORMAL

from sim.records import BYTES_SENT, DELIVERED, DROPPED, SENT, count_row

__all__ = [
    "BYTES_SENT",
    "DELIVERED",
    "DROPPED",
    "FAST",
    "SENT",
    "Burst",
    "Clocked",
    "Gathered",
    "TimerBatch",
    "TimerBatches",
    "Environment",
    "FastEvent",
    "InFlight",
    "Timer",
    "count_row",
]


class FastEvent:
    """An event the loop hands straight to `arrive()`; subclasses add their slots and set `callbacks = FAST`.

    It never fails, so it needs no value or outcome of its own: the class attributes answer
    SimPy's `step()` should a test drive the environment with `env.run`.
    """

    __slots__ = ("callbacks",)
    _ok = True
    _value = None

    def arrive(self) -> None:
        """What happens when the event's time comes."""
        raise NotImplementedError


def _arrive(event: FastEvent) -> None:
    event.arrive()


_NEVER = float("inf")
_DONE: tuple[Any, ...] = ()
"""What a burst or a timer batch leaves in place of an item it has handed over."""

FAST: tuple[Any, ...] = (_arrive,)
"""The callbacks of every pending `FastEvent` (shared; SimPy's own loop calls `arrive` through it)."""


class InFlight(FastEvent):
    """A message on the wire, put on the queue as it is made; the network's `Delivery` adds `arrive()`.

    It is due at `now + extra + delay`, summed in that order (the network's arithmetic, kept to
    the bit so that journals do not move). `changes` is the network's count of endpoints going
    down or coming back as the message leaves (`Network.changes`): the receiver is not read until
    the message arrives (at scale, reading it costs a cache miss per message).
    """

    __slots__ = ("network", "endpoint", "src", "msg", "true_src", "sent_at", "changes", "row")

    def __init__(self, network: Any, endpoint: Any, src: str, msg: Any, true_src: str, row: list[int], extra: float, delay: float) -> None:
        self.callbacks = FAST
        self.network = network
        self.endpoint = endpoint
        self.src = src
        self.msg = msg
        self.true_src = true_src
        self.row = row
        self.changes = network.changes
        env = network.env
        now = self.sent_at = env._now
        heappush(env._queue, (now + extra + delay, NORMAL, next(env._eid), self))


_at = itemgetter(0)
"""An item's time: the sort key of a burst's items (a C callable, no Python call per item)."""


class Burst(FastEvent):
    """Many events made at once (a multicast's messages), of which only the earliest waits on the queue.

    `due` holds one `(time, eid, ...)` item per event, each with the time and id the event would
    have on the queue, listed in the order the events were made (so by increasing id); sorted by
    time, it is handed over
    in order: `arrive` delivers the item due now, then each following item for as long as it
    still comes before everything else on the queue (and before the time `advance` runs to),
    and otherwise steps back into the queue under the next item's key. The queue therefore
    yields exactly the order it would give with one entry per event (a k-way merge), while
    holding one entry per burst instead of one per message, and a run of items that nothing
    else comes between costs no heap operation at all. `deliver(item)` is what happens when an
    item's time comes (a plain callable, called straight from the loop: a method that only
    forwarded the item would cost a call per message).
    """

    __slots__ = ("env", "due", "index", "deliver")

    def __init__(self, env: simpy.Environment, due: list[tuple[Any, ...]], deliver: Callable[[Any], None]) -> None:
        self.callbacks = FAST
        self.env = env
        self.deliver = deliver
        # By (time, eid): items come in eid order and the sort is stable, so sorting by time alone
        # is enough, and a float key sorts several times faster than comparing tuples.
        due.sort(key=_at)
        self.due = due
        self.index = 0
        first = due[0]
        heappush(env._queue, (first[0], NORMAL, first[1], self))

    def arrive(self) -> None:
        """Deliver the item due now, then the following ones while nothing on the queue comes first; else re-queue.

        (One method, not a call to a loop: with random delays most items re-queue, so each
        arrival delivers one message and a second frame would be paid per message.)
        """
        index, due, env, deliver = self.index, self.due, self.env, self.deliver
        queue = env._queue
        until = env._until  # fixed while `advance` runs (`env.run` stops on its own event)
        last = len(due) - 1
        item = due[index]
        while True:
            # Dropped from the list as it is handed over, the item is freed while its objects are
            # still in cache (all at once at the end, a big burst's frees would each miss it).
            due[index] = _DONE
            deliver(item)
            if index == last:
                return
            index += 1
            item = due[index]
            at = item[0]
            if at < until:
                if not queue:
                    env._now = at
                    continue
                head = queue[0]
                # The head runs first if it is earlier, or at the same time and URGENT or older.
                if at < head[0] or (at == head[0] and head[1] == NORMAL and item[1] < head[2]):
                    env._now = at
                    continue
            self.index = index
            self.callbacks = FAST  # the loop cleared it; the burst is pending again
            heappush(queue, (at, NORMAL, item[1], self))
            return


class Gathered(Burst):
    """A burst gathered while one instant lasts: events made at `now`, each due at `now` or later.

    It waits on the queue under the key of its first event, `(now, NORMAL, eid)`, which comes
    before the key of every event it gathers (each is due no earlier, with a later id), so when
    it comes up none of them is yet due to have been handed over. Then it closes (`close`: what
    is made later in the instant goes elsewhere), sorts its items by time (stably, so ties stay
    in id order, the order they were made) and delivers them as a `Burst`. The owner appends
    to `due` until it closes.
    """

    __slots__ = ()

    def __init__(self, env: simpy.Environment, first: tuple[Any, ...], deliver: Callable[[Any], None]) -> None:
        self.callbacks = FAST
        self.env = env
        self.deliver = deliver
        self.due = [first]
        self.index = -1  # still gathering
        heappush(env._queue, (env._now, NORMAL, first[1], self))

    def arrive(self) -> None:
        """Close, sort and queue the earliest item on first arrival; after that, deliver as a burst."""
        if self.index >= 0:
            Burst.arrive(self)
            return
        self.close()
        due = self.due
        due.sort(key=_at)
        self.index = 0
        first = due[0]
        self.callbacks = FAST
        heappush(self.env._queue, (first[0], NORMAL, first[1], self))

    def close(self) -> None:
        """Stop gathering: nothing may be appended from now on."""
        raise NotImplementedError


class Timer(FastEvent):
    """`callback(payload)` after `delay` (>= 0): what `env.timeout(delay, payload)` with one callback does.

    Put on the queue as it is made, at the time `env.timeout` would give it, to the bit.
    """

    __slots__ = ("callback", "payload")

    def __init__(self, env: simpy.Environment, delay: float, callback: Any, payload: Any) -> None:
        self.callbacks = FAST
        self.callback = callback
        self.payload = payload
        heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), self))

    def arrive(self) -> None:
        """Call back."""
        self.callback(self.payload)


class TimerBatch(FastEvent):
    """Timers due at one instant, behind one heap entry: the first one's callback and payload, then `later`.

    Each timer still draws its own eid, and fires only when nothing on the queue comes before
    it: if an event due at the same instant with a smaller `(priority, eid)` is queued, the
    batch steps back into the heap under its next timer's key. So callbacks run in exactly the
    order individual `Timer`s would give, at the cost of one heap entry per instant instead of
    one per timer (gossip's synchronised rounds: every node's round timer is due at once). A
    timer alone at its instant costs about what a `Timer` does: the list of later ones is made
    only for a second.
    """

    __slots__ = ("batches", "due", "callback", "payload", "later", "next")

    def __init__(self, batches: TimerBatches, due: float, eid: int, callback: Any, payload: Any) -> None:
        self.callbacks = FAST
        self.batches = batches
        self.due = due
        self.callback = callback
        self.payload = payload
        self.later: list[tuple[int, Any, Any]] | None = None
        self.next = -1  # index into `later` of the next timer to fire; -1 before the first has fired
        heappush(batches.env._queue, (due, NORMAL, eid, self))

    def arrive(self) -> None:
        """Fire the timers in eid order, stepping back into the heap when another event comes between two."""
        i = self.next
        if i < 0:
            self.callback(self.payload)
            i = 0
        later = self.later  # read after the first callback: it may have set a timer due now
        if later is not None:
            queue = self.batches.env._queue
            due = self.due
            while i < len(later):
                eid, callback, payload = later[i]
                if queue:
                    head = queue[0]
                    # Nothing is queued before `due`; an entry at `due` runs first if URGENT or older.
                    if head[0] == due and (head[1] < NORMAL or head[2] < eid):
                        self.next = i
                        self.callbacks = FAST
                        heappush(queue, (due, NORMAL, eid, self))
                        return
                later[i] = _DONE  # freed as it fires, while the node it calls is in cache (see Burst.arrive)
                i += 1
                callback(payload)
        if self.batches.last is self:
            self.batches.last = None  # fired: a timer due at this instant from now on starts a new batch


class TimerBatches:
    """Schedules `callback(payload)` after `delay`, batching timers due at the same instant (see `TimerBatch`).

    A timer joins the batch of the timer scheduled just before it when both are due at the
    same instant and that batch has not finished firing (as each node's next round timer does
    while a synchronised round fires); otherwise it starts a batch of its own. The result is
    the same as one `Timer` per call: the same due time to the bit, the same order among every
    other event.
    """

    __slots__ = ("env", "last")

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.last: TimerBatch | None = None

    def schedule(self, delay: float, callback: Any, payload: Any) -> None:
        """`callback(payload)` after `delay` (>= 0) ms."""
        env = self.env
        due = env._now + delay
        eid = next(env._eid)
        batch = self.last
        if batch is None or batch.due != due:
            self.last = TimerBatch(self, due, eid, callback, payload)
        elif batch.later is None:
            batch.later = [(eid, callback, payload)]
        else:
            batch.later.append((eid, callback, payload))


class Clocked:
    """Mixin for a component holding `env`: `now` reads the clock field directly."""

    __slots__ = ()
    env: simpy.Environment

    @property
    def now(self) -> float:
        """Simulated time in milliseconds."""
        return self.env._now


class Environment(simpy.Environment):
    """SimPy's environment with a lean loop for running up to a time.

    `advance` does what `run(until=t)` does, minus a method call and an exception handler per
    event. Processes, events and callbacks are SimPy's own; a `FastEvent` goes straight to
    its `arrive()`.
    """

    _until = _NEVER
    """The time `advance` is running to: a `Burst` delivers an item itself only before it (`env.run` has its own stop event)."""

    def advance(self, until: float) -> None:
        """Process every event scheduled strictly before `until`, then set the clock to it."""
        self._until = until
        queue = self._queue
        pop = heappop
        fast = FAST
        while queue and queue[0][0] < until:
            self._now, _, _, event = pop(queue)
            callbacks = event.callbacks
            event.callbacks = None
            if callbacks is fast:
                # Most events are deliveries and timers: one known callback that cannot fail.
                event.arrive()
                continue
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                # Same as simpy.Environment.step: a failed, undefused event crashes the run.
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
        self._now = until
        # An `env.run` after this stops on its own event; a stale bound here would only make bursts re-queue.
        self._until = _NEVER
