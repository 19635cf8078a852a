"""The lies a faulty Tendermint replica tells: `Tendermint.mutate` for the byzantine behaviours.

A faulty replica signs only as itself; its fellow faulty replicas (`ctx.colluders`) hear the truth,
so colluders lie consistently. The honest replicas are split by index: those of odd index hear
another story than the rest.

- `equivocate`: as proposer, the odd half gets a different value (no commands) for the same round.
- `double_vote`: prevotes and precommits for two values in one round (the attack locks defend
  against): the odd half gets the vote for the other value - nil where the liar voted for a value,
  the round's proposed value where it voted nil - so some honest replicas see a quorum the others
  do not, and a decision at a few of them can be followed by a conflicting polka elsewhere.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sim.protocols.tendermint.messages import Precommit, Prevote, Proposal

if TYPE_CHECKING:
    from sim.protocols.base import Context, Message

Lie = Any  # Message | tuple[Message, ...] | None: what `Protocol.mutate` returns


def told_otherwise(dst: str, ctx: Context) -> bool:
    """Whether `dst` is in the half of the honest replicas that hears the other story."""
    return dst in ctx.nodes and ctx.nodes.index(dst) % 2 == 1 and dst not in getattr(ctx, "colluders", frozenset())


def other_vote(msg: Prevote | Precommit, ctx: Context) -> Prevote | Precommit | None:
    """The same vote for the other value: nil for a value, the round's proposed value for nil (None: none known)."""
    if msg.value is not None:
        return replace(msg, value=None)
    protocol = getattr(ctx, "protocol", None)
    proposals = getattr(protocol, "proposals", {}) if protocol is not None and protocol.st.height == msg.height else {}
    proposed = proposals.get(msg.round)
    return replace(msg, value=proposed[0].id) if proposed is not None else None


def mutate(behaviour: str, msg: Message, dst: str, ctx: Context) -> Lie:
    """The lying version of `msg` for `dst` (None: the truth)."""
    if not told_otherwise(dst, ctx):
        return None
    if behaviour == "equivocate" and isinstance(msg, Proposal):
        return replace(msg, value=replace(msg.value, cmds=(), salt=1))
    if behaviour == "double_vote" and isinstance(msg, Prevote | Precommit):
        return other_vote(msg, ctx)
    return None
