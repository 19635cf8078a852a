"""The lies a faulty HotStuff replica tells: `HotStuff.mutate` for the byzantine behaviours.

A faulty replica signs only as itself: a certificate it makes must hold real votes of honest
replicas plus its own. Fellow faulty replicas (`ctx.colluders`) hear the truth.

- `equivocate`: as leader, the odd-index replicas get a conflicting block for the same view (no commands).
- `fork`, the attack on the commit rule: a leader serving consecutive views first shows its block
  to just a quorum (itself, its colluders and the first honest replicas; the rest get nothing), so a
  QC for it forms while the replicas left out stay locked lower. In its next view it shows
  the block carrying that QC to one honest replica only, which may commit on it, and gives the
  rest (colluders: both) a fork: a block extending the certificate `depth` levels below (3 by default, the parent of
  what a two-chain commits; 4 reaches below the lock of the replicas that saw the last block). The
  leader and its colluders vote for the fork too (they sign both), so the fork is certified by the
  honest replicas that accept it; the leader's next block builds on the fork's QC, and so on.
- `double_vote`: a vote for a block goes out together with a vote for a conflicting block of the
  same view: one an equivocating leader showed it, or else the block's equivocating twin (the one
  `equivocate` shows the other half), so a colluding leader's two blocks can both be certified.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sim.protocols.hotstuff.messages import GENESIS_QC, Block, Proposal, Vote

if TYPE_CHECKING:
    from sim.protocols.base import Context, Message

Lie = Any  # Message | tuple[Message, ...] | None: what `Protocol.mutate` returns
FORKS = "hotstuff_forks"
"""The liar's own record (in its node's storage): view -> the fork block it showed in that view."""


def colluders(ctx: Context) -> frozenset[str]:
    """The other replicas that lie with this one (the fault plan's set of faulty nodes holds this one too)."""
    return getattr(ctx, "colluders", frozenset()) - {ctx.name}


def twin(block: Block) -> Block:
    """The conflicting block an equivocating leader shows the odd half for `block`'s view."""
    return replace(block, cmds=(), salt=1)


def fork_block(block: Block, protocol: Any, depth: int) -> Block | None:
    """The block the liar shows instead of `block`: it extends the QC `depth` certificates back (None: not forking here)."""
    st = protocol.st
    forks: dict[int, Block] = protocol.ctx.storage.setdefault(FORKS, {})
    if block.view in forks:
        return forks[block.view]
    previous = st.blocks.get(block.justify.block)
    # Fork only right after certifying our own block in the view before, and never twice in a row:
    # the block after a fork is the truth, so the fork gets a chain on it.
    if previous is None or previous.proposer != protocol.me or block.justify.view != block.view - 1 or block.view - 1 in forks:
        return None
    qc = block.justify
    for _ in range(depth - 1):
        certified = st.blocks.get(qc.block)
        if certified is None or certified.justify == GENESIS_QC:
            return None
        qc = certified.justify
    fork = replace(block, parent=qc.block, justify=qc, salt=2)
    forks[block.view] = fork
    st.blocks.setdefault(fork.id, fork)
    if protocol.leader(block.view + 1) == protocol.me:
        # We sign the fork too: our vote for it waits in our own tally for the honest ones'.
        protocol.votes.setdefault((block.view, fork.id), set()).add(protocol.me)
    return fork


def fork(msg: Message, dst: str, ctx: Context, depth: int) -> Lie:
    """The forking leader's proposals, and its votes (for its forks too)."""
    protocol = getattr(ctx, "protocol", None)
    if protocol is None:
        return None
    if isinstance(msg, Vote):
        return double_vote(msg, ctx)
    if not isinstance(msg, Proposal) or msg.block.proposer != ctx.name:
        return None
    honest = [n for n in ctx.nodes if n != ctx.name and n not in colluders(ctx)]
    forked = fork_block(msg.block, protocol, depth)
    if forked is None:
        # Certify: the truth to just a quorum (us, our colluders, the first honest replicas), nothing to the rest,
        # so that the replicas left out stay locked low enough to accept a fork later.
        told = protocol.quorum - 1 - len(colluders(ctx) & set(ctx.nodes))
        return None if dst in colluders(ctx) or dst in honest[: max(told, 0)] else ()
    if dst in colluders(ctx):
        return (msg, Proposal(forked))  # colluders vote for both
    return None if honest and dst == honest[0] else Proposal(forked)


def double_vote(msg: Message, ctx: Context) -> Lie:
    """A vote plus a vote for a conflicting block of the same view."""
    protocol = getattr(ctx, "protocol", None)
    if not isinstance(msg, Vote) or protocol is None:
        return None
    blocks = protocol.st.blocks
    others = sorted(b.id for b in blocks.values() if b.view == msg.view and b.id != msg.block)
    if not others and msg.block in blocks:
        others = [twin(blocks[msg.block]).id]
    return (msg, *(Vote(msg.view, other) for other in others))


def mutate(behaviour: str, msg: Message, dst: str, ctx: Context, depth: int) -> Lie:
    """The lying version of `msg` for `dst` (None: the truth)."""
    if behaviour == "equivocate":
        if not isinstance(msg, Proposal) or dst not in ctx.nodes or ctx.nodes.index(dst) % 2 == 0 or dst in colluders(ctx):
            return None
        return Proposal(twin(msg.block))
    if behaviour == "fork":
        return fork(msg, dst, ctx, depth)
    if behaviour == "double_vote":
        return double_vote(msg, ctx)
    return None
