"""A fleet: several planes built in one environment over one network, with one fault plan."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sim.byzantine import make_behaviour
from sim.faults import FaultInjector
from sim.kernel import Environment, Simulation, advance_with_progress
from sim.network import settle
from sim.node import Node
from sim.planes.network import FabricNetwork
from sim.records import Recorder

if TYPE_CHECKING:
    from sim.byzantine import Behaviour
    from sim.protocols.base import Protocol
    from sim.scenario import FaultSpec, Scenario


class HostCpu:
    """One server's CPU: the time until which it is busy signing and verifying, for every plane on it."""

    __slots__ = ("busy_until",)

    def __init__(self) -> None:
        self.busy_until = 0.0


class PlaneNode(Node):
    """A plane's instance on a server: its crypto work queues on the server's one CPU (`crypto:` settings).

    Each instance still counts its own `cpu_ms`; only the queue is shared, so one plane's
    signatures delay another plane's messages on the same server.
    """

    def __init__(self, *args: Any, cpu: HostCpu) -> None:  # noqa: D107 - Node's arguments, and the server's CPU
        self._host_cpu = cpu
        super().__init__(*args)

    @property  # type: ignore[override]
    def busy_until(self) -> float:
        """When the server's CPU is free."""
        return self._host_cpu.busy_until

    @busy_until.setter
    def busy_until(self, value: float) -> None:
        self._host_cpu.busy_until = value


class Host:
    """One node of the fleet: the protocol instances of every plane it takes part in, up or down together."""

    def __init__(self, name: str, members: list[tuple[str, Simulation, Node]]) -> None:
        self.name = name
        self.members = members
        self.up = True
        self.incarnation = 0

    @property
    def behaviours(self) -> list[Behaviour]:
        """The byzantine behaviours of every plane on this node."""
        return [b for _, _, node in self.members for b in node.behaviours]

    @property
    def colluders(self) -> frozenset[str]:
        """The faulty nodes this one knows of (the same in every plane)."""
        return self.members[0][2].colluders if self.members else frozenset()

    @colluders.setter
    def colluders(self, value: frozenset[str]) -> None:
        for _, _, node in self.members:
            node.colluders = value

    def crash(self) -> None:
        """The machine stops: every plane's instance on it crashes."""
        self.up = False
        self.incarnation += 1
        for _, _, node in self.members:
            node.crash()

    def recover(self) -> None:
        """The machine restarts: every plane's instance recovers from its own storage."""
        self.up = True
        for _, _, node in self.members:
            node.recover()


class FanOut:
    """The fault injector's recorder: a network-wide event (a partition, a heal) goes into every plane's events."""

    def __init__(self, recorders: Iterable[Recorder]) -> None:
        self.recorders = list(recorders)

    def event(self, time_ms: float, node: str, kind: str, fields: dict[str, Any]) -> None:
        """Record the event in every plane."""
        for recorder in self.recorders:
            recorder.event(time_ms, node, kind, fields)


def plane_leaders(sim: Simulation) -> list[str]:
    """The nodes of one plane that lead in the highest epoch of those that believe they lead."""
    nodes = sim.nodes
    claimants = [name for name, node in nodes.items() if node.is_leader()]
    if not claimants:
        return []
    top = max(nodes[name].epoch() for name in claimants)
    return [name for name in claimants if nodes[name].epoch() == top]


class FleetFaultInjector(FaultInjector):
    """The fault plan over hosts: crashes take down every plane on a node; `leader` is a plane's leader.

    `leader` means the leader of the entry's `plane`, or without one the leader of the first
    plane (in scenario order) that has one. Crash and recover events are recorded in each plane
    the node takes part in (with `was_leader` for that plane); network events in every plane.
    """

    def __init__(self, fleet: Fleet) -> None:
        super().__init__(fleet)  # type: ignore[arg-type]  # a Fleet offers what the injector reads
        self.fleet = fleet
        self._plane: str | None = None

    def _planes(self) -> list[tuple[str, Simulation]]:
        planes = self.fleet.planes
        return [(self._plane, planes[self._plane])] if self._plane is not None else list(planes.items())

    def leaders(self) -> list[str]:
        """The leaders of the plane in question (see the class docstring)."""
        for _, sim in self._planes():
            found = plane_leaders(sim)
            if found:
                return found
        return []

    def _apply(self, spec: FaultSpec) -> Callable[[], None] | None:
        self._plane = spec.plane
        try:
            return super()._apply(spec)
        finally:
            self._plane = None

    def _leader_reach(self) -> tuple[str | None, bool]:
        # Isolation is judged per plane in `_separate`; the base class's single-plane view is off.
        return None, False

    def _plane_reach(self) -> dict[str, tuple[str, bool]]:
        """For each plane with a leader: the leader, and whether it reaches a majority of the plane's nodes."""
        net = self.fleet.fabric
        out: dict[str, tuple[str, bool]] = {}
        for name, sim in self.fleet.planes.items():
            leader = plane_leaders(sim)[:1]
            if not leader:
                continue
            head = leader[0]
            reach = sum(1 for other in sim.nodes if other == head or not (net.blocked(head, other) or net.blocked(other, head)))
            out[name] = (head, reach > len(sim.nodes) // 2)
        return out

    def _separate(self, spec: FaultSpec) -> Callable[[], None]:
        before = self._plane_reach()
        undo = super()._separate(spec)
        after = self._plane_reach()
        for name, (leader, had_majority) in before.items():
            if had_majority and not after.get(name, (leader, False))[1]:
                # The failover clock starts here, as it does at a leader's crash.
                self.fleet.planes[name].recorder.event(self.env.now, leader, "leader_isolated", {"was_leader": True})
        return undo

    def crash(self, node: Any) -> None:
        """Crash a host: every plane on it, each noting whether the node led that plane."""
        host: Host = node
        was = {plane: host.name in plane_leaders(sim) for plane, sim, _ in host.members}
        host.crash()
        for plane, sim, _ in host.members:
            sim.recorder.event(self.env.now, host.name, "crash", {"was_leader": was[plane]})

    def recover(self, node: Any) -> None:
        """Recover a host and every plane on it."""
        host: Host = node
        if not host.up:
            host.recover()
            for _, sim, _ in host.members:
                sim.recorder.event(self.env.now, host.name, "recover", {})

    def _install_byzantine(self, spec: FaultSpec) -> None:
        until = spec.until if spec.until is not None else float("inf")
        for name in self._resolve(spec.byzantine or [], "crash"):
            for plane, sim, node in self.fleet.nodes[name].members:
                if spec.plane is not None and plane != spec.plane:
                    continue
                node.behaviours.append(make_behaviour(spec, sim.mechanism, sim.py_rng(f"byzantine:{name}")))
                sim.recorder.event(0.0, name, "byzantine", {"behaviour": spec.behaviour, "from_ms": spec.from_ or 0.0, "until_ms": until})


class Fleet:
    """One run of a scenario with planes: one environment, network and fault plan; a Simulation per plane.

    Args:
        scenario: a validated scenario with `planes` (see sim/planes/validate.py).
        trace: keep each plane's full message journal.
        protocols: a Protocol class to run instead of the registered one, by plane name (tests).

    """

    def __init__(self, scenario: Scenario, trace: bool = False, protocols: dict[str, type[Protocol]] | None = None) -> None:
        from sim.planes.links import LinkDriver  # late: links read the planes built here

        self.scenario = scenario
        self.prefix = ""
        self.env = Environment()
        self.node_names = scenario.node_names
        # The fabric's own counters stay empty: every message is sent (and counted) through a plane's view.
        self.fabric = FabricNetwork(self.env, scenario.network, self.node_names, self.stream("network"), Recorder(False, pairs=False))
        self.network = self.fabric
        self.planes: dict[str, Simulation] = {}
        cpus = {host: HostCpu() for host in self.node_names}

        def node(*args: Any) -> Node:
            return PlaneNode(*args, cpu=cpus[args[1]])

        for name, plane in scenario.plane_scenarios.items():
            plane = plane.model_copy(update={"seed": scenario.seed, "duration": scenario.duration})
            cls = (protocols or {}).get(name)
            prefix = f"plane:{name}:"
            self.planes[name] = Simulation(plane, trace, cls, env=self.env, fabric=self.fabric, prefix=prefix, node_cls=node)
        self.nodes: dict[str, Host] = {
            host: Host(host, [(name, sim, sim.nodes[host]) for name, sim in self.planes.items() if host in sim.nodes])
            for host in self.node_names
        }
        self.recorder = FanOut(sim.recorder for sim in self.planes.values())
        self.links = LinkDriver(self)
        self.faults = FleetFaultInjector(self)

    # The fleet-wide components (the network, the faults) draw from streams named as a single
    # run's are (`self.prefix` is empty), so the same code spawns them.
    seed_sequence = Simulation.seed_sequence
    stream = Simulation.stream
    py_rng = Simulation.py_rng

    def run(self, progress: Callable[[float], None] | None = None, steps: int = 100) -> None:
        """Start every plane's nodes, the faults and the workloads at time 0; run to the end; stop the nodes."""
        for sim in self.planes.values():
            for node in sim.nodes.values():
                node.start()
        self.faults.start()
        for sim in self.planes.values():
            sim.workload.attach(sim.clients)
        advance_with_progress(self.env, self.scenario.duration, steps, progress)
        for sim in self.planes.values():
            for node in sim.nodes.values():
                node.stop()
        settle(self.env._queue)  # once: the planes share the queue
