"""The client of leader-rotating BFT mechanisms (HotStuff, Tendermint): every replica gets each command.

Any replica may propose next, so a command goes to all of them (as to a mempool), and the client
accepts a result once f + 1 replicas report the same one: at least one of them is honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sim.protocols.base import Message
from sim.protocols.quorum import bft_quorum, bft_size_problem, byzantine_f
from sim.workload import Client

if TYPE_CHECKING:
    from sim.kernel import Simulation
    from sim.node import ClientEndpoint
    from sim.protocols.base import Context, ProtocolConfig
    from sim.scenario import Scenario

AUTH_BYTES = 32
"""Bytes of a signature on one message."""


@dataclass(frozen=True, slots=True)
class Request(Message):
    """A client command; `cmd_id` is unique, so a replica executes it at most once."""

    client: str
    cmd_id: str
    op: str = ""

    @property
    def size_bytes(self) -> int:
        """Header, operation and the client's signature."""
        return self.header_bytes + len(self.cmd_id) + len(self.op) + AUTH_BYTES


@dataclass(frozen=True, slots=True)
class Reply(Message):
    """The result of executing a client command (its slot), signed by the replica."""

    cmd_id: str
    result: str

    @property
    def size_bytes(self) -> int:
        """Header, the result and a signature."""
        return self.header_bytes + len(self.cmd_id) + len(self.result) + AUTH_BYTES


class BroadcastClient(Client):
    """Sends each command to every replica; f + 1 matching replies (one of them honest) complete it."""

    def __init__(self, ctx: ClientEndpoint, sim: Simulation) -> None:
        super().__init__(ctx, sim)
        self.f = byzantine_f(len(self.nodes), sim.scenario.protocol.get("f"))
        self.pending: dict[str, Request] = {}
        self.replies: dict[str, dict[str, str]] = {}  # cmd_id -> replica -> result

    def submit(self, cmd_id: str, op: str) -> None:
        """Send the command to every replica and arm its retry timer."""
        request = Request(self.ctx.name, cmd_id, op)
        self.pending[cmd_id] = request
        self.replies[cmd_id] = {}
        self._send(request)

    def _send(self, request: Request) -> None:
        for node in self.nodes:
            self.ctx.send(node, request)
        self.ctx.set_timer(request.cmd_id, self.timeout)

    def on_message(self, src: str, msg: Message) -> None:
        """Count replies; f + 1 with the same result from different replicas complete the command."""
        if not isinstance(msg, Reply) or msg.cmd_id not in self.pending or src not in self.nodes:
            return
        votes = self.replies[msg.cmd_id]
        votes[src] = msg.result
        if sum(1 for result in votes.values() if result == msg.result) >= self.f + 1:
            del self.pending[msg.cmd_id], self.replies[msg.cmd_id]
            self.ctx.cancel_timer(msg.cmd_id)
            self.ctx.complete(msg.cmd_id)

    def on_timer(self, name: str) -> None:
        """No result in time: send the command to every replica again."""
        request = self.pending.get(name)
        if request is not None:
            self._send(request)


class BroadcastBft:
    """What the BFT mechanisms share: their fault model, authenticated messages, the replica count and quorum.

    Also the leader-rotating mechanisms' (HotStuff, Tendermint) client and their n >= 3f + 1 check
    at load; PBFT, whose client follows the primary, brings its own of both.
    """

    tolerates: ClassVar[str] = "byzantine f<n/3"
    authenticated: ClassVar[bool] = True
    ctx: Context
    config: Any
    n: int
    f: int
    quorum: int
    me: str

    def count_replicas(self) -> None:
        """At start: n, f (`protocol.f`, or the most n tolerates), the quorum q (2f + 1 when n = 3f + 1) and our name."""
        self.n = len(self.ctx.nodes)
        self.f = byzantine_f(self.n, self.config.f)
        self.quorum = bft_quorum(self.n, self.f)
        self.me = self.ctx.name

    @classmethod
    def client_class(cls) -> type[Client]:
        """Clients send each command to every replica and accept f + 1 matching replies."""
        return BroadcastClient

    @classmethod
    def validate(cls, scenario: Scenario, config: ProtocolConfig) -> list[tuple[str, str]]:
        """The cluster must have at least 3f + 1 replicas (`protocol.f`, when given)."""
        return bft_size_problem(scenario.n, getattr(config, "f", None))

    @classmethod
    def fault_bound(cls, scenario: Scenario) -> tuple[str, int]:
        """Byzantine replicas up to the f the quorums are sized for: `protocol.f` when given, else the most n tolerates.

        Not `tolerates` alone: 10 replicas configured for f = 1 use quorums of 6, which 2 colluding
        liars can already split, though f<n/3 of 10 would allow 3.
        """
        return ("byzantine", byzantine_f(scenario.n, scenario.protocol.get("f")))
