"""The PBFT client: sends to the primary, accepts f+1 matching replies, retransmits to all."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.pbft.messages import Reply, Request
from sim.protocols.quorum import byzantine_f
from sim.workload import Client

if TYPE_CHECKING:
    from sim.kernel import Simulation
    from sim.node import ClientEndpoint
    from sim.protocols.base import Message


class PbftClient(Client):
    """Castro and Liskov's client: a result is accepted once f+1 replicas vouch for it.

    The client sends a request to the primary of the latest view it knows of. When no f+1
    matching replies arrive before the timeout, it multicasts the request to every replica, so
    that backups forward it and, if the primary is faulty, start a view change.
    """

    def __init__(self, ctx: ClientEndpoint, sim: Simulation) -> None:
        super().__init__(ctx, sim)
        self.f = byzantine_f(len(self.nodes), sim.scenario.protocol.get("f"))
        self.view = 0
        self.pending: dict[str, Request] = {}
        self.replies: dict[str, dict[str, tuple[int, str]]] = {}  # cmd_id -> replica -> (view, result)

    def submit(self, cmd_id: str, op: str) -> None:
        """Send the request to the primary we believe in and arm the retransmission timer."""
        request = Request(self.ctx.name, cmd_id, op)
        self.pending[cmd_id] = request
        self.replies[cmd_id] = {}
        self.ctx.send(self.nodes[self.view % len(self.nodes)], request)
        self.arm(cmd_id)

    def on_message(self, src: str, msg: Message) -> None:
        """Collect replies; f+1 with the same result from different replicas complete the request."""
        if not isinstance(msg, Reply) or msg.cmd_id not in self.pending or src not in self.nodes:
            return
        votes = self.replies[msg.cmd_id]
        votes[src] = (msg.view, msg.result)
        matching = [view for view, result in votes.values() if result == msg.result]
        if len(matching) >= self.f + 1:
            # f+1 matching replies include one from a correct replica, so the result is right.
            self.view = max(self.view, sorted(matching)[len(matching) - self.f - 1])
            del self.pending[msg.cmd_id], self.replies[msg.cmd_id]
            self.finish(msg.cmd_id)

    def on_timer(self, name: str) -> None:
        """No result in time: multicast the request to all replicas, and wait again."""
        request = self.pending.get(name)
        if request is None:
            return
        self.retrying(name)
        for node in self.nodes:
            self.ctx.send(node, request)
        self.arm(name)
