"""A hand-driven Context for protocol unit tests: no event loop, everything observable."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from sim.protocols.base import Message, Protocol, ProtocolConfig


class ManualContext:
    """Stands in for a node: collects what the protocol sends, sets, decides and records."""

    def __init__(self, name: str, nodes: list[str], seed: int = 0, weights: dict[str, float] | None = None, shared: Any = None) -> None:
        self.name = name
        self.shared = shared
        self.colluders: frozenset[str] = frozenset()
        self.nodes = list(nodes)
        self.peers = [n for n in nodes if n != name]
        self.weights = weights or {n: 1.0 for n in nodes}
        self.rng = random.Random(seed)
        self.storage: dict[str, Any] = {}
        self.now = 0.0
        self.sent: list[tuple[str, Message]] = []
        self.timers: dict[str, float] = {}
        self.decided: list[tuple[int | str, str, dict[str, Any]]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.counters: dict[str, int] = {}
        self.writes = 0

    def send(self, dst: str, msg: Message) -> None:
        """Collect a sent message."""
        self.sent.append((dst, msg))

    def broadcast(self, msg: Message) -> None:
        """Collect one copy per peer."""
        for peer in self.peers:
            self.send(peer, msg)

    def multicast(self, dsts: Sequence[str], msg: Message) -> None:
        """Collect one copy per destination, in order."""
        for dst in dsts:
            self.send(dst, msg)

    def set_timer(self, name: str, delay: float) -> None:
        """Remember when the timer would fire."""
        self.timers[name] = self.now + delay

    def cancel_timer(self, name: str) -> None:
        """Forget a timer."""
        self.timers.pop(name, None)

    def decide(self, slot: int | str, value: str, **fields: Any) -> None:
        """Collect a decision."""
        self.decided.append((slot, value, fields))

    def persist(self) -> None:
        """Count a write to stable storage (storage itself is the `storage` dict)."""
        self.writes += 1

    def record(self, kind: str, **fields: Any) -> None:
        """Collect an event."""
        self.events.append((kind, fields))

    def count(self, counter: str, amount: int = 1) -> None:
        """Bump a counter."""
        self.counters[counter] = self.counters.get(counter, 0) + amount

    def take(self, kind: type[Message] | None = None) -> list[tuple[str, Message]]:
        """Return and clear the sent messages (only those of `kind`, if given)."""
        if kind is None:
            out, self.sent = self.sent, []
            return out
        out = [(d, m) for d, m in self.sent if isinstance(m, kind)]
        self.sent = [(d, m) for d, m in self.sent if not isinstance(m, kind)]
        return out


def make_node(
    protocol_cls: type[Protocol], name: str, nodes: list[str], start: bool = True, **config: Any
) -> tuple[Protocol, ManualContext]:
    """A protocol instance on a ManualContext, with `config` validated by its Config model."""
    ctx = ManualContext(name, nodes)
    cfg: ProtocolConfig = protocol_cls.Config.model_validate(config)
    node = protocol_cls(ctx, cfg)  # type: ignore[arg-type]
    if start:
        node.on_start()
    return node, ctx
