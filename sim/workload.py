"""Clients and workloads: open-loop Poisson, closed-loop, and scripted commands.

Clients are endpoints on the network. Each command has a unique id (`client:seq`) so that a
retried command is never applied twice by a correct replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from sim.protocols.base import ClientReply, ClientRequest, Message
from sim.scenario import Ms, PerSecond

if TYPE_CHECKING:
    from collections.abc import Generator

    from sim.kernel import Simulation
    from sim.node import ClientEndpoint


class Client:
    """Client logic: turns submitted commands into messages and notices when they are done."""

    def __init__(self, ctx: ClientEndpoint, sim: Simulation) -> None:
        self.ctx = ctx
        self.nodes = list(sim.node_names)
        self.timeout = sim.workload.config.timeout

    def submit(self, cmd_id: str, op: str) -> None:
        """Issue a new command."""
        raise NotImplementedError

    def on_message(self, src: str, msg: Message) -> None:
        """A reply from a node."""

    def on_timer(self, name: str) -> None:
        """A retry timer fired."""


class LeaderClient(Client):
    """Sends to the node it believes leads, follows redirects, retries elsewhere on timeout.

    Each command remembers where it was last sent. A timeout moves that command on to the next
    node, and moves the shared belief only if the silent node was the believed leader: many
    commands time out together when a node crashes, and letting each of them advance one shared
    pointer would walk new commands onto other crashed nodes.
    """

    def __init__(self, ctx: ClientEndpoint, sim: Simulation) -> None:
        super().__init__(ctx, sim)
        self.leader = self.nodes[ctx.rng.randrange(len(self.nodes))]
        self.pending: dict[str, tuple[str, str]] = {}  # cmd_id -> (op, node it was last sent to)

    def submit(self, cmd_id: str, op: str) -> None:
        """Send the command to the believed leader and arm its retry timer."""
        self._send(cmd_id, op, self.leader)

    def _send(self, cmd_id: str, op: str, target: str) -> None:
        self.pending[cmd_id] = (op, target)
        self.ctx.send(target, ClientRequest(self.ctx.name, cmd_id, op))
        self.ctx.set_timer(cmd_id, self.timeout)

    def on_message(self, src: str, msg: Message) -> None:
        """Complete on success; on a redirect, go where the node points."""
        if not isinstance(msg, ClientReply) or msg.cmd_id not in self.pending:
            return
        if msg.ok:
            del self.pending[msg.cmd_id]
            self.ctx.cancel_timer(msg.cmd_id)
            self.leader = src
            self.ctx.complete(msg.cmd_id)
        elif msg.leader is not None and msg.leader != src:
            self.leader = msg.leader
            self._send(msg.cmd_id, self.pending[msg.cmd_id][0], msg.leader)

    def on_timer(self, name: str) -> None:
        """No answer in time: try the node after the one that stayed silent."""
        if name not in self.pending:
            return
        op, silent = self.pending[name]
        following = self.nodes[(self.nodes.index(silent) + 1) % len(self.nodes)]
        if silent == self.leader:
            self.leader = following
        self._send(name, op, following)


class WorkloadConfig(BaseModel):
    """Settings every workload shares."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    kind: str
    clients: Annotated[int, Field(ge=1)] = 1
    """Client endpoints issuing the commands (each closed-loop client keeps one outstanding)."""
    timeout: Annotated[Ms, Field(gt=0)] = Field(default="max(500ms, 4rtt)", validate_default=True)
    """A client's retry timeout (default: 500ms, or 4 rtt on a slower network)."""
    start: Ms = 0.0
    until: Ms | None = None


class Workload:
    """Drives the clients; a subclass is one `workload.kind`."""

    kind: ClassVar[str] = ""
    Config: ClassVar[type[WorkloadConfig]] = WorkloadConfig

    def __init__(self, sim: Simulation, config: WorkloadConfig) -> None:
        self.sim = sim
        self.config = config
        self.rng = sim.py_rng("workload")
        self.clients: list[ClientEndpoint] = []
        self._seq = 0

    def attach(self, clients: list[ClientEndpoint]) -> None:
        """Give the workload its clients and start it."""
        self.clients = clients
        self.sim.env.process(self.run())

    def issue(self, client: ClientEndpoint, op: str = "") -> str:
        """Submit one new command through `client`; returns its id."""
        cmd_id = f"{client.name}:{self._seq}"
        self._seq += 1
        self.sim.recorder.request_submitted(cmd_id, client.name, self.sim.env.now)
        client.client.submit(cmd_id, op or f"op{self._seq}")
        return cmd_id

    def end(self) -> float:
        """When no more commands are issued."""
        return self.config.until if self.config.until is not None else self.sim.scenario.duration

    def run(self) -> Generator[Any, Any, None]:
        """The SimPy process that issues commands."""
        yield from ()

    def on_complete(self, client: ClientEndpoint, cmd_id: str) -> None:
        """A command finished (closed loops use this to issue the next one)."""


class PoissonConfig(WorkloadConfig):
    """Open loop: commands arrive as a Poisson process, spread over the clients."""

    kind: Literal["poisson"] = "poisson"
    rate: Annotated[PerSecond, Field(gt=0)] = 100.0


class PoissonWorkload(Workload):
    """Open-loop Poisson arrivals at `rate`, round-robin over the clients."""

    kind = "poisson"
    Config = PoissonConfig

    def run(self) -> Generator[Any, Any, None]:
        """Issue commands with exponential gaps until `until`."""
        env, cfg = self.sim.env, self.config
        mean_gap = 1000.0 / cfg.rate
        yield env.timeout(cfg.start)
        i = 0
        while True:
            yield env.timeout(self.rng.expovariate(1.0 / mean_gap))
            if env.now >= self.end():
                return
            self.issue(self.clients[i % len(self.clients)])
            i += 1


class ClosedConfig(WorkloadConfig):
    """Closed loop: each client keeps one command outstanding, with a think time between."""

    kind: Literal["closed"] = "closed"
    think: Ms = 0.0


class ClosedWorkload(Workload):
    """Each client issues its next command `think` ms after the previous one completes."""

    kind = "closed"
    Config = ClosedConfig

    def run(self) -> Generator[Any, Any, None]:
        """Start every client's first command."""
        yield self.sim.env.timeout(self.config.start)
        for client in self.clients:
            self.issue(client)

    def on_complete(self, client: ClientEndpoint, cmd_id: str) -> None:
        """Think, then issue the next command if the run is not over."""
        delay = self.config.think
        event = self.sim.env.timeout(delay)
        event.callbacks.append(lambda _e: self.issue(client) if self.sim.env.now < self.end() else None)


class ScriptedCommand(BaseModel):
    """One scripted command."""

    model_config = ConfigDict(extra="forbid")
    at: Ms
    op: str = ""
    client: Annotated[int, Field(ge=0)] = 0


class ScriptConfig(WorkloadConfig):
    """Commands at given times."""

    kind: Literal["script"] = "script"
    commands: list[ScriptedCommand] = Field(default_factory=list)


class ScriptWorkload(Workload):
    """Issues each scripted command at its time."""

    kind = "script"
    Config = ScriptConfig

    def run(self) -> Generator[Any, Any, None]:
        """Walk the script in time order."""
        env = self.sim.env
        for cmd in sorted(self.config.commands, key=lambda c: c.at):
            if cmd.at > env.now:
                yield env.timeout(cmd.at - env.now)
            self.issue(self.clients[cmd.client % len(self.clients)], cmd.op)


class NoWorkload(Workload):
    """No client commands (e.g. a pure election experiment)."""

    kind = "none"


def workload_kinds(protocol_cls: Any = None) -> dict[str, type[Workload]]:
    """Workload kinds available to a mechanism: the shared ones plus the mechanism's own."""
    kinds: dict[str, type[Workload]] = {w.kind: w for w in (PoissonWorkload, ClosedWorkload, ScriptWorkload, NoWorkload)}
    if protocol_cls is not None and hasattr(protocol_cls, "workloads"):
        kinds.update(protocol_cls.workloads())
    return kinds
