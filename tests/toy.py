"""A tiny fixed-leader replication protocol used to test the kernel (not a shipped mechanism)."""

from __future__ import annotations

from dataclasses import dataclass

from sim.protocols.base import ClientReply, ClientRequest, Message, Protocol, ProtocolConfig


@dataclass(frozen=True, slots=True)
class Put(Message):
    """Leader to follower: store `value` at `slot`."""

    slot: int
    value: str


@dataclass(frozen=True, slots=True)
class PutAck(Message):
    """Follower to leader: stored."""

    slot: int


class ToyConfig(ProtocolConfig):
    """No settings."""


class Toy(Protocol):
    """n0 orders commands; a slot is decided once a majority stored it."""

    name = "toy"
    Config = ToyConfig

    def on_start(self) -> None:
        """Reset volatile state."""
        self.next_slot = 0
        self.acks: dict[int, set[str]] = {}
        self.values: dict[int, tuple[str, str]] = {}

    def is_leader(self) -> bool:
        """n0 leads."""
        return self.ctx.name == self.ctx.nodes[0]

    def on_request(self, request: ClientRequest) -> None:
        """Leader: assign a slot and replicate; others redirect."""
        if not self.is_leader():
            self.ctx.send(request.client, ClientReply(request.cmd_id, False, self.ctx.nodes[0]))
            return
        slot = self.next_slot
        self.next_slot += 1
        self.values[slot] = (request.cmd_id, request.client)
        self.acks[slot] = {self.ctx.name}
        self.ctx.broadcast(Put(slot, request.cmd_id))

    def on_message(self, src: str, msg: Message) -> None:
        """Store and ack; count acks."""
        if isinstance(msg, Put):
            self.ctx.decide(msg.slot, msg.value)
            self.ctx.send(src, PutAck(msg.slot))
        elif isinstance(msg, PutAck) and msg.slot in self.acks:
            acks = self.acks[msg.slot]
            acks.add(src)
            if len(acks) == len(self.ctx.nodes) // 2 + 1:
                cmd_id, client = self.values[msg.slot]
                self.ctx.decide(msg.slot, cmd_id)
                self.ctx.send(client, ClientReply(cmd_id, True))
