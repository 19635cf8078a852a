"""The lies a faulty Tendermint replica tells: `Tendermint.mutate` for the byzantine behaviours.

A faulty replica signs only as itself; its fellow faulty replicas (`ctx.colluders`) hear the truth,
so colluders lie consistently. The honest replicas are split by index: those of odd index hear
another story than the rest.

- `equivocate`: as proposer, the odd half gets a different value (no commands) for the same round.
- `double_vote`: prevotes and precommits for two values in one round, the attack locks defend
  against. Where the liar votes nil, it tells the honest replicas it voted for the round's proposed
  value instead: for prevotes to all but one of them (so the others may see a polka that the one
  does not), for precommits to that one only (the first honest replica after the round's proposer,
  which may then decide alone). If the others, who precommitted the value but saw no decision,
  then see a polka for another value in a later round, only their locks stop them. Until it
  holds the round's proposal it holds such a prevote back once, so that the claim is heard first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sim.protocols.tendermint.messages import Precommit, Prevote, Proposal

if TYPE_CHECKING:
    from sim.protocols.base import Context, Message

Lie = Any  # Message | tuple[Message, ...] | None: what `Protocol.mutate` returns
WITHHELD = "tendermint_withheld"
"""The liar's own record (in its node's storage) of the nil prevotes it held back once, by (height, round, peer)."""


def told_otherwise(dst: str, ctx: Context) -> bool:
    """Whether `dst` is in the half of the honest replicas that hears the other story."""
    return dst in ctx.nodes and ctx.nodes.index(dst) % 2 == 1 and dst not in getattr(ctx, "colluders", frozenset())


def favoured(msg: Prevote | Precommit, ctx: Context) -> str | None:
    """The one honest replica a double voter's precommit lie reaches: the first after the round's proposer."""
    n = len(ctx.nodes)
    liars = getattr(ctx, "colluders", frozenset()) | {ctx.name}
    start = (msg.height + msg.round) % n
    return next((ctx.nodes[(start + k) % n] for k in range(1, n + 1) if ctx.nodes[(start + k) % n] not in liars), None)


def double_vote(msg: Prevote | Precommit, dst: str, ctx: Context) -> Lie:
    """A nil vote claimed as a vote for the round's proposed value: prevotes to all honest replicas but one, precommits to that one."""
    if msg.value is not None or dst not in ctx.nodes or dst in getattr(ctx, "colluders", frozenset()):
        return None
    if (dst == favoured(msg, ctx)) != isinstance(msg, Precommit):
        return None
    protocol = getattr(ctx, "protocol", None)
    proposals = getattr(protocol, "proposals", {}) if protocol is not None and protocol.st.height == msg.height else {}
    proposed = proposals.get(msg.round)
    # Not holding the proposal yet, it withholds the vote: a replica counts the first vote it hears from
    # each peer, so the claim must come first (the gossip re-sends the vote once the proposal is in).
    if proposed is None:
        # Withheld once (the gossip sends it again a moment later): a round without a proposal must still end.
        withheld: set[tuple[int, int, str]] = ctx.storage.setdefault(WITHHELD, set())
        if isinstance(msg, Prevote) and (msg.height, msg.round, dst) not in withheld:
            withheld.add((msg.height, msg.round, dst))
            return ()
        return None
    return replace(msg, value=proposed[0].id)


def mutate(behaviour: str, msg: Message, dst: str, ctx: Context) -> Lie:
    """The lying version of `msg` for `dst` (None: the truth)."""
    if behaviour == "equivocate" and isinstance(msg, Proposal) and told_otherwise(dst, ctx):
        return replace(msg, value=replace(msg.value, cmds=(), salt=1))
    if behaviour == "double_vote" and isinstance(msg, Prevote | Precommit):
        return double_vote(msg, dst, ctx)
    return None
