"""`Context.multicast(dsts, msg)` is `send(dst, msg)` to each of `dsts` in order: same counts, delay draws, events and trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from sim import run
from sim.network import Network
from sim.node import Node
from sim.protocols.base import Message, Protocol
from sim.scenario import Scenario
from sim.testing import ManualContext


@dataclass(frozen=True, slots=True)
class Fan(Message):
    """One round's message (the round makes each round's copies distinct from the last)."""

    round: int


class Fanout(Protocol):
    """Every 1 ms each node multicasts to a random subset of the nodes, in a random order; every third message is answered."""

    name = "fanout"
    byzantine_behaviours = ("silent", "omit", "delay", "replay", "forge")

    def on_start(self) -> None:
        """Start the rounds."""
        self.round = 0
        self.ctx.set_timer("tick", 1.0)

    def on_timer(self, name: str) -> None:
        """Multicast this round's message (writing to storage first on odd rounds, so the disk model holds some back)."""
        self.round += 1
        rng = self.ctx.rng
        dsts = [n for n in self.ctx.nodes if n != self.ctx.name and rng.random() < 0.7]
        rng.shuffle(dsts)
        if self.round % 2:
            self.ctx.persist()
        self.ctx.multicast(dsts, Fan(self.round))
        self.ctx.set_timer("tick", 1.0)

    def on_message(self, src: str, msg: Message) -> None:
        """Answer some, so one-by-one sends and multicasts of the same instant interleave."""
        if isinstance(msg, Fan) and msg.round % 3 == 0:
            self.ctx.send(src, Fan(-msg.round))


def scenario(network: dict[str, Any], **fields: Any) -> Scenario:
    """Six fanout nodes for 200 ms."""
    data: dict[str, Any] = {"name": "multicast", "mechanism": "fanout", "nodes": 6, "seed": 5, "duration": "200ms", "network": network}
    data["workload"] = None
    data.update(fields)
    return Scenario.model_validate(data)


def one_by_one(self: Node, dsts: list[str], msg: Message) -> None:
    """Multicast written as the Context defines it: one `send` per destination."""
    for dst in dsts:
        self.send(dst, msg)


LOGNORMAL = {"delay": {"dist": "lognormal", "median": "2ms", "sigma": 0.5}}
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], bool]] = {
    # name: (network, other scenario fields, whether the network's multicast path is taken)
    "plain": (LOGNORMAL, {}, True),
    "constant-ties-crash": ({"delay": "1ms"}, {"faults": [{"at": "50ms", "crash": "n3", "for": "60ms"}]}, True),
    "lossy-duplicating": ({"delay": {"dist": "exponential", "mean": "1ms"}, "loss": 0.1, "duplicate": 0.05}, {}, True),
    "partition": (LOGNORMAL, {"faults": [{"at": "40ms", "partition": [["n0", "n1"], ["n2", "n3", "n4", "n5"]], "until": "120ms"}]}, True),
    "link-override-fifo": (
        {**LOGNORMAL, "links": [{"from": "n1", "to": "*", "delay": "5ms", "ordered": True, "bandwidth": "1MB/s"}]},
        {},
        True,
    ),
    "cpu": (LOGNORMAL, {"crypto": {"sign": "0.05ms", "verify": "0.1ms"}}, False),
    "disk": (LOGNORMAL, {"storage": {"write": "0.3ms"}}, True),  # even rounds find the disk idle and take the fast path
    "byzantine": (LOGNORMAL, {"faults": [{"byzantine": ["n2"], "behaviour": "omit", "params": {"fraction": 0.5}}]}, True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_multicast_is_send_to_each_destination_in_order(monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """Same trace (every message, its times and fate, in delivery order), same counts, same journal hash as one `send` each."""
    network, fields, fast_path = CASES[case]
    calls = []
    original = Network.multicast

    def spied(self: Network, src: str, dsts: list[str], msg: Message) -> None:
        calls.append(src)
        original(self, src, dsts, msg)

    with monkeypatch.context() as patch:
        patch.setattr(Network, "multicast", spied)
        fast = run(scenario(network, **fields), trace=True, protocol_cls=Fanout)
    with monkeypatch.context() as patch:
        patch.setattr(Node, "multicast", one_by_one)
        plain = run(scenario(network, **fields), trace=True, protocol_cls=Fanout)
    assert fast.trace is not None and plain.trace is not None
    assert len(fast.trace) > 1000
    assert fast.trace.equals(plain.trace)
    assert fast.tables.messages.equals(plain.tables.messages)
    assert fast.summary["journal_sha256"] == plain.summary["journal_sha256"]
    # The node hands a multicast to the network's path only when nothing per copy (CPU, behaviours, a busy disk) applies.
    assert bool(calls) == fast_path


def test_a_byzantine_node_or_a_busy_disk_sends_each_copy_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Copies that may differ (a byzantine node's) or wait (behind a disk write) never take the network's multicast path."""
    seen: list[tuple[str, int]] = []
    original = Network.multicast

    def spied(self: Network, src: str, dsts: list[str], msg: Message) -> None:
        assert isinstance(msg, Fan)
        seen.append((src, msg.round))
        original(self, src, dsts, msg)

    monkeypatch.setattr(Network, "multicast", spied)
    network, fields, _ = CASES["byzantine"]
    run(scenario(network, **fields), protocol_cls=Fanout)
    assert {src for src, _ in seen} == {"n0", "n1", "n3", "n4", "n5"}  # every node but the byzantine n2
    seen.clear()
    network, fields, _ = CASES["disk"]
    run(scenario(network, **fields), protocol_cls=Fanout)
    # Odd rounds write first, so their multicasts wait for the disk; even rounds find it idle (0.3 ms < 1 ms a round).
    assert seen and all(round_ % 2 == 0 for _, round_ in seen)
    assert len({round_ for _, round_ in seen}) > 90


def test_manual_context_collects_one_copy_per_destination_in_order() -> None:
    """The hand-driven Context records a multicast as the sends it stands for."""
    ctx = ManualContext("n0", ["n0", "n1", "n2", "n3"])
    ctx.multicast(["n3", "n1"], Fan(1))
    ctx.multicast([], Fan(2))
    assert ctx.take() == [("n3", Fan(1)), ("n1", Fan(1))]
