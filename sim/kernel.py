"""The simulation kernel: a SimPy environment, seeded random streams, the recorder, and the build."""

from __future__ import annotations

import heapq
import random
import zlib
from collections.abc import Callable

import numpy as np
import simpy

from sim.faults import FaultInjector
from sim.network import Delivery, Network
from sim.node import ClientEndpoint, Node
from sim.protocols.base import Protocol, ProtocolConfig, get_protocol
from sim.records import PAIR_COUNT_LIMIT, Recorder
from sim.scenario import Scenario
from sim.workload import Workload, workload_kinds


class Environment(simpy.Environment):
    """SimPy's environment, with a lean loop for running up to a time.

    `advance` does what `run(until=t)` does, minus a method call and an exception handler per
    event: on this hot path that is a measurable share of the kernel's cost. Processes, events
    and callbacks are SimPy's own.
    """

    def advance(self, until: float) -> None:
        """Process every event scheduled strictly before `until`, then set the clock to it."""
        queue = self._queue
        pop = heapq.heappop
        while queue and queue[0][0] < until:
            self._now, _, _, event = pop(queue)
            if event.__class__ is Delivery:
                # Most events are message deliveries: one known callback that cannot fail.
                event.callbacks = None
                event.arrive()
                continue
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                # Same as simpy.Environment.step: a failed, undefused event crashes the run.
                exc = type(event._value)(*event._value.args)
                exc.__cause__ = event._value
                raise exc
        self._now = until


class Simulation:
    """One run of one scenario: builds nodes, network, clients, workload and faults, then runs.

    Every component draws from its own stream, spawned from `SeedSequence(seed)` with a key
    derived from the component's name, so adding a fault or a node never shifts another
    component's draws.
    """

    def __init__(
        self,
        scenario: Scenario,
        trace: bool = False,
        protocol_cls: type[Protocol] | None = None,
        *,
        env: Environment | None = None,
        fabric: Network | None = None,
        prefix: str = "",
        node_cls: Callable[..., Node] = Node,
    ) -> None:
        """Build the run; with `fabric`, one plane of a fleet (sim/planes): its env and network are shared.

        Args:
            scenario: a validated one-mechanism scenario.
            trace: keep the full message journal.
            protocol_cls: run this class instead of the registered mechanism.
            env: the environment to build in (a fleet's planes share one).
            fabric: the fleet's network: this plane sends through a view of it with its own counts.
            prefix: prepended to every random stream's name, so each plane draws its own numbers.
            node_cls: builds each node from Node's arguments (a fleet's nodes share their server's CPU).

        """
        self.scenario = scenario
        self.prefix = prefix
        self.env = env if env is not None else Environment()
        self.recorder = Recorder(trace, pairs=scenario.n <= PAIR_COUNT_LIMIT)
        self.protocol_cls = protocol_cls or get_protocol(scenario.mechanism or "")
        self.config: ProtocolConfig = self.protocol_cls.Config.model_validate(scenario.protocol)
        specs = scenario.node_specs
        self.node_names = [s.name for s in specs]
        weights = {s.name: s.weight for s in specs}
        self.shared = self.protocol_cls.prepare(scenario, self.config, self.stream("protocol"))
        if fabric is None:
            self.network = Network(self.env, scenario.network, self.node_names, self.stream("network"), self.recorder)
        else:
            from sim.planes.network import PlaneNetwork  # late: planes build on this module

            self.network = PlaneNetwork(fabric, self.recorder)  # type: ignore[arg-type]  # a FabricNetwork
        self.nodes: dict[str, Node] = {}
        for name in self.node_names:
            node = node_cls(self, name, self.py_rng(f"node:{name}"), self.protocol_cls, self.config, self.node_names, weights)
            self.nodes[name] = node
            self.network.endpoints[name] = node
        workload_spec = scenario.workload.model_dump() if scenario.workload else {"kind": "none"}
        wl_cls = workload_kinds(self.protocol_cls)[workload_spec["kind"]]
        self.workload: Workload = wl_cls(self, wl_cls.Config.model_validate(workload_spec))
        client_cls = getattr(self.workload, "client_class", None) or self.protocol_cls.client_class()
        self.clients: list[ClientEndpoint] = []
        for i in range(self.workload.config.clients):
            name = f"client{i}"
            client = ClientEndpoint(self, name, self.py_rng(f"client:{name}"), client_cls)
            self.clients.append(client)
            self.network.endpoints[name] = client
        # A fleet's planes share one fault plan, run by the fleet (sim/planes/kernel.py).
        self.faults = FaultInjector(self) if fabric is None else None

    def seed_sequence(self, name: str) -> np.random.SeedSequence:
        """The seed sequence of the component called `name`."""
        return np.random.SeedSequence(self.scenario.seed, spawn_key=(zlib.crc32((self.prefix + name).encode()),))

    def stream(self, name: str) -> np.random.Generator:
        """A numpy generator for batched draws, private to one component."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(name)))

    def py_rng(self, name: str) -> random.Random:
        """A `random.Random` for cheap scalar draws, private to one component."""
        return random.Random(int(self.seed_sequence(name).generate_state(2, np.uint64)[0]))

    def run(self, progress: Callable[[float], None] | None = None, steps: int = 100) -> None:
        """Start everything at time 0, run until the scenario's duration, then call every live node's `on_stop`.

        Args:
            progress: called with the simulated time reached (ms) after each step, if given.
            steps: how many chunks to run in when reporting progress.

        """
        for node in self.nodes.values():
            node.start()
        if self.faults is not None:
            self.faults.start()
        self.workload.attach(self.clients)
        duration = self.scenario.duration
        if progress is None:
            self.env.advance(duration)
        else:
            for i in range(1, steps + 1):
                self.env.advance(duration * i / steps)
                progress(self.env.now)
        for node in self.nodes.values():
            node.stop()
