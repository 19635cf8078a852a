"""Endpoints on the network: nodes that run one Protocol instance, and clients.

A node is the protocol's Context: it owns timers, persistent storage, the CPU queue of the
crypto model, and the byzantine behaviours that rewrite what it sends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.fastpath import Clocked, Timer
from sim.protocols.base import ClientRequest, Message, Protocol, ProtocolConfig

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence

    from sim.byzantine import Behaviour
    from sim.kernel import Simulation
    from sim.workload import Client


class Endpoint(Clocked):
    """Something with a name on the network: timers, sending, and an up/down state."""

    # Slots: a node's fields sit in the object itself (one memory line to fetch, not an object and
    # its separate attribute array), and 100,000 nodes take less memory. Subclasses may add a __dict__.
    # Slots lie in declaration order, a subclass's after these: what a delivery reads (`up` and
    # `changed` here, then a node's `protocol` and `_cpu`) comes last, to share a line or two of
    # memory (a message lands on a node out of cache; each further line read is another wait).
    __slots__ = ("sim", "env", "_rng", "incarnation", "name", "_timers", "_timer_seq", "_schedule", "_fired", "up", "changed")

    def __init__(self, sim: Simulation, name: str, rng: random.Random | None) -> None:
        self.sim = sim
        self.env = sim.env
        self.name = name
        self._rng = rng
        self.up = True
        self.incarnation = 0
        self.changed = 0
        """The network's `changes` when this endpoint last went down or came back (0: never): messages sent before it are lost."""
        # name -> sequence number of the latest timer set under it: a timer fires only if it is
        # still the latest (a crash clears it, and numbers are never reused, so none outlives one).
        self._timers: dict[str, int] = {}
        self._timer_seq = 0
        self._schedule = sim.timers.schedule
        self._fired = self._fire  # bound once, not at every set_timer

    @property
    def rng(self) -> random.Random:
        """The endpoint's own stream; given None, the `node:<name>` stream, made on first use.

        Seeding a `random.Random` costs microseconds and its state 2.5 KB: a million gossip nodes
        that never draw from it need not pay for it. The stream is the same whenever it is made.
        """
        if self._rng is None:
            self._rng = self.sim.py_rng(f"node:{self.name}")
        return self._rng

    def set_timer(self, name: str, delay: float) -> None:
        """Fire `on_timer(name)` after `delay` ms; replaces a pending timer of that name."""
        seq = self._timer_seq = self._timer_seq + 1
        self._timers[name] = seq
        # Batched with every other timer due at the same instant, in the same order as one Timer each.
        self._schedule(delay if delay > 0.0 else 0.0, self._fired, (name, seq))

    def cancel_timer(self, name: str) -> None:
        """Forget a pending timer (no-op when none is pending)."""
        self._timers.pop(name, None)

    def _fire(self, timer: tuple[str, int]) -> None:
        name, seq = timer
        # The entry stays once fired: setting the name again overwrites it, and its number never comes back.
        if self.up and self._timers.get(name) == seq:
            self.on_timer(name)

    def send(self, dst: str, msg: Message) -> None:
        """Put a message on the network."""
        self.sim.network.send(self.name, dst, msg)

    def release(self) -> None:
        """After the run: drop the references that make cycles through this endpoint (see `Simulation.release`)."""
        self._fired = None  # type: ignore[assignment]  # a bound method: endpoint -> method -> endpoint
        self._timers.clear()

    def on_timer(self, name: str) -> None:
        """Dispatch a fired timer."""

    def receive(self, src: str, msg: Message, true_src: str) -> None:
        """Handle a delivered message."""


class Node(Endpoint):
    """One agent running one Protocol instance; the protocol's `ctx`."""

    __slots__ = (
        # First, next to Endpoint's `up` and `changed`: what a delivery and a send read (see Endpoint).
        "protocol",
        "_cpu",
        "behaviours",
        "_write",
        "_net_send",
        "protocol_cls",
        "config",
        "nodes",
        "_peers",
        "weights",
        "shared",
        "storage",
        "colluders",
        "_sign",
        "_verify",
        "busy_until",
        "cpu_ms",
        "disk_until",
        "disk_ms",
        "__dict__",  # a mechanism or a test may still hang its own attributes on its context
    )

    def __init__(
        self,
        sim: Simulation,
        name: str,
        rng: random.Random | None,
        protocol_cls: type[Protocol],
        config: ProtocolConfig,
        nodes: list[str],
        weights: dict[str, float],
    ) -> None:
        super().__init__(sim, name, rng)
        self.protocol_cls = protocol_cls
        self.config = config
        self.nodes = nodes
        self._peers: list[str] | None = None
        self.weights = weights
        self.shared = sim.shared
        self.storage: dict[str, Any] = {}
        self.protocol: Protocol | None = None
        self.behaviours: list[Behaviour] = []
        self.colluders: frozenset[str] = frozenset()
        crypto = sim.scenario.crypto
        self._sign = crypto.sign if crypto else 0.0
        self._verify = crypto.verify if crypto else 0.0
        self._cpu = bool(self._sign or self._verify)
        self.busy_until = 0.0
        self.cpu_ms = 0.0
        storage = sim.scenario.storage
        self._write = storage.write if storage else 0.0
        self.disk_until = 0.0
        self.disk_ms = 0.0
        self._net_send = sim.network.send

    @property
    def peers(self) -> list[str]:
        """Every other node (built on first use: at 10,000 nodes, one list per node adds up)."""
        if self._peers is None:
            self._peers = [n for n in self.nodes if n != self.name]
        return self._peers

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Create a fresh protocol instance over the persistent storage and start it."""
        self.protocol = self.protocol_cls(self, self.config)
        self.protocol.on_start()

    def stop(self) -> None:
        """The run is over: let a running protocol record its final state."""
        if self.up and self.protocol is not None:
            self.protocol.on_stop()

    def crash(self) -> None:
        """Stop: timers, in-flight inbound messages and volatile state are lost."""
        self.up = False
        self.incarnation += 1
        self.changed = self.sim.network.change()
        self._timers.clear()
        self.protocol = None
        self.busy_until = self.disk_until = self.now

    def recover(self) -> None:
        """Come back and restart the protocol from `storage`."""
        if not self.up:  # what was sent to it while it was down is lost; a restart of a live node loses nothing
            self.changed = self.sim.network.change()
        self.up = True
        self.busy_until = self.disk_until = self.now
        self.start()

    # --- the Context interface -----------------------------------------------------------

    def persist(self) -> None:
        """A write to stable storage: messages sent from now on leave only once it is durable.

        Writes queue on one disk, each taking the scenario's `storage.write` (none by default).
        """
        if self._write:
            self.disk_until = max(self.now, self.disk_until) + self._write
            self.disk_ms += self._write

    def send(self, dst: str, msg: Message) -> None:
        """Send to one node or client (through byzantine behaviours, the CPU and the disk model)."""
        # Without a storage model the disk is never behind the clock (`persist` needs a write time).
        if not self._cpu and not self.behaviours and (not self._write or self.disk_until <= self.now):
            self._net_send(self.name, dst, msg)
            return
        extra = 0.0
        if self._cpu:
            start = max(self.now, self.busy_until) + self._sign
            self.cpu_ms += self._sign
            self.busy_until = start
            extra = start - self.now
        if self.disk_until > self.now:
            # What is sent depends on what was just written: it waits for the disk.
            extra = max(extra, self.disk_until - self.now)
        if self.behaviours:
            for behaviour in self.behaviours:
                if behaviour.active(self.now, msg):
                    for out_dst, out_msg, claimed, delay in behaviour.outgoing(self, dst, msg):
                        self.sim.network.send(claimed, out_dst, out_msg, self.name, extra + delay)
                    return
        self.sim.network.send(self.name, dst, msg, None, extra)

    def broadcast(self, msg: Message) -> None:
        """Send to every other node (`multicast` to `peers`, one list, so the network keeps what it looks up per peer)."""
        if self.sends_alike():
            self.sim.network.broadcast(self.name, self.peers, msg)
            return
        for dst in self.peers:
            self.send(dst, msg)

    def multicast(self, dsts: Sequence[str], msg: Message) -> None:
        """Send to each of `dsts` in order: the same as `send(dst, msg)` for each, one after another."""
        if self.sends_alike():
            self.sim.network.multicast(self.name, dsts, msg)
            return
        for dst in dsts:
            self.send(dst, msg)

    def sends_alike(self) -> bool:
        """Whether `send` now takes its plain path for every copy: nothing here can tell one copy from the next."""
        return not self._cpu and not self.behaviours and (not self._write or self.disk_until <= self.now)

    def decide(self, slot: int | str, value: str, **fields: Any) -> None:
        """Record that this node decided (committed, applied, learned) `value` for `slot`."""
        self.sim.recorder.decision(self.now, self.name, slot, value, self.incarnation, fields)

    def record(self, kind: str, **fields: Any) -> None:
        """Add a row to the events table."""
        self.sim.recorder.event(self.now, self.name, kind, fields)

    def count(self, counter: str, amount: int = 1) -> None:
        """Bump a run-wide counter that ends up in the summary."""
        self.sim.recorder.count(counter, amount)

    # --- inputs --------------------------------------------------------------------------

    def receive(self, src: str, msg: Message, true_src: str) -> None:
        """Authenticate, queue on the CPU if modelled, then dispatch to the protocol."""
        # `is not` first: an honest sender's two names are one object, and comparing reads the string (a cache miss at scale).
        if src is not true_src and src != true_src and self.sim.mechanism.authenticated:
            self.count("forged_rejected")
            return
        protocol = self.protocol
        if self._cpu:
            start = max(self.now, self.busy_until)
            verify = self._verify * (protocol.signatures_to_check(src, msg) if protocol is not None else msg.signatures)
            self.busy_until = start + verify
            self.cpu_ms += verify
            if self.busy_until > self.now:
                Timer(self.env, self.busy_until - self.now, self._dispatch_later, (src, msg, self.incarnation))
                return
        if protocol is not None:
            if type(msg) is ClientRequest:
                protocol.on_request(msg)
            else:
                protocol.on_message(src, msg)

    def _dispatch_later(self, queued: tuple[str, Message, int]) -> None:
        src, msg, incarnation = queued
        if self.up and incarnation == self.incarnation:
            self._dispatch(src, msg)

    def _dispatch(self, src: str, msg: Message) -> None:
        protocol = self.protocol
        if protocol is None:
            return
        if type(msg) is ClientRequest:
            protocol.on_request(msg)
        else:
            protocol.on_message(src, msg)

    def on_timer(self, name: str) -> None:
        """Dispatch a fired timer to the protocol."""
        if self.protocol is not None:
            self.protocol.on_timer(name)

    def _fire(self, timer: tuple[str, int]) -> None:
        # Endpoint._fire with `on_timer` inlined (one call fewer per timer); see __init_subclass__.
        name, seq = timer
        if self.up and self._timers.get(name) == seq:
            protocol = self.protocol
            if protocol is not None:
                protocol.on_timer(name)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that changes `on_timer` gets the `_fire` that calls it."""
        super().__init_subclass__(**kwargs)
        if cls.on_timer is not Node.on_timer and cls._fire is Node._fire:
            cls._fire = Endpoint._fire  # type: ignore[method-assign]

    def release(self) -> None:
        """After the run: drop the protocol, whose `ctx` is this node (see `Simulation.release`)."""
        super().release()
        self.protocol = None

    def is_leader(self) -> bool:
        """Whether this node is up and its protocol believes it leads."""
        return self.up and self.protocol is not None and self.protocol.is_leader()

    def epoch(self) -> tuple[int, ...]:
        """The protocol's term, view or ballot (empty when down)."""
        return self.protocol.epoch() if self.up and self.protocol is not None else ()


class ClientEndpoint(Endpoint):
    """A client on the network; its logic is the mechanism's Client class."""

    def __init__(self, sim: Simulation, name: str, rng: random.Random, client_cls: type[Client]) -> None:
        super().__init__(sim, name, rng)
        self.nodes = sim.node_names
        self.client = client_cls(self, sim)

    def receive(self, src: str, msg: Message, true_src: str) -> None:
        """Hand a reply to the client logic (rejecting forged senders, as nodes do)."""
        if src != true_src and self.sim.mechanism.authenticated:
            self.sim.recorder.count("forged_rejected")
            return
        self.client.on_message(src, msg)

    def on_timer(self, name: str) -> None:
        """Dispatch a fired timer to the client logic."""
        self.client.on_timer(name)

    def release(self) -> None:
        """After the run: drop the client logic, whose `ctx` is this endpoint (see `Simulation.release`)."""
        super().release()
        del self.client

    def complete(self, cmd_id: str) -> None:
        """The client has its answer for `cmd_id`."""
        self.sim.recorder.request_done(cmd_id, self.now)
        self.sim.workload.on_complete(self, cmd_id)

    def record(self, kind: str, **fields: Any) -> None:
        """Add a row to the events table."""
        self.sim.recorder.event(self.now, self.name, kind, fields)
