"""`consim new mechanism NAME`: write a mechanism skeleton that runs before a line of it is changed."""

from __future__ import annotations

import re
from pathlib import Path

from sim.errors import ScenarioError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

MODULE = '''\
"""{title}: a consim mechanism, written by `consim new mechanism {name}` (make it yours).

As written it is fixed-sequencer replication: the first node orders client commands, and a
command is decided once a majority of the nodes stored it. It is safe while the sequencer lives
and stalls when it crashes; change the handlers below into your protocol.
The mechanism API it is written against is documented in consim's README ("The mechanism API").
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.protocols.base import API_VERSION, ClientReply, ClientRequest, Message, Protocol, ProtocolConfig, register
from sim.protocols.quorum import majority

if API_VERSION.split(".")[0] != "1":
    raise ImportError(f"{name} was written for consim's mechanism API 1.x; this consim has {{API_VERSION}}")


@dataclass(frozen=True, slots=True)
class Store(Message):
    """Sequencer to every node: keep `cmd_id` at `slot`."""

    slot: int
    cmd_id: str

    @property
    def size_bytes(self) -> int:
        """Header, slot number and command id."""
        return self.header_bytes + 8 + len(self.cmd_id)


@dataclass(frozen=True, slots=True)
class Stored(Message):
    """A node to the sequencer: `slot` is kept."""

    slot: int


@dataclass(frozen=True, slots=True)
class Commit(Message):
    """Sequencer to every node: `slot` holds `cmd_id` for good."""

    slot: int
    cmd_id: str


class {cls}Config(ProtocolConfig):
    """The `protocol:` settings of {name} (none yet; add pydantic fields here)."""


@register("{name}")
class {cls}(Protocol):
    """Fixed-sequencer replication: the first node orders commands, a majority stores them."""

    Config = {cls}Config
    tolerates = ""  # say e.g. "crash f<n/2" once it is true: `consim explore` then draws faults within it

    def on_start(self) -> None:
        """Volatile state, rebuilt after a crash; what must survive one lives in `ctx.storage`."""
        self.ctx.storage.setdefault("next_slot", 0)
        self.stored: dict[int, set[str]] = {{}}
        self.waiting: dict[int, ClientRequest] = {{}}

    def is_leader(self) -> bool:
        """The first node is the sequencer."""
        return self.ctx.name == self.ctx.nodes[0]

    def on_request(self, request: ClientRequest) -> None:
        """The sequencer gives the command a slot; other nodes point the client to it."""
        if not self.is_leader():
            self.ctx.send(request.client, ClientReply(request.cmd_id, False, leader=self.ctx.nodes[0]))
            return
        slot = self.ctx.storage["next_slot"]
        self.ctx.storage["next_slot"] = slot + 1
        self.ctx.persist()  # a recovered sequencer must never hand out a slot twice
        self.waiting[slot] = request
        self.stored[slot] = {{self.ctx.name}}
        self.ctx.broadcast(Store(slot, request.cmd_id))

    def on_message(self, src: str, msg: Message) -> None:
        """Store and acknowledge; the sequencer commits a slot once a majority stored it."""
        if isinstance(msg, Store):
            self.ctx.send(src, Stored(msg.slot))
        elif isinstance(msg, Stored) and msg.slot in self.waiting:
            self.stored[msg.slot].add(src)
            if len(self.stored[msg.slot]) >= majority(len(self.ctx.nodes)):
                request = self.waiting.pop(msg.slot)
                self.ctx.decide(msg.slot, request.cmd_id)
                self.ctx.broadcast(Commit(msg.slot, request.cmd_id))
                self.ctx.send(request.client, ClientReply(request.cmd_id, True))
        elif isinstance(msg, Commit):
            self.ctx.decide(msg.slot, msg.cmd_id)
'''

SCENARIO = """\
name: {name}-demo
description: The {name} mechanism on three nodes under light load (written by consim new mechanism).
mechanism: {name}.py:{cls}   # a file next to this scenario, then the class in it
nodes: 3
seed: 1
duration: 2s
network:
  delay: {{dist: lognormal, median: 5ms, sigma: 0.3}}
workload: {{kind: poisson, rate: 50/s, until: 1500ms}}
"""

TEST = '''\
"""Runs the {name} scenario and checks that it decides commands safely (written by consim new mechanism)."""

from pathlib import Path

from sim.runner import run
from sim.scenario import load_scenario

HERE = Path(__file__).resolve().parent


def test_{module}_decides_every_command_safely() -> None:
    """Every command is decided, and no checker finds a violation."""
    result = run(load_scenario(HERE / "{name}.yaml"))
    assert result.tables.violations.empty, result.tables.violations
    assert result.summary["decisions"] > 0
    assert result.summary["liveness"] == 1.0
'''


def class_name(name: str) -> str:
    """`two_phase` -> `TwoPhase`."""
    return "".join(part.capitalize() for part in name.split("_"))


def new_mechanism(name: str, folder: Path = Path()) -> list[Path]:
    """Write `<folder>/<name>/` with the mechanism module, a scenario that runs it and a pytest test.

    Raises:
        ScenarioError: the name is not a lowercase identifier or is taken, or the target folder is not empty.

    """
    from sim.protocols.registry import mechanisms

    if not NAME_RE.match(name):
        raise ScenarioError("NAME", "", f"{name!r} is not a mechanism name: use lowercase letters, digits and _, starting with a letter")
    if name in mechanisms():
        raise ScenarioError("NAME", "", f"{name!r} is a registered mechanism already; choose another name")
    target = folder / name
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScenarioError("--dir", "", f"{target} exists and is not an empty folder; refusing to overwrite it")
    fill = {"name": name, "cls": class_name(name), "title": class_name(name), "module": name}
    files = {
        target / f"{name}.py": MODULE.format(**fill),
        target / f"{name}.yaml": SCENARIO.format(**fill),
        target / f"test_{name}.py": TEST.format(**fill),
    }
    try:
        target.mkdir(parents=True, exist_ok=True)
        for path, text in files.items():
            path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ScenarioError("--dir", "", f"cannot write {target}: {exc.strerror or exc}") from None
    return list(files)
