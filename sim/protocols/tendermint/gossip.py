"""Tendermint's gossip: what one correct replica receives, every correct replica eventually receives.

The paper's liveness argument assumes this of its gossip layer (Buchman, Kwon and Milosevic, 2018,
system model): after GST, a message a correct process received reaches every correct process.
Re-sending only what a replica signed itself does not give it: a faulty replica's prevote that
reaches one correct replica alone completes a polka there (it locks the value and makes it its
valid value) and nowhere else; a proposal carrying that valid round then never gets the prevotes of
the replicas that lack the polka (lines 28-33), the locked replica prevotes nil for anything else,
and the height stalls for as long as the faulty replica keeps its prevote from the others.

So on each gossip tick a replica re-sends what it signed at this height and relays what others
signed that the rules of its current round read: the round's proposal, its prevotes and precommits,
and the prevotes for the proposal's value in the proposal's valid round (its polka). CometBFT's
consensus reactor gossips the same (the proposal, the votes of a peer's round and of the proposal's
POL round), only to peers it knows lack them; here links may lose messages and peers do not say what
they hold, so the relay goes out every tick, as the replica's own messages do. Older rounds need no
relay (their polkas matter only through a proposal's valid round; a decision there reaches laggards
by catch-up), and later rounds become current by round skipping. A relay carries at most one
proposal and 3(n - 1) votes: one message per peer per tick.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.dispatch import handles
from sim.protocols.tendermint.messages import Precommit, Prevote, Proposal, Relay

if TYPE_CHECKING:
    from sim.protocols.base import Context, Message
    from sim.protocols.tendermint.messages import Value

Signed = tuple[str, Proposal | Prevote | Precommit]
"""A message with the replica that signed it."""


class Gossip:
    """Mixin of the replica: the periodic re-send of its own messages and the relay of others'."""

    ctx: Context
    st: Any
    me: str
    proposals: dict[int, tuple[Value, int]]
    prevotes: dict[int, dict[str, str | None]]
    precommits: dict[int, dict[str, str | None]]

    def proposer(self, height: int, rnd: int) -> str:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def _height_check(self, src: str, height: int, msg: Message) -> bool:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def on_proposal(self, src: str, msg: Proposal) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def on_vote(self, src: str, msg: Prevote | Precommit) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def gossip(self) -> None:
        """Re-send what we signed at this height; relay to each peer what others signed that our round needs."""
        st = self.st
        for (height, _, _), msg in sorted(st.signed.items(), key=lambda kv: kv[0]):
            if height == st.height:
                self.ctx.broadcast(msg)
        held = self.relayable()
        for peer in self.ctx.nodes:
            batch = tuple((signer, msg) for signer, msg in held if signer != peer)
            if peer != self.me and batch:
                self.ctx.send(peer, Relay(st.height, batch))

    def relayable(self) -> list[Signed]:
        """Others' messages the current round's rules read: its proposal, its votes, and the polka of the proposal's valid round."""
        h, r = self.st.height, self.st.round
        held: list[Signed] = []
        prop = self.proposals.get(r)
        if prop is not None:
            value, valid_round = prop
            held.append((self.proposer(h, r), Proposal(h, r, value, valid_round)))
            if valid_round >= 0:
                polka = self.prevotes.get(valid_round, {})
                held += [(signer, Prevote(h, valid_round, vid)) for signer, vid in sorted(polka.items()) if vid == value.id]
        held += [(signer, Prevote(h, r, vid)) for signer, vid in sorted(self.prevotes.get(r, {}).items())]
        held += [(signer, Precommit(h, r, vid)) for signer, vid in sorted(self.precommits.get(r, {}).items())]
        return [(signer, msg) for signer, msg in held if signer != self.me]

    @handles(Relay)
    def on_relay(self, src: str, msg: Relay) -> None:
        """Take each relayed message of our height as if its signer had sent it (the handlers check the rest)."""
        if not self._height_check(src, msg.height, msg):
            return
        for signer, signed in msg.signed:
            # Re-read the height: a relayed precommit may decide it, and the rest are then stale.
            if signer == self.me or signer not in self.ctx.nodes or signed.height != self.st.height:
                continue
            if isinstance(signed, Proposal):
                self.on_proposal(signer, signed)
            elif isinstance(signed, Prevote | Precommit):
                self.on_vote(signer, signed)
