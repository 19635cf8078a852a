"""The `updates` workload of the gossip mechanism: writes to keys at chosen nodes.

A write reaches its node as a `ClientRequest` from a client endpoint (so it costs one message
and the network may delay or lose it; the client retries the same node until it is applied).
This keeps the kernel untouched: a workload never calls into a node directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, model_validator

from sim.exact_types import ExactScalars
from sim.protocols.base import ClientReply, ClientRequest, Message
from sim.scenario import Ms, PerSecond
from sim.workload import Client, Workload, WorkloadConfig

if TYPE_CHECKING:
    from collections.abc import Generator

    from sim.kernel import Simulation
    from sim.node import ClientEndpoint
    from sim.scenario import Scenario

RESERVED = "=;@"
"""Characters a key or value may not hold (they delimit the recorded final state)."""


class ScriptedUpdate(ExactScalars):
    """One scripted write; without `value` the write's id is stored (unique, so traceable)."""

    model_config = ConfigDict(extra="forbid")
    at: Ms
    node: str
    key: str = "k0"
    value: str | None = None


class UpdatesConfig(WorkloadConfig):
    """Poisson writes (`rate` over `keys` keys at `nodes`, at most `count`) and/or scripted `updates`."""

    kind: Literal["updates"] = "updates"
    rate: PerSecond | None = None
    keys: Annotated[int, Field(ge=1)] = 1
    count: Annotated[int, Field(ge=1)] | None = None
    nodes: list[str] | None = None
    updates: list[ScriptedUpdate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> UpdatesConfig:
        if not self.rate and not self.updates:
            raise ValueError("an updates workload needs a 'rate' or a list of 'updates'")
        for u in self.updates:
            for text in (u.key, u.value or ""):
                if any(c in text for c in RESERVED) or not u.key:
                    raise ValueError(f"keys must be non-empty and keys and values may not contain {RESERVED!r} (got {text!r})")
        return self


class UpdateClient(Client):
    """Sends each write to its node and retries that same node until it answers."""

    def __init__(self, ctx: ClientEndpoint, sim: Simulation) -> None:
        super().__init__(ctx, sim)
        self.pending: dict[str, tuple[str, str]] = {}

    def submit(self, cmd_id: str, op: str) -> None:
        """A write at a random node (for generic callers; the workload uses `write`)."""
        self.write(self.nodes[self.ctx.rng.randrange(len(self.nodes))], cmd_id, op)

    def write(self, node: str, cmd_id: str, op: str) -> None:
        """Send `op` (`key=value`) to `node`."""
        self.pending[cmd_id] = (node, op)
        self._send(cmd_id)

    def _send(self, cmd_id: str) -> None:
        node, op = self.pending[cmd_id]
        self.ctx.send(node, ClientRequest(self.ctx.name, cmd_id, op))
        self.arm(cmd_id)

    def on_message(self, src: str, msg: Message) -> None:
        """The node applied the write."""
        if isinstance(msg, ClientReply) and msg.ok and msg.cmd_id in self.pending:
            del self.pending[msg.cmd_id]
            self.finish(msg.cmd_id)

    def on_timer(self, name: str) -> None:
        """No answer: the write belongs to that node, so ask it again."""
        if name in self.pending:
            self.retrying(name)
            self._send(name)


class UpdatesWorkload(Workload):
    """Issues scripted writes at their times and Poisson writes at random nodes and keys."""

    kind = "updates"
    Config = UpdatesConfig
    client_class = UpdateClient
    config: UpdatesConfig

    def _write(self, i: int, node: str, key: str, value: str) -> None:
        client = self.clients[i % len(self.clients)]
        cmd_id = f"{client.name}:{self._seq}"
        self._seq += 1
        self.sim.recorder.request_submitted(cmd_id, client.name, self.sim.env.now)
        assert isinstance(client.client, UpdateClient)
        client.client.write(node, cmd_id, f"{key}={value}")

    def run(self) -> Generator[Any, Any, None]:
        """Merge the scripted writes with the Poisson arrivals, in time order."""
        env, cfg = self.sim.env, self.config
        script = sorted(((u.at, i) for i, u in enumerate(cfg.updates)), key=lambda x: x)
        targets = cfg.nodes or self.sim.node_names
        next_poisson = cfg.start + self.rng.expovariate(cfg.rate / 1000.0) if cfg.rate else float("inf")
        issued = 0
        s = 0
        while True:
            next_script = script[s][0] if s < len(script) else float("inf")
            poisson_ok = next_poisson < self.end() and (cfg.count is None or issued < cfg.count)
            when = min(next_script, next_poisson if poisson_ok else float("inf"))
            if when == float("inf") or when >= self.sim.scenario.duration:
                return
            if when > env.now:
                yield env.timeout(when - env.now)
            if next_script <= when:
                u = cfg.updates[script[s][1]]
                self._write(s + issued, u.node, u.key, u.value or "")
                s += 1
            else:
                node = targets[self.rng.randrange(len(targets))]
                self._write(s + issued, node, f"k{self.rng.randrange(cfg.keys)}", "")
                issued += 1
                next_poisson += self.rng.expovariate(cfg.rate / 1000.0) if cfg.rate else float("inf")


def written_values(scenario: Scenario) -> set[str]:
    """Values the scenario's script writes explicitly (Poisson writes store their own ids)."""
    if scenario.workload is None or scenario.workload.kind != "updates":
        return set()
    data = scenario.workload.model_dump()
    return {u["value"] for u in data.get("updates", []) if u.get("value")}


def check_updates_workload(scenario: Scenario) -> list[tuple[str, str]]:
    """Node names in the updates workload must exist."""
    if scenario.workload is None or scenario.workload.kind != "updates":
        return []
    try:
        cfg = UpdatesConfig.model_validate(scenario.workload.model_dump())
    except ValidationError:
        return []  # already reported by the workload's own validation
    known = set(scenario.node_names)
    for i, u in enumerate(cfg.updates):
        if u.node not in known:
            return [(f"workload.updates[{i}].node", f"no node named {u.node!r}")]
    for i, name in enumerate(cfg.nodes or []):
        if name not in known:
            return [(f"workload.nodes[{i}]", f"no node named {name!r}")]
    return []
