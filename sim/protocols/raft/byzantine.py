"""How a byzantine Raft server lies (Raft tolerates crashes only, so these break it)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from sim.protocols.base import NOOP
from sim.protocols.raft.messages import AppendEntries, PreVoteResponse, RequestVote, RequestVoteResponse

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context, Message


def _second_half(dst: str, ctx: Context) -> bool:
    """Splits the peers into two fixed halves so each half hears a consistent lie."""
    peers = ctx.peers
    return dst in peers and peers.index(dst) % 2 == 1


def mutate(behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context) -> Message | None:
    """The lying version of `msg` for `dst`, or None to send it unchanged.

    - equivocate: a leader sends half of its followers different entries (no-ops) for the same
      indexes and terms; a candidate tells half of the peers it already leads the term it is
      only asking votes for.
    - double_vote: every vote request (and pre-vote) is granted, whatever the server did before.
    """
    if behaviour == "equivocate":
        if isinstance(msg, AppendEntries) and msg.entries and _second_half(dst, ctx):
            return replace(msg, entries=tuple((entry[0], NOOP) for entry in msg.entries))
        if isinstance(msg, RequestVote) and _second_half(dst, ctx):
            return AppendEntries(msg.term, msg.candidate, msg.last_log_index, msg.last_log_term, (), 0)
        return None
    if behaviour == "double_vote" and isinstance(msg, RequestVoteResponse | PreVoteResponse) and not msg.vote_granted:
        return replace(msg, vote_granted=True)
    return None
