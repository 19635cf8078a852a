"""A node's timers: the protocol hears each fired timer; a Node subclass that changes `on_timer` is still called."""

from __future__ import annotations

from typing import Any

from sim import scenario_from_dict
from sim.kernel import Simulation
from sim.node import Endpoint, Node


def simulation(node_cls: Any = Node) -> Simulation:
    """Three gossip nodes in 50 ms rounds."""
    scenario = scenario_from_dict(
        {"name": "timers", "mechanism": "gossip", "nodes": 3, "seed": 1, "duration": "200ms", "protocol": {"interval": "50ms"}}
    )
    return Simulation(scenario, node_cls=node_cls)


class Counting(Node):
    """Counts the timers it fires before handing them on as a Node does."""

    fired: list[tuple[float, str, str]]

    def on_timer(self, name: str) -> None:
        """Log, then dispatch."""
        self.sim.fired.append((self.now, self.name, name))  # type: ignore[attr-defined]
        super().on_timer(name)


def test_a_subclass_overriding_on_timer_gets_every_timer_and_the_protocol_still_runs() -> None:
    """Node._fire calls the protocol directly; a subclass with its own on_timer falls back to the path through it."""
    assert Counting._fire is Endpoint._fire and Node._fire is not Endpoint._fire
    sim = simulation(Counting)
    sim.fired = []  # type: ignore[attr-defined]
    sim.run()
    assert sim.fired == [(at, node, "round") for at in (50.0, 100.0, 150.0) for node in ("n0", "n1", "n2")]  # type: ignore[attr-defined]
    assert sum(row[0] for key, row in sim.recorder.counts.items() if key[0] == "digest") == 9  # one per node and round


def test_a_stale_or_cancelled_timer_does_not_reach_the_protocol() -> None:
    """A replaced, cancelled or pre-crash timer is dropped before the protocol sees it."""
    sim = simulation()
    heard: list[str] = []
    for node in sim.nodes.values():
        node.start()
    n0 = sim.nodes["n0"]
    assert n0.protocol is not None
    n0.protocol.on_timer = heard.append  # type: ignore[method-assign]
    n0.set_timer("a", 1.0)
    n0.set_timer("a", 2.0)  # replaces the first
    n0.set_timer("b", 1.0)
    n0.cancel_timer("b")
    n0.set_timer("c", 3.0)
    sim.env.advance(2.5)
    assert heard == ["a"]
    n0.crash()
    n0.recover()
    assert n0.protocol is not None
    n0.protocol.on_timer = heard.append  # type: ignore[method-assign]  # the restarted protocol would hear "c"
    sim.env.advance(10.0)
    assert heard == ["a"]  # "c" was set before the crash; the new protocol has its own timers


def test_a_timer_set_before_a_crash_is_dropped_even_when_the_name_is_set_again_after_recovery() -> None:
    """The pre-crash "c" (due at 3 ms) is dropped; the post-recovery "c" (due at 5 ms) fires once, and only once."""
    sim = simulation()
    for node in sim.nodes.values():
        node.start()
    n0 = sim.nodes["n0"]
    n0.set_timer("c", 3.0)
    n0.crash()
    n0.recover()
    assert n0.protocol is not None
    heard: list[tuple[float, str]] = []
    n0.protocol.on_timer = lambda name: heard.append((sim.env.now, name))  # type: ignore[method-assign]
    n0.set_timer("c", 5.0)
    sim.env.advance(20.0)
    assert heard == [(5.0, "c")]
