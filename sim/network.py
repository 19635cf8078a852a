"""The network: per-link delay distributions, loss, duplication, FIFO, bandwidth and partitions.

A delivery is one `Delivery` event on the kernel's fast path (sim/fastpath.py) that hands the
message to the destination when its time comes; random draws come in numpy batches from the
network's own stream.

A message is lost when the link's loss draw says so; when a partition or cut separates sender
and receiver as it is sent; when one that separates them begins while it is on the wire (a cut
cable loses what is on it, even if mended before the message would have arrived); and when the
receiver is down as it is sent or crashes before it arrives (a recovered node starts with an
empty inbox, as a restarted process does).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.draws import DelaySampler, UniformStream
from sim.fastpath import BYTES_SENT, DELIVERED, SENT, Burst, Gathered, InFlight, count_row
from sim.scenario import LinkSettings, LinkSpec, NetworkSpec

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    import simpy

    from sim.node import Endpoint
    from sim.protocols.base import Message
    from sim.records import Recorder

Item = tuple[Any, Any, "Endpoint", int, list[int], str, "Message", str, float]
"""A message in flight as `Network.hand_over` takes it: (due time, queue id, receiver, the network's
`changes` as it was sent, count row, claimed sender, message, true sender, sent at); the first two
order a burst's items (a `Delivery` holds its own and passes None)."""


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
        self._pairs = recorder.pairs
        self._rows: dict[str, dict[Any, list[int]]] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self._gen = gen
        self._uniform = UniformStream(gen).next
        self.default = self._make_link(spec)
        self.overrides: dict[tuple[str, str], Link] = {}
        # Each `links:` entry and each `set_link` fault is a layer over the default; a link is the
        # fold of its layers in the order they were applied, so undoing one removes only its own.
        self._layers: dict[tuple[str, str], list[tuple[int, LinkSettings, DelaySampler | None]]] = {}
        self._link_seq = 0
        for link in spec.links:
            self.set_link(link)
        self._partitions: list[tuple[int, dict[str, int]]] = []
        self._cut_pairs: dict[int, list[tuple[str, str]]] = {}
        self._block_seq = 0
        self._cuts: Counter[tuple[str, str]] = Counter()
        # Every partition and cut ever added, by time: a message on the wire when one starts is lost.
        self._cut_history: list[tuple[float, dict[str, int] | None, frozenset[tuple[str, str]]]] = []
        self.last_block_at = float("-inf")
        self.changes = 0
        """How many times an endpoint has gone down or come back (see `change` and `hand_over`)."""
        self._fifo: dict[tuple[str, str], float] = {}
        self._wire_free: dict[tuple[str, str], float] = {}
        # The plain sends of one instant after its first share a queue entry (see `Sends`).
        self._sent_at = -1.0
        self._open: Sends | None = None
        self._plans: dict[tuple[str, str], tuple[Sequence[str], list[tuple[list[int], Endpoint]]]] = {}
        """By (kind, sender): the peers list a broadcast went to, and each peer's count row and endpoint."""

    # --- configuration -------------------------------------------------------------------

    def _make_link(self, settings: NetworkSpec) -> Link:
        return Link(DelaySampler(settings.delay, self._gen), settings.loss, settings.duplicate, settings.bandwidth, settings.ordered)

    def expand(self, targets: str | list[str]) -> list[str]:
        """Names for a link end: a name, a list of names, or '*' (every node)."""
        items = [targets] if isinstance(targets, str) else targets
        if "*" in items:
            return list(self.nodes)
        return list(items)

    def set_link(self, spec: LinkSpec) -> tuple[int, int]:
        """Lay `spec` over the links from `spec.from_` to `spec.to`; returns a handle for `remove_link` and the link count."""
        self._link_seq += 1
        handle = self._link_seq
        touched = 0
        for src in self.expand(spec.from_):
            for dst in self.expand(spec.to):
                if src == dst:
                    continue
                key = (src, dst)
                sampler = DelaySampler(spec.delay, self._gen) if spec.delay is not None else None
                self._layers.setdefault(key, []).append((handle, spec, sampler))
                self._refold(key)
                touched += 1
        return handle, touched

    def remove_link(self, handle: int) -> int:
        """Undo one `set_link`, keeping every other layer; returns how many links it touched."""
        touched = 0
        for key in list(self._layers):
            layers = self._layers[key]
            kept = [layer for layer in layers if layer[0] != handle]
            if len(kept) != len(layers):
                touched += 1
                self._layers[key] = kept
                self._refold(key)
        return touched

    def _refold(self, key: tuple[str, str]) -> None:
        layers = self._layers.get(key)
        if not layers:
            self._layers.pop(key, None)
            self.overrides.pop(key, None)
            return
        link = self.default
        for _, settings, sampler in layers:
            link = Link(
                sampler if sampler is not None else link.delay,
                settings.loss if settings.loss is not None else link.loss,
                settings.duplicate if settings.duplicate is not None else link.duplicate,
                settings.bandwidth if settings.bandwidth is not None else link.bandwidth,
                settings.ordered if settings.ordered is not None else link.ordered,
            )
        self.overrides[key] = link

    def add_partition(self, groups: list[list[str]]) -> int:
        """Split the listed nodes into groups that cannot reach each other; returns a handle."""
        self._block_seq += 1
        membership = {name: gid for gid, group in enumerate(groups) for name in group}
        self._partitions.append((self._block_seq, membership))
        self._note_block(membership, frozenset())
        return self._block_seq

    def remove_partition(self, handle: int) -> bool:
        """Heal one partition; False when it was already healed (by `heal: all`)."""
        before = len(self._partitions)
        self._partitions = [p for p in self._partitions if p[0] != handle]
        return len(self._partitions) != before

    def add_cut(self, sources: list[str], targets: list[str]) -> tuple[int, list[tuple[str, str]]]:
        """Drop messages from each source to each target (one way); returns a handle and the pairs."""
        pairs = [(s, d) for s in sources for d in targets if s != d]
        self._block_seq += 1
        self._cut_pairs[self._block_seq] = pairs
        self._cuts.update(pairs)
        self._note_block(None, frozenset(pairs))
        return self._block_seq, pairs

    def remove_cut(self, handle: int) -> bool:
        """Undo one cut (overlapping cuts stay); False when it was already healed (by `heal: all`)."""
        pairs = self._cut_pairs.pop(handle, None)
        if pairs is None:
            return False
        self._cuts.subtract(pairs)
        self._cuts = +self._cuts
        return True

    def heal_all(self) -> None:
        """Remove every partition and cut (their later undos then do nothing)."""
        self._partitions.clear()
        self._cut_pairs.clear()
        self._cuts.clear()

    def _note_block(self, membership: dict[str, int] | None, pairs: frozenset[tuple[str, str]]) -> None:
        now = self.env.now
        self._cut_history.append((now, membership, pairs))
        self.last_block_at = now

    def cut_in_flight(self, src: str, dst: str, sent_at: float) -> bool:
        """Whether a partition or cut that separates src from dst began while a message sent at `sent_at` was on the wire.

        A cut cable loses what is on it: the message is lost even if the cut has healed by the
        time it would have arrived.
        """
        for added_at, membership, pairs in reversed(self._cut_history):
            if added_at < sent_at:
                return False
            if membership is None:
                if (src, dst) in pairs:
                    return True
            else:
                a = membership.get(src)
                b = membership.get(dst)
                if a is not None and b is not None and a != b:
                    return True
        return False

    def blocked(self, src: str, dst: str) -> bool:
        """Whether a partition or cut currently separates src from dst."""
        for _, membership in self._partitions:
            a = membership.get(src)
            if a is not None:
                b = membership.get(dst)
                if b is not None and a != b:
                    return True
        return bool(self._cuts) and (src, dst) in self._cuts

    def change(self) -> int:
        """An endpoint goes down or comes back: returns the new count, the endpoint's `changed`."""
        self.changes += 1
        return self.changes

    def release(self) -> None:
        """After the run: forget the endpoints, the count rows' index and the open batch of sends (see `Simulation.release`)."""
        self.endpoints.clear()
        self._rows.clear()  # the rows stay in the recorder
        self._plans.clear()
        self._open = None

    # --- the hot path --------------------------------------------------------------------

    def send(self, src: str, dst: str, msg: Message, true_src: str | None = None, extra_delay: float = 0.0) -> None:
        """Send `msg` claiming to be from `src`; `true_src` differs only for a forgery."""
        # This runs for every message: counting is inlined and the plain case takes no detours.
        if true_src is None:
            true_src = src
        size = msg.size_bytes
        # The count row, by kind then by sender (or pair): a name compares by identity, where a
        # (kind, src, dst) key would be built, hashed and compared (fetching the stored key) per message.
        try:
            row = self._rows[msg.kind][(true_src, dst) if self._pairs else true_src]
        except KeyError:
            row = self._count_row(msg.kind, true_src, dst)
        row[SENT] += 1
        row[BYTES_SENT] += size
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
            return
        # Counted as delivered now, while the sender's row is in cache; `settle` takes off what is still on the wire at the end.
        row[DELIVERED] += 1
        env = self.env
        now = env._now
        if now != self._sent_at:
            self._sent_at = now
            Delivery(self, endpoint, src, msg, true_src, row, extra_delay, link.delay.next())
            return
        # A second send at this instant (each node's round timer firing at once sends one apiece):
        # it joins the instant's open batch, with the time and queue id a `Delivery` would get.
        at = now + extra_delay + link.delay.next()
        item = (at, next(env._eid), endpoint, self.changes, row, src, msg, true_src, now)
        batch = self._open
        if batch is None:
            self._open = Sends(self, item)
        else:
            batch.due.append(item)

    def hand_over(self, item: Item) -> None:
        """A message in flight arrives (a `Delivery`, a multicast's `Burst`, `Sends`): the receiver gets it, unless dropped.

        Dropped if the receiver was down when it was sent or crashed meanwhile, or if a partition
        or cut fell across the link while it was on the wire. The receiver is read only now: it is
        down, or it went down or came back since the message left (its `changed` is later than the
        `changes` the message carries), exactly when it was down as it was sent or crashed since.
        """
        _, _, endpoint, changes, row, src, msg, true_src, sent_at = item
        if not endpoint.up or endpoint.changed > changes:
            row[DELIVERED] -= 1  # counted when sent
            self.recorder.dropped(msg.kind, true_src, endpoint.name, "crashed", sent_at)
            return
        if self.last_block_at >= sent_at and self.cut_in_flight(true_src, endpoint.name, sent_at):
            row[DELIVERED] -= 1
            self.recorder.dropped(msg.kind, true_src, endpoint.name, "partition", sent_at)
            return
        rec = self.recorder
        if rec.trace_on:
            rec.trace.append((sent_at, self.env._now, true_src, endpoint.name, msg.kind, msg.size_bytes, "delivered"))
        endpoint.receive(src, msg, true_src)

    def multicast(self, src: str, dsts: Sequence[str], msg: Message) -> None:
        """`send(src, dst, msg)` to each of `dsts` in order (the same counts, draws and events).

        A broadcast sends one message to many: on a plain network (no partition, cut or link
        override; the default link lossless, without duplication, bandwidth or FIFO) the size,
        the kind and the link are looked up once for all of them, and no draw but the delay's is made.
        """
        if not self.plain():
            for dst in dsts:
                self.send(src, dst, msg)
            return
        self._burst(src, [(self._row(msg.kind, src, dst), self.endpoints[dst]) for dst in dsts], msg)

    def broadcast(self, src: str, peers: Sequence[str], msg: Message) -> None:
        """`multicast(src, peers, msg)`, where `peers` is the one list `src` always broadcasts to.

        The count row and the endpoint of each peer are looked up once per message kind and kept
        (a dictionary lookup and a key built and hashed per message saved, at 64 replicas about
        a tenth of the kernel's work per message).
        """
        if not self.plain():
            for dst in peers:
                self.send(src, dst, msg)
            return
        kind = msg.kind
        plan = self._plans.get((kind, src))
        if plan is None or plan[0] is not peers:
            plan = self._plans[kind, src] = (peers, [(self._row(kind, src, dst), self.endpoints[dst]) for dst in peers])
        self._burst(src, plan[1], msg)

    def plain(self) -> bool:
        """Whether every message goes the default link's way: no partition, cut or override; no loss, duplicate, bandwidth or FIFO."""
        default = self.default
        return not (
            self._partitions or self._cuts or self.overrides or default.loss or default.duplicate or default.bandwidth or default.ordered
        )

    def _burst(self, src: str, targets: list[tuple[list[int], Endpoint]], msg: Message) -> None:
        """Put `msg` on the wire to each (count row, endpoint) of `targets` on the default link, as one `Burst`."""
        size = msg.size_bytes
        delay = self.default.delay.next
        env = self.env
        now, eid, changes = env._now, env._eid, self.changes
        due = []
        for row, endpoint in targets:
            row[SENT] += 1
            row[DELIVERED] += 1  # see `send`
            row[BYTES_SENT] += size
            # The time and queue id a `Delivery` would get (`now + 0.0 + delay` is `now + delay`).
            due.append((now + delay(), next(eid), endpoint, changes, row, src, msg, src, now))
        if due:
            Burst(env, due, self.hand_over)  # one queue entry for the lot

    def _row(self, kind: str, src: str, dst: str) -> list[int]:
        """The count row of `kind` from `src` to `dst` (see `_count_row`)."""
        row = self._rows.get(kind, {}).get((src, dst) if self._pairs else src)
        return row if row is not None else self._count_row(kind, src, dst)

    def _count_row(self, kind: str, src: str, dst: str) -> list[int]:
        """The recorder's count row for `kind` from `src` to `dst` (to '*' unless counting pairs), made on first use."""
        if self._pairs:
            row = self._rows.setdefault(kind, {})[src, dst] = count_row(self._counts, (kind, src, dst))
        else:
            row = self._rows.setdefault(kind, {})[src] = count_row(self._counts, (kind, src, "*"))
        return row

    def _schedule(
        self, link: Link, endpoint: Endpoint, src: str, msg: Message, true_src: str, extra: float, size: int, row: list[int]
    ) -> None:
        now = self.env.now
        start = now + extra
        if link.bandwidth:
            pair = (true_src, endpoint.name)
            start = max(start, self._wire_free.get(pair, 0.0)) + size * 1000.0 / link.bandwidth
            self._wire_free[pair] = start
        arrival = start + link.delay.next()
        if link.ordered:
            pair = (true_src, endpoint.name)
            arrival = max(arrival, self._fifo.get(pair, 0.0))
            self._fifo[pair] = arrival
        row[DELIVERED] += 1  # see `send`
        Delivery(self, endpoint, src, msg, true_src, row, 0.0, arrival - now)


def settle(queue: Iterable[tuple[Any, ...]]) -> None:
    """The run is over: take the messages still on the wire off their rows' delivered counts.

    The network counts a message as delivered when it sends it (the sender's count row is in
    cache then; the receiver's turn comes at a random later moment, at 100,000 nodes a cache
    miss or two per message), and takes it off again if it is lost on the way. What is still in
    flight when the run ends comes off here, once per environment (`queue` is its `_queue`),
    after the last event and the nodes' `on_stop`. Those messages are never delivered: the queue
    is emptied, so the counts stay equal to the journal's hand-overs if the environment is
    advanced afterwards, and a second call finds nothing to take off.
    """
    for entry in queue:
        event = entry[3]
        if isinstance(event, Delivery):
            event.row[DELIVERED] -= 1
        elif isinstance(event, Burst) and isinstance(getattr(event.deliver, "__self__", None), Network):
            for item in event.due:  # a multicast or the sends of an instant: the items not yet handed over
                if item:
                    item[4][DELIVERED] -= 1
    queue.clear()


class Delivery(InFlight):
    """A message in flight (scheduled as it is made, see `InFlight`), handed over on arrival.

    Equivalent to an `env.timeout` with a callback, minus the generic event machinery this
    hot path does not need (measured: about a third of the per-message kernel cost).
    """

    __slots__ = ()
    endpoint: Endpoint
    network: Network
    msg: Message

    def arrive(self) -> None:
        """Hand the message over (see `Network.hand_over`)."""
        self.network.hand_over((None, None, self.endpoint, self.changes, self.row, self.src, self.msg, self.true_src, self.sent_at))


class Sends(Gathered):
    """The plain sends of one instant after its first, in flight (see `Gathered`): each handed over as a `Delivery` would be."""

    __slots__ = ("network",)

    def __init__(self, network: Network, first: Item) -> None:
        self.network = network
        super().__init__(network.env, first, network.hand_over)

    def close(self) -> None:
        """A send later in this instant opens a new batch."""
        if self.network._open is self:
            self.network._open = None
