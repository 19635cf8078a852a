"""How a Tendermint replica catches up: a lost proposal fetched by its digest, a missed height adopted.

Tendermint's gossip layer delivers what a replica missed; here a replica asks for it. A value is
checked against the digest the votes named, so it needs no trust; a decided height is adopted on
its commit certificate, or once f + 1 replicas (one of them honest) report the same value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.dispatch import handles
from sim.protocols.tendermint.messages import FetchValue, SyncReply, SyncRequest, Value, ValueReply

if TYPE_CHECKING:
    from sim.protocols.base import Context


class CatchUp:
    """Mixin of the replica: answer and use value fetches and sync requests."""

    ctx: Context
    st: Any
    f: int
    quorum: int
    values: dict[str, Value]
    fetching: set[str]
    sync_votes: dict[str, tuple[Value, set[str]]]

    def check(self) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def decide(self, value: Value, rnd: int, signers: frozenset[str]) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    @handles(FetchValue)
    def on_fetch_value(self, src: str, msg: FetchValue) -> None:
        """Send a peer a value of the current or a decided height that it asks for by digest."""
        value = self.values.get(msg.value) if msg.height == self.st.height else self.st.decided.get(msg.height)
        if value is not None and value.id == msg.value:
            self.ctx.send(src, ValueReply(msg.height, value))

    @handles(ValueReply)
    def on_value_reply(self, src: str, msg: ValueReply) -> None:
        """Keep a fetched value if it is one we asked for (its digest proves it)."""
        if msg.height == self.st.height and msg.value.id in self.fetching:
            self.values.setdefault(msg.value.id, msg.value)
            self.check()

    @handles(SyncRequest)
    def on_sync_request(self, src: str, msg: SyncRequest) -> None:
        """Send a replica that is behind the value decided at the height it asks for."""
        value = self.st.decided.get(msg.height)
        if value is not None:
            rnd, signers = self.st.commits.get(msg.height, (0, frozenset()))
            self.ctx.send(src, SyncReply(msg.height, rnd, value, signers))

    @handles(SyncReply)
    def on_sync_reply(self, src: str, msg: SyncReply) -> None:
        """Adopt a decided value on its commit certificate, or once f + 1 replicas report the same one.

        The certificate names the replicas whose precommits decided it; as with PBFT's certificates,
        the names stand for their signatures (a byzantine replica signs only as itself).
        """
        if msg.height != self.st.height or msg.height in self.st.decided:
            return
        certified = len(msg.signers) >= self.quorum and msg.signers <= frozenset(self.ctx.nodes)
        value, who = self.sync_votes.setdefault(msg.value.id, (msg.value, set()))
        who.add(src)
        if certified or len(who) >= self.f + 1:
            self.ctx.record("state_transfer", height=msg.height)
            self.decide(value, msg.round, msg.signers)
