"""The simulation kernel: the environment (sim/fastpath.py), seeded random streams, the recorder, and the build."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np

from sim.draws import seed_sequence
from sim.fastpath import Environment, TimerBatches
from sim.faults import FaultInjector
from sim.network import Network, settle
from sim.node import ClientEndpoint, Node
from sim.protocols.base import Protocol, ProtocolConfig
from sim.protocols.registry import get_mechanism, mechanism_of
from sim.records import PAIR_COUNT_LIMIT, Recorder
from sim.scenario import Scenario
from sim.workload import Workload, workload_kinds


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
        self.timers = TimerBatches(self.env)
        self.recorder = Recorder(trace, pairs=scenario.n <= PAIR_COUNT_LIMIT)
        self.mechanism = mechanism_of(protocol_cls) if protocol_cls is not None else get_mechanism(scenario.mechanism or "")
        self.protocol_cls = self.mechanism.protocol
        self.config: ProtocolConfig = self.mechanism.config.model_validate(scenario.protocol)
        specs = scenario.node_specs
        self.node_names = [s.name for s in specs]
        weights = {s.name: s.weight for s in specs}
        self.shared = self.mechanism.prepare(scenario, self.config, self.stream("protocol"))
        if fabric is None:
            self.network = Network(self.env, scenario.network, self.node_names, self.stream("network"), self.recorder)
        else:
            from sim.planes.network import PlaneNetwork  # late: planes build on this module

            self.network = PlaneNetwork(fabric, self.recorder)  # type: ignore[arg-type]  # a FabricNetwork
        self.nodes: dict[str, Node] = {}
        for name in self.node_names:
            # None: the node makes its `node:<name>` stream on first use (see Endpoint.rng).
            node = node_cls(self, name, None, self.protocol_cls, self.config, self.node_names, weights)
            self.nodes[name] = node
            self.network.endpoints[name] = node
        workload_spec = scenario.workload.model_dump() if scenario.workload else {"kind": "none"}
        wl_cls = workload_kinds(self.mechanism)[workload_spec["kind"]]
        self.workload: Workload = wl_cls(self, wl_cls.Config.model_validate(workload_spec))
        client_cls = getattr(self.workload, "client_class", None) or self.mechanism.client
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
        return seed_sequence(self.scenario.seed, self.prefix + name)

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
        advance_with_progress(self.env, self.scenario.duration, steps, progress)
        self.stop()

    def stop(self) -> None:
        """The run ends now: every live node's `on_stop`; what is still on the wire is never delivered and comes off the counts."""
        for node in self.nodes.values():
            node.stop()
        settle(self.env._queue)

    def release(self) -> None:
        """The run is over and its tables taken: free the nodes by reference counting, without the collector.

        Each node sits in reference cycles (its protocol's `ctx`, its bound timer callback, the
        pending events that call it), so freeing 100,000 of them took a collection that scanned
        every object they own (1 s at 100,000 gossip nodes). Breaking those cycles first lets them
        go as their last reference does; what still forms a cycle is left to the collector. The
        simulation cannot run after this.
        """
        self.env._queue.clear()  # pending deliveries and timers hold nodes and their callbacks
        self.timers.last = None
        self.network.release()
        for node in self.nodes.values():
            node.release()
        for client in self.clients:
            client.release()
        self.nodes.clear()
        self.clients.clear()


def advance_with_progress(env: Environment, duration: float, steps: int, progress: Callable[[float], None] | None) -> None:
    """Run `env` until `duration` (ms): in one go, or in `steps` equal chunks calling `progress(now)` after each."""
    if progress is None:
        env.advance(duration)
        return
    for i in range(1, steps + 1):
        env.advance(duration * i / steps)
        progress(env.now)
