"""The learner half of a Multi-Paxos replica: learning, in-order execution, catch-up, compaction.

Chosen values are applied in slot order by a state machine that remembers which commands it
applied (a command chosen in a second slot executes there as a no-op, flagged `duplicate`). The leader tracks how
far every node has learned (acceptors report it in `accepted`); once every node is past a
slot, every node forgets the accepted and chosen values below it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.protocols.base import NOOP, ClientReply
from sim.protocols.dispatch import handles
from sim.protocols.multipaxos.messages import CatchUp, Decide

if TYPE_CHECKING:
    from sim.protocols.base import Context
    from sim.protocols.multipaxos.config import MultiPaxosConfig


class LearnerMixin:
    """Learning and executing chosen slots (mixed into `MultiPaxos`)."""

    ctx: Context
    config: MultiPaxosConfig
    role: str
    applied: set[str]
    in_flight: dict[str, int]
    clients: dict[str, str]
    learned: dict[str, int]

    def note_learned(self, node: str, learned: int) -> None:
        """Remember how far `node` has learned; once every node is past a point, forget below it."""
        if learned > self.learned.get(node, -1):
            self.learned[node] = learned
        if len(self.learned) == len(self.ctx.nodes):
            self.compact(min(self.learned.values()))

    def compact(self, below: int) -> None:
        """Forget accepted and chosen values of slots below `below`, which every node has learned.

        No candidate can ask for them again (a prepare asks from the candidate's own learned
        point), so promises stay as small as the window of undecided slots.
        """
        st = self.ctx.storage
        if below <= st["compacted"]:
            return
        for table in (st["accepted"], st["chosen"]):
            for slot in [s for s in table if s < below]:
                del table[slot]
        st["compacted"] = below

    @handles(CatchUp)
    def on_catch_up(self, src: str, msg: CatchUp) -> None:
        """Resend the decisions a lagging learner missed (a bounded batch)."""
        if self.role != "leader":
            return
        st = self.ctx.storage
        chosen = st["chosen"]
        start = max(msg.have, st["compacted"])  # a late catch-up may ask below what is forgotten
        end = min(start + self.config.catch_up_batch, st["executed"])
        for slot in range(start, end):
            value, round_ = chosen[slot]
            self.ctx.send(src, Decide(slot, value, round_))

    @handles(Decide)
    def on_decide(self, src: str, msg: Decide) -> None:
        """A value the leader saw chosen."""
        self.learn(msg.slot, msg.value, msg.round)

    def learn(self, slot: int, value: str, round_: int) -> None:
        """Record a chosen value (durably), then apply every slot that is now contiguous."""
        chosen = self.ctx.storage["chosen"]
        if slot in chosen or slot < self.ctx.storage["executed"]:
            return
        chosen[slot] = (value, round_)
        self.execute()

    def execute(self) -> None:
        """Apply chosen slots in order; a command chosen in a second slot is applied once.

        Paxos may legitimately choose one command in two slots (a retry proposed by a leader
        that could not know of an earlier proposal); the state machine skips the later copy,
        so that slot executes as a no-op: its decision carries `duplicate=True` (counter
        `duplicates_skipped`); the decided value stays the chosen one, which all nodes agree on.
        """
        st = self.ctx.storage
        chosen = st["chosen"]
        while st["executed"] in chosen:
            slot = st["executed"]
            value, round_ = chosen[slot]
            duplicate = value != NOOP and value in self.applied
            if duplicate:
                self.ctx.count("duplicates_skipped")
            if duplicate:
                self.ctx.decide(slot, value, ballot=round_, duplicate=True)
            else:
                self.ctx.decide(slot, value, ballot=round_)
            st["executed"] = slot + 1
            self.in_flight.pop(value, None)
            if value == NOOP or duplicate:
                continue
            self.applied.add(value)
            client = self.clients.pop(value, None)
            if client is not None:
                self.ctx.send(client, ClientReply(value, True, self.ctx.name))
