"""The kernel's fast path (sim/fastpath.py) against plain SimPy: same times, same order, same loop."""

from __future__ import annotations

import heapq
from typing import Any

import pytest
import simpy
from simpy.events import NORMAL

from sim.fastpath import FAST, Burst, Clocked, Environment, FastEvent, InFlight, Timer, TimerBatches, count_row

# Delays whose sums round differently depending on how they are added.
DELAYS = [0.1, 0.2, 0.30000000000000004, 0.7, 1.1, 0.0, 2.5, 0.1]


class Mark(FastEvent):
    """A fast event that logs its name and the time it arrives (scheduled by hand, at an absolute time)."""

    __slots__ = ("env", "log", "name")

    def __init__(self, env: simpy.Environment, log: list[tuple[float, str]], name: str, at: float) -> None:
        self.callbacks = FAST
        self.env = env
        self.log = log
        self.name = name
        heapq.heappush(env._queue, (at, NORMAL, next(env._eid), self))

    def arrive(self) -> None:
        """Log."""
        self.log.append((self.env.now, self.name))


class Endpoint:
    """What `InFlight` reads of a receiver."""

    def __init__(self, up: bool) -> None:
        self.up = up


class Wire:
    """What `InFlight` reads of a network."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.changes = 3
        self.log: list[tuple[float, str]] = []


class Arrival(InFlight):
    """A message in flight that logs on its network when it arrives."""

    __slots__ = ()

    def arrive(self) -> None:
        """Log."""
        self.network.log.append((self.network.env.now, self.msg))


def schedule_mixed(env: simpy.Environment, log: list[tuple[float, str]], fast: bool) -> None:
    """A process that sleeps in SimPy timeouts and, at each step, schedules timers at several delays.

    With `fast`, every other timer goes through the fast path; without, all are `env.timeout`.
    """

    def note(name: str) -> Any:
        return lambda payload: log.append((env.now, f"{name}:{payload}"))

    def proc() -> Any:
        for step, delay in enumerate(DELAYS):
            yield env.timeout(delay)
            log.append((env.now, f"step{step}"))
            for k, later in enumerate(DELAYS[:4]):
                name = f"t{step}.{k}"
                if fast and k % 2 == 0:
                    Timer(env, later, note(name), k)
                else:
                    timeout = env.timeout(later, k)
                    timeout.callbacks.append(lambda event, name=name: note(name)(event.value))

    env.process(proc())


def test_timers_fire_when_and_in_the_order_env_timeout_would() -> None:
    """Fast timers interleaved with SimPy timeouts run at bit-identical times, in the same order, as all-SimPy timeouts."""
    plain_log: list[tuple[float, str]] = []
    plain = simpy.Environment()
    schedule_mixed(plain, plain_log, fast=False)
    plain.run(until=100)
    fast_log: list[tuple[float, str]] = []
    fast = Environment()
    schedule_mixed(fast, fast_log, fast=True)
    fast.advance(100)
    assert len(plain_log) == len(DELAYS) * 5
    assert fast_log == plain_log


def test_fast_events_also_run_under_simpys_own_loop() -> None:
    """`env.run` (SimPy's step) processes fast events through their shared callbacks tuple."""
    log: list[tuple[float, str]] = []
    env = Environment()
    schedule_mixed(env, log, fast=True)
    env.run(until=100)
    reference: list[tuple[float, str]] = []
    again = Environment()
    schedule_mixed(again, reference, fast=True)
    again.advance(100)
    assert log == reference and len(log) == len(DELAYS) * 5


def Logged(env: simpy.Environment, due: list[tuple[Any, ...]], log: list[tuple[float, str]]) -> Burst:  # noqa: N802 - a burst
    """A burst whose items are (time, eid, name); delivering one logs the clock and the name."""
    return Burst(env, due, lambda item: log.append((env.now, item[2])))


def schedule_bursts(env: simpy.Environment, log: list[tuple[float, str]], fast: bool) -> None:
    """At each step, one multicast of messages at several delays (ties included) beside a SimPy timeout.

    With `fast`, each multicast is one `Burst` (its ids drawn in the order the messages are made);
    without, every message is its own `env.timeout`.
    """
    delays = [0.7, 0.1, 0.7, 0.0, 2.5, 0.1, 0.30000000000000004]

    def proc() -> Any:
        for step, delay in enumerate(DELAYS):
            yield env.timeout(delay)
            names = [f"m{step}.{k}" for k in range(len(delays))]
            if fast:
                Logged(env, [(env.now + later, next(env._eid), name) for name, later in zip(names, delays, strict=True)], log)
            else:
                for name, later in zip(names, delays, strict=True):
                    env.timeout(later).callbacks.append(lambda _event, name=name: log.append((env.now, name)))
            env.timeout(0.1).callbacks.append(lambda _event, step=step: log.append((env.now, f"step{step}")))

    env.process(proc())


@pytest.mark.parametrize("loop", ["advance", "run"])
def test_a_burst_delivers_at_the_times_and_in_the_order_one_timeout_per_message_would(loop: str) -> None:
    """A `Burst` keeps one queue entry, yet its items come out interleaved with other events exactly as separate events would."""
    plain_log: list[tuple[float, str]] = []
    plain = simpy.Environment()
    schedule_bursts(plain, plain_log, fast=False)
    plain.run(until=100)
    fast_log: list[tuple[float, str]] = []
    fast = Environment()
    schedule_bursts(fast, fast_log, fast=True)
    if loop == "advance":
        fast.advance(100)
    else:
        fast.run(until=100)
    assert len(plain_log) == len(DELAYS) * 8
    assert fast_log == plain_log


def test_a_burst_delivering_a_run_of_items_itself_stops_where_advance_stops() -> None:
    """Advancing in small steps (each ending between items of a burst) gives the log of one long advance, step by step."""
    whole: list[tuple[float, str]] = []
    env = Environment()
    schedule_bursts(env, whole, fast=True)
    env.advance(100)
    stepped: list[tuple[float, str]] = []
    env = Environment()
    schedule_bursts(env, stepped, fast=True)
    for step in range(1, 401):
        until = step * 0.05
        env.advance(until)
        assert all(at < until for at, _ in stepped)
    env.advance(100)
    assert stepped == whole and len(whole) == len(DELAYS) * 8


def test_a_burst_waits_on_the_queue_as_one_entry() -> None:
    """Only the earliest undelivered item of a burst is queued (that is what keeps the heap shallow)."""
    env = Environment()
    log: list[tuple[float, str]] = []
    Logged(env, [(at, next(env._eid), f"m{at}") for at in (3.0, 1.0, 2.0)], log)
    assert [entry[0] for entry in env._queue] == [1.0]
    env.advance(1.5)
    assert log == [(1.0, "m1.0")] and [entry[0] for entry in env._queue] == [2.0]


def test_timer_is_env_timeout_to_the_bit_and_in_flight_sums_now_extra_delay_in_order() -> None:
    """A Timer's heap entry equals that of `env.timeout(d)` made just before it (same time and priority, next eid);
    an InFlight message is due at (now + extra) + delay, the network's sum, and snapshots the network's count of ups and downs."""
    env = Environment()
    env.advance(0.1)  # a clock where sums in different orders round differently
    for delay in DELAYS:
        timeout = env.timeout(delay)
        Timer(env, delay, print, None)
        entries = sorted(env._queue, key=lambda e: e[2])[-2:]
        assert entries[0][3] is timeout and isinstance(entries[1][3], Timer)
        assert entries[0][:2] == entries[1][:2] and entries[1][2] == entries[0][2] + 1
    extra, delay = 0.2, 0.7
    assert 0.1 + extra + delay != 0.1 + (extra + delay)  # the order matters for these numbers
    wire = Wire(env)
    up = Arrival(wire, Endpoint(up=True), "a", "m1", "a", [0, 0, 0, 0], extra, delay)
    wire.changes = 4  # an endpoint went down or came back in between
    down = Arrival(wire, Endpoint(up=False), "a", "m2", "a", [0, 0, 0, 0], extra, delay)
    entry = max(env._queue, key=lambda e: e[2])
    assert entry[3] is down and entry[0] == 0.1 + extra + delay
    assert (up.sent_at, up.changes, down.changes) == (0.1, 3, 4)
    env.advance(10)
    assert wire.log == [(0.1 + extra + delay, "m1"), (0.1 + extra + delay, "m2")]


def test_advance_stops_strictly_before_until_and_sets_the_clock_like_run() -> None:
    """Events at `until` wait for the next call, as with `env.run(until=...)`; the clock ends at `until`."""
    for runner in ("run", "advance"):
        env = Environment()
        log: list[tuple[float, str]] = []
        for t in (1.0, 2.0, 2.0, 3.0):
            Mark(env, log, f"at{t}", t)
        if runner == "run":
            env.run(until=2.0)
        else:
            env.advance(2.0)
        assert log == [(1.0, "at1.0")] and env.now == 2.0, runner
        if runner == "run":
            env.run(until=5.0)
        else:
            env.advance(5.0)
        assert [name for _, name in log] == ["at1.0", "at2.0", "at2.0", "at3.0"] and env.now == 5.0, runner


def test_a_failing_process_crashes_advance_as_it_crashes_run() -> None:
    """An undefused failure raises out of the lean loop with the same type and message as from SimPy's."""

    def boom(env: simpy.Environment) -> Any:
        yield env.timeout(1)
        raise ValueError("boom")

    for name in ("run", "advance"):
        env = Environment()
        env.process(boom(env))
        with pytest.raises(ValueError, match="boom"):
            env.run(until=5) if name == "run" else env.advance(5)


def test_simpy_internals_the_fast_path_relies_on() -> None:
    """The contract: a heap of (time, priority, eid, event), an eid counter, the clock field, callbacks set to None."""
    env = simpy.Environment()
    env.timeout(3.0)
    env.timeout(1.0)
    queue = env._queue
    assert isinstance(queue, list) and all(len(entry) == 4 for entry in queue)
    first = heapq.heappop(queue)
    assert first[0] == 1.0 and isinstance(first[3], simpy.Timeout)
    assert next(env._eid) > first[2]
    env.run(until=2.5)
    assert env._now == env.now == 2.5
    done = env.timeout(0)
    env.run(until=3.0)
    assert done.callbacks is None and done._ok is True


def test_clocked_now_is_the_environment_clock_and_count_rows_are_made_once() -> None:
    """`Clocked.now` follows the environment; `count_row` makes a zero row on first use and returns it after."""

    class Thing(Clocked):
        def __init__(self, env: simpy.Environment) -> None:
            self.env = env

    env = Environment()
    thing = Thing(env)
    env.advance(7.5)
    assert thing.now == env.now == 7.5
    counts: dict[Any, list[int]] = {}
    row = count_row(counts, ("ping", "a", "b"))
    row[0] += 2
    assert counts == {("ping", "a", "b"): [2, 0, 0, 0]} and count_row(counts, ("ping", "a", "b")) is row


def tied_schedule(env: Environment, log: list[tuple[float, str]], batched: bool) -> None:
    """Many timers due at the same instants, interleaved with SimPy timeouts, marks, processes and zero delays.

    Each fired timer sets more timers (some with delay 0, some at a tie with others), as rounds do.
    With `batched` the node-style timers go through `TimerBatches`, else each is a `Timer`.
    """
    batches = TimerBatches(env)

    def timer(delay: float, name: str) -> None:
        if batched:
            batches.schedule(delay, fire, name)
        else:
            Timer(env, delay, fire, name)

    def fire(name: str) -> None:
        log.append((env.now, name))
        depth = name.count(".")
        if depth < 3:
            k = len(name)
            timer(1.0, name + ".a")  # a tie with every other timer of this generation
            if k % 3 == 0:
                timer(0.0, name + ".z")  # due now: joins (or follows) the batch being fired
            if k % 4 == 0:
                Mark(env, log, name + ".m", env.now)  # a fast event due now, between two timers
            if k % 5 == 0:
                timeout = env.timeout(0.0)
                timeout.callbacks.append(lambda _event, name=name: log.append((env.now, name + ".t")))

    def proc() -> Any:
        for step in range(4):
            log.append((env.now, f"proc{step}"))
            yield env.timeout(1.0)  # a process wakes at the same instants as the timers

    for i in range(12):
        timer(1.0 if i % 4 else 2.0, f"n{i}")
    env.process(proc())


def test_batched_timers_fire_in_exactly_the_order_single_timers_do() -> None:
    """`TimerBatches` gives the same times and the same order as one `Timer` per call, ties and zero delays included."""
    single: list[tuple[float, str]] = []
    env = Environment()
    tied_schedule(env, single, batched=False)
    env.advance(10)
    for runner in ("advance", "run"):
        batched: list[tuple[float, str]] = []
        env = Environment()
        tied_schedule(env, batched, batched=True)
        env.advance(10) if runner == "advance" else env.run(until=10)
        assert batched == single, runner
    assert len(single) > 60 and any(name.endswith(".m") for _, name in single) and any(name.endswith(".t") for _, name in single)


def test_batched_timers_share_one_heap_entry_per_instant() -> None:
    """A thousand timers due at one instant are one entry on the queue; the batch is forgotten once fired."""
    env = Environment()
    batches = TimerBatches(env)
    fired: list[int] = []
    for i in range(1000):
        batches.schedule(5.0, fired.append, i)
    assert len(env._queue) == 1
    env.advance(6)
    assert fired == list(range(1000)) and batches.last is None and not env._queue
