"""The network: per-link delay distributions, loss, duplication, FIFO, bandwidth and partitions.

A delivery is one `env.timeout` whose callback hands the message to the destination; random
draws come in numpy batches from the network's own stream.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from heapq import heappush
from typing import TYPE_CHECKING, Any

import numpy as np
from simpy.events import NORMAL

from sim.scenario import ConstantDelay, LinkSettings, NetworkSpec

if TYPE_CHECKING:
    import simpy

    from sim.node import Endpoint
    from sim.protocols.base import Message
    from sim.records import Recorder

BATCH = 4096


class UniformStream:
    """Uniform [0, 1) numbers drawn in batches from one generator."""

    __slots__ = ("_gen", "_buf", "_i")

    def __init__(self, gen: np.random.Generator) -> None:
        self._gen = gen
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        """The next number."""
        if self._i >= len(self._buf):
            self._buf = self._gen.random(BATCH).tolist()
            self._i = 0
        value = self._buf[self._i]
        self._i += 1
        return value


class DelaySampler:
    """Draws message delays (ms) for one delay spec, in batches."""

    __slots__ = ("spec", "_gen", "_buf", "_i", "constant")

    def __init__(self, spec: Any, gen: np.random.Generator) -> None:
        self.spec = spec
        self._gen = gen
        self._buf: list[float] = []
        self._i = 0
        self.constant: float | None = spec.value if isinstance(spec, ConstantDelay) else None

    def draw(self, count: int) -> np.ndarray:
        """`count` delays in ms from this sampler's generator (also used by sim/timing.py)."""
        spec, gen = self.spec, self._gen
        match spec.dist:
            case "constant":
                return np.full(count, float(spec.value))
            case "uniform":
                return gen.uniform(spec.low, spec.high, count)
            case "normal":
                return np.maximum(gen.normal(spec.mean, spec.std, count), 0.0)
            case "lognormal":
                return spec.median * np.exp(gen.normal(0.0, spec.sigma, count))
            case "exponential":
                return spec.min + gen.exponential(spec.mean, count)
            case "pareto":
                return spec.scale * (1.0 + gen.pareto(spec.shape, count))
        raise ValueError(f"unknown delay distribution {spec.dist!r}")

    def __call__(self) -> float:
        """The next delay in ms."""
        if self.constant is not None:
            return self.constant
        if self._i >= len(self._buf):
            self._buf = self.draw(BATCH).tolist()
            self._i = 0
        value = self._buf[self._i]
        self._i += 1
        return value


@dataclass(slots=True)
class Link:
    """Resolved settings of one directed link."""

    delay: DelaySampler
    loss: float
    duplicate: float
    bandwidth: float | None
    ordered: bool


class Network:
    """Moves messages between endpoints and decides their fate."""

    def __init__(
        self,
        env: simpy.Environment,
        spec: NetworkSpec,
        nodes: list[str],
        gen: np.random.Generator,
        recorder: Recorder,
    ) -> None:
        self.env = env
        self.spec = spec
        self.nodes = nodes
        self.recorder = recorder
        self._counts = recorder.counts
        self._queue = env._queue
        self._eid = env._eid
        self._pairs = recorder.pairs
        self.endpoints: dict[str, Endpoint] = {}
        self._gen = gen
        self._uniform = UniformStream(gen)
        self.default = self._make_link(spec, None)
        self.overrides: dict[tuple[str, str], Link] = {}
        for link in spec.links:
            self.set_link(link)
        self._partitions: list[tuple[int, dict[str, int]]] = []
        self._partition_seq = 0
        self._cuts: Counter[tuple[str, str]] = Counter()
        self._fifo: dict[tuple[str, str], float] = {}
        self._wire_free: dict[tuple[str, str], float] = {}

    # --- configuration -------------------------------------------------------------------

    def _make_link(self, settings: LinkSettings | NetworkSpec, base: Link | None) -> Link:
        delay = (
            DelaySampler(settings.delay, self._gen)
            if settings.delay is not None
            else (base.delay if base else DelaySampler(ConstantDelay(), self._gen))
        )

        def pick(field: str) -> Any:
            value = getattr(settings, field)
            return value if value is not None or base is None else getattr(base, field)

        return Link(delay, pick("loss"), pick("duplicate"), pick("bandwidth"), pick("ordered"))

    def expand(self, targets: str | list[str]) -> list[str]:
        """Names for a link end: a name, a list of names, or '*' (every node)."""
        items = [targets] if isinstance(targets, str) else targets
        if "*" in items:
            return list(self.nodes)
        return list(items)

    def set_link(self, spec: Any) -> dict[tuple[str, str], Link | None]:
        """Override links from `spec.from_` to `spec.to`; returns what to restore to undo it."""
        previous: dict[tuple[str, str], Link | None] = {}
        for src in self.expand(spec.from_):
            for dst in self.expand(spec.to):
                if src == dst:
                    continue
                key = (src, dst)
                previous[key] = self.overrides.get(key)
                self.overrides[key] = self._make_link(spec, self.overrides.get(key, self.default))
        return previous

    def restore_links(self, previous: dict[tuple[str, str], Link | None]) -> None:
        """Undo a `set_link`."""
        for key, link in previous.items():
            if link is None:
                self.overrides.pop(key, None)
            else:
                self.overrides[key] = link

    def add_partition(self, groups: list[list[str]]) -> int:
        """Split the listed nodes into groups that cannot reach each other; returns a handle."""
        self._partition_seq += 1
        membership = {name: gid for gid, group in enumerate(groups) for name in group}
        self._partitions.append((self._partition_seq, membership))
        return self._partition_seq

    def remove_partition(self, handle: int) -> None:
        """Heal one partition."""
        self._partitions = [p for p in self._partitions if p[0] != handle]

    def add_cut(self, sources: list[str], targets: list[str]) -> list[tuple[str, str]]:
        """Drop messages from each source to each target (one way); returns the pairs."""
        pairs = [(s, d) for s in sources for d in targets if s != d]
        self._cuts.update(pairs)
        return pairs

    def remove_cut(self, pairs: list[tuple[str, str]]) -> None:
        """Undo one cut."""
        self._cuts.subtract(pairs)
        self._cuts = +self._cuts

    def heal_all(self) -> None:
        """Remove every partition and cut."""
        self._partitions.clear()
        self._cuts.clear()

    def blocked(self, src: str, dst: str) -> bool:
        """Whether a partition or cut currently separates src from dst."""
        for _, membership in self._partitions:
            a = membership.get(src)
            if a is not None:
                b = membership.get(dst)
                if b is not None and a != b:
                    return True
        return bool(self._cuts) and (src, dst) in self._cuts

    # --- the hot path --------------------------------------------------------------------

    def send(self, src: str, dst: str, msg: Message, true_src: str | None = None, extra_delay: float = 0.0) -> None:
        """Send `msg` claiming to be from `src`; `true_src` differs only for a forgery."""
        # This runs for every message: counting is inlined and the plain case takes no detours.
        if true_src is None:
            true_src = src
        size = msg.size_bytes
        key = (msg.kind, true_src, dst) if self._pairs else (msg.kind, true_src, "*")
        row = self._counts.get(key)
        if row is None:
            row = self._counts[key] = [0, 0, 0, 0]
        row[0] += 1
        row[3] += size
        if (self._partitions or self._cuts) and self.blocked(true_src, dst):
            self.recorder.dropped(msg.kind, true_src, dst, "partition", self.env.now)
            return
        link = self.overrides.get((true_src, dst), self.default) if self.overrides else self.default
        if link.loss and self._uniform() < link.loss:
            self.recorder.dropped(msg.kind, true_src, dst, "loss", self.env.now)
            return
        endpoint = self.endpoints[dst]
        if link.duplicate and self._uniform() < link.duplicate:
            self._schedule(link, endpoint, src, msg, true_src, extra_delay, size, row)
        if link.bandwidth or link.ordered:
            self._schedule(link, endpoint, src, msg, true_src, extra_delay, size, row)
        else:
            # env.schedule, inlined: this is the one place every message passes through.
            now = self.env._now
            heappush(
                self._queue,
                (now + extra_delay + link.delay(), NORMAL, next(self._eid), Delivery(self, endpoint, src, msg, true_src, now, row)),
            )

    def _schedule(
        self, link: Link, endpoint: Endpoint, src: str, msg: Message, true_src: str, extra: float, size: int, row: list[int]
    ) -> None:
        now = self.env.now
        start = now + extra
        if link.bandwidth:
            pair = (true_src, endpoint.name)
            start = max(start, self._wire_free.get(pair, 0.0)) + size * 1000.0 / link.bandwidth
            self._wire_free[pair] = start
        arrival = start + link.delay()
        if link.ordered:
            pair = (true_src, endpoint.name)
            arrival = max(arrival, self._fifo.get(pair, 0.0))
            self._fifo[pair] = arrival
        self.env.schedule(Delivery(self, endpoint, src, msg, true_src, now, row), NORMAL, arrival - now)


class Delivery:
    """A message in flight: a SimPy event whose one callback hands it over on arrival.

    Equivalent to an `env.timeout` with a callback, minus the generic event machinery this
    hot path does not need (measured: about a third of the per-message kernel cost).
    """

    __slots__ = ("callbacks", "_ok", "_value", "network", "endpoint", "src", "msg", "true_src", "sent_at", "incarnation", "row")

    def __init__(self, network: Network, endpoint: Endpoint, src: str, msg: Message, true_src: str, sent_at: float, row: list[int]) -> None:
        self.callbacks = _ARRIVE  # a shared tuple: SimPy only iterates it, then sets None here
        self._ok = True
        self._value = None
        self.network = network
        self.endpoint = endpoint
        self.src = src
        self.msg = msg
        self.true_src = true_src
        self.sent_at = sent_at
        self.incarnation = endpoint.incarnation
        self.row = row

    def arrive(self) -> None:
        """Deliver, unless the receiver crashed (or crashed and recovered) meanwhile."""
        endpoint = self.endpoint
        network = self.network
        if not endpoint.up or endpoint.incarnation != self.incarnation:
            network.recorder.dropped(self.msg.kind, self.true_src, endpoint.name, "crashed", self.sent_at)
            return
        self.row[1] += 1
        rec = network.recorder
        if rec.trace_on:
            rec.trace.append((self.sent_at, network.env.now, self.true_src, endpoint.name, self.msg.kind, self.msg.size_bytes, "delivered"))
        endpoint.receive(self.src, self.msg, self.true_src)


_ARRIVE = (Delivery.arrive,)
