"""Byzantine behaviours: rewrite what a faulty node sends.

Generic behaviours (silent, omit, delay, replay, forge) work on any mechanism; the ones that
need to know a message's meaning (equivocate, corrupt, double_vote) ask the protocol's
`mutate` hook, and a mechanism lists the behaviours it supports in `byzantine_behaviours`.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TYPE_CHECKING

from sim.units import parse_duration

if TYPE_CHECKING:
    import random

    from sim.node import Node
    from sim.protocols.base import Message
    from sim.protocols.registry import Mechanism
    from sim.scenario import FaultSpec

Outgoing = list[tuple[str, "Message", str, float]]
"""(destination, message, claimed sender, extra delay in ms) for each copy that leaves."""


class Behaviour:
    """Base: active between `from` and `until`, for the listed message kinds (or all)."""

    name = ""
    params: tuple[str, ...] = ()

    def __init__(self, spec: FaultSpec, mechanism: Mechanism, rng: random.Random) -> None:
        self.start = spec.from_ or 0.0
        self.stop = spec.until if spec.until is not None else math.inf
        self.kinds = frozenset(spec.messages) if spec.messages else None
        self.mechanism = mechanism
        self.rng = rng
        self.params = dict(spec.params)

    def active(self, now: float, msg: Message) -> bool:
        """Whether this behaviour rewrites `msg` now."""
        return self.start <= now < self.stop and (self.kinds is None or msg.kind in self.kinds)

    def outgoing(self, node: Node, dst: str, msg: Message) -> Outgoing:
        """What actually leaves the node instead of `msg`."""
        return [(dst, msg, node.name, 0.0)]


class Silent(Behaviour):
    """Sends nothing."""

    name = "silent"

    def outgoing(self, node: Node, dst: str, msg: Message) -> Outgoing:
        """Drop it."""
        return []


class Omit(Behaviour):
    """Drops a `fraction` of its messages (default 0.5)."""

    name = "omit"
    params = ("fraction",)

    def outgoing(self, node: Node, dst: str, msg: Message) -> Outgoing:
        """Drop with probability `fraction`."""
        if self.rng.random() < float(self.params.get("fraction", 0.5)):
            return []
        return [(dst, msg, node.name, 0.0)]


class Delay(Behaviour):
    """Holds each message back by `delay` (default 100ms)."""

    name = "delay"
    params = ("delay",)

    def outgoing(self, node: Node, dst: str, msg: Message) -> Outgoing:
        """Send late."""
        return [(dst, msg, node.name, parse_duration(self.params.get("delay", "100ms")))]


class Replay(Behaviour):
    """Sends each message, then one of its earlier messages to the same peer again."""

    name = "replay"
    keep = 256
    """Earlier messages remembered per destination (the oldest are forgotten first)."""

    def __init__(self, spec: FaultSpec, mechanism: Mechanism, rng: random.Random) -> None:
        super().__init__(spec, mechanism, rng)
        # One history per destination: a message is only ever replayed to the node or client it
        # was sent to, so the receiver gets a kind it could have been sent (a client's reply
        # replayed to a replica would be a message no honest sender could produce).
        self.history: dict[str, list[Message]] = {}

    def outgoing(self, node: Node, dst: str, msg: Message) -> Outgoing:
        """The message, plus an old one sent to the same destination."""
        out: Outgoing = [(dst, msg, node.name, 0.0)]
        sent = self.history.setdefault(dst, [])
        if sent:
            out.append((dst, sent[self.rng.randrange(len(sent))], node.name, 0.0))
        sent.append(msg)
        if len(sent) > self.keep:
            sent.pop(0)
        return out


class Forge(Behaviour):
    """Claims another sender (`as`, default a random other node)."""

    name = "forge"
    params = ("as",)

    def outgoing(self, node: Node, dst: str, msg: Message) -> Outgoing:
        """Send under a name that is not ours."""
        claimed = self.params.get("as") or node.peers[self.rng.randrange(len(node.peers))]
        return [(dst, msg, claimed, 0.0)]


class Mutating(Behaviour):
    """Sends the protocol's lying version of each message (see `Protocol.mutate`, read through the mechanism's record)."""

    def lie(self, node: Node, dst: str, msg: Message) -> Message | tuple[Message, ...] | None:
        """The protocol's lying version of `msg` for `dst` (None: the truth)."""
        return self.mechanism.mutate(self.name, msg, dst, self.rng, node)

    def outgoing(self, node: Node, dst: str, msg: Message) -> Outgoing:
        """Ask the protocol how to lie to `dst`."""
        lie = self.lie(node, dst, msg)
        if isinstance(lie, tuple):
            return [(dst, one, node.name, 0.0) for one in lie]
        return [(dst, msg if lie is None else lie, node.name, 0.0)]


class Equivocate(Mutating):
    """Tells different peers conflicting things."""

    name = "equivocate"


class Corrupt(Mutating):
    """Puts random values in message fields."""

    name = "corrupt"


class DoubleVote(Mutating):
    """Votes more than once (for different candidates or values)."""

    name = "double_vote"


class Censor(Mutating):
    """As leader, never orders one client's requests (`client`, default client0); orders the rest."""

    name = "censor"
    params = ("client",)

    def lie(self, node: Node, dst: str, msg: Message) -> Message | tuple[Message, ...] | None:
        """The protocol's version of `msg` without the chosen client's requests."""
        client = str(self.params.get("client", "client0"))
        return self.mechanism.mutate(self.name, msg, dst, self.rng, node, client=client)  # type: ignore[call-arg]


class Fork(Mutating):
    """As leader, gets its block certified, then tells one replica the truth and the rest a block `depth` certificates back (default 3)."""

    name = "fork"
    params = ("depth",)

    def lie(self, node: Node, dst: str, msg: Message) -> Message | tuple[Message, ...] | None:
        """The protocol's forking version of `msg`, `depth` certificates back."""
        depth = int(self.params.get("depth", 3))
        return self.mechanism.mutate(self.name, msg, dst, self.rng, node, depth=depth)  # type: ignore[call-arg]


BEHAVIOURS: MappingProxyType[str, type[Behaviour]] = MappingProxyType(
    {cls.name: cls for cls in (Silent, Omit, Delay, Replay, Forge, Equivocate, Corrupt, DoubleVote, Censor, Fork)}
)


def make_behaviour(spec: FaultSpec, mechanism: Mechanism, rng: random.Random) -> Behaviour:
    """Build the behaviour a byzantine fault entry names."""
    return BEHAVIOURS[spec.behaviour or ""](spec, mechanism, rng)


def describe(name: str) -> str:
    """One line on what a behaviour does (for `consim list`)."""
    return (BEHAVIOURS[name].__doc__ or "").strip().splitlines()[0]
