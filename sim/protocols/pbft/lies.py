"""The lies a faulty PBFT replica tells: `Pbft.mutate` for the byzantine behaviours.

Lies reach every message kind a replica sends. A faulty replica signs only as itself (it cannot
make an honest replica's signature), so a fabricated certificate carries the signatures of the
faulty replicas alone: f of them are too few for any certificate, f + 1 may be enough.

- `equivocate` splits the honest replicas: those of odd index are told another story than
  the rest (fellow faulty replicas hear the truth, so that colluders lie consistently). A
  pre-prepare carries a different real client request (the one the liar logged at the
  sequence number before; the null request when there is none) and prepares and commits
  follow it; a view-change claims that request prepared in the view just below, signed by
  the colluders; a new-view re-issues a bogus O set; a checkpoint names a wrong state. Clients
  get the same wrong result from every colluder.
- `double_vote`: the same split for prepares and commits only.
- `corrupt`: random digests and results, to everyone; a view-change claims a stable checkpoint
  one interval ahead with a proof signed only by the colluders.
- `censor`: a client's requests become the null request in every pre-prepare (the same to
  everyone, so the other requests still commit) and are never forwarded to the primary.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sim.protocols.pbft.messages import (
    NULL_DIGEST,
    Checkpoint,
    NewView,
    Prepare,
    PreparedCert,
    PrePrepare,
    Reply,
    Request,
    ViewChange,
    Vote,
    next_state_digest,
)

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context, Message

Lie = Any  # Message | tuple[Message, ...] | None: what `Protocol.mutate` returns


def colluders(ctx: Context) -> frozenset[str]:
    """The replicas that lie together (a faulty node's context knows its fellow faulty nodes)."""
    return getattr(ctx, "colluders", frozenset())


def alternate(ctx: Context, view: int, seq: int) -> Request | None:
    """Another real request the liar knows: the one it logged at (view, seq - 1); None for the null request."""
    st = getattr(getattr(ctx, "protocol", None), "st", None)
    slot = st.log.get((view, seq - 1)) if st is not None else None
    return slot.request if slot is not None else None


def fabricate(ctx: Context, view: int, seq: int, request: Request | None) -> PreparedCert:
    """A prepared certificate for `request` at (view, seq) signed by the liar and its colluders only."""
    digest = request.digest if request is not None else NULL_DIGEST
    primary = ctx.nodes[view % len(ctx.nodes)]
    signers = sorted((colluders(ctx) | {ctx.name}) - {primary})
    return PreparedCert(PrePrepare(view, seq, digest, request), tuple((s, Prepare(view, seq, digest)) for s in signers))


def bogus_o(msg: NewView) -> NewView:
    """A new-view whose O set does not follow from its V: requests dropped, one sequence number too many."""
    top = max([0, *(pp.seq for pp in msg.pre_prepares)])
    nulls = tuple(replace(pp, digest=NULL_DIGEST, request=None) for pp in msg.pre_prepares)
    return replace(msg, pre_prepares=(*nulls, PrePrepare(msg.view, top + 1, NULL_DIGEST, None)))


def censor(msg: Message, dst: str, ctx: Context, client: str) -> Lie:
    """Leave `client`'s requests out of pre-prepares, and out of what is forwarded to the primary."""
    if isinstance(msg, Request) and msg.client == client and dst in ctx.nodes:
        return ()
    if isinstance(msg, PrePrepare) and msg.request is not None and msg.request.client == client:
        return replace(msg, digest=NULL_DIGEST, request=None)
    return None


def corrupt(msg: Message, rng: random.Random, ctx: Context, interval: int) -> Lie:
    """Random digests, states and results; a view-change claiming an unproven stable checkpoint."""
    noise = f"{rng.getrandbits(64):016x}"
    if isinstance(msg, PrePrepare | Vote):
        return replace(msg, digest=noise)
    if isinstance(msg, Checkpoint):
        return replace(msg, state=noise)
    if isinstance(msg, Reply):
        return replace(msg, result=noise)
    if isinstance(msg, ViewChange):
        seq = msg.stable_seq + interval
        proof = tuple((s, Checkpoint(seq, noise)) for s in sorted(colluders(ctx) | {ctx.name}))
        return replace(msg, stable_seq=seq, stable_state=noise, checkpoint_proof=proof, prepared=())
    if isinstance(msg, NewView):
        return bogus_o(msg)
    return None


def split(behaviour: str, msg: Message, ctx: Context) -> Lie:
    """What an equivocator (or double voter) tells the honest replicas of odd index."""
    if isinstance(msg, Vote):
        other = alternate(ctx, msg.view, msg.seq)
        return replace(msg, digest=other.digest if other is not None else NULL_DIGEST)
    if behaviour == "double_vote":
        return None
    if isinstance(msg, PrePrepare):
        other = alternate(ctx, msg.view, msg.seq)
        return replace(msg, digest=other.digest if other is not None else NULL_DIGEST, request=other)
    if isinstance(msg, ViewChange):
        certs = tuple(fabricate(ctx, msg.view - 1, c.seq, alternate(ctx, c.view, c.seq)) for c in msg.prepared)
        return replace(msg, prepared=certs)
    if isinstance(msg, NewView):
        return bogus_o(msg)
    if isinstance(msg, Checkpoint):
        return replace(msg, state=next_state_digest(msg.state, msg.seq, "lie"))
    return None


def mutate(behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context, client: str, interval: int) -> Lie:
    """The lying version of `msg` for `dst` (None: the truth)."""
    if behaviour == "censor":
        return censor(msg, dst, ctx, client)
    if behaviour == "corrupt":
        return corrupt(msg, rng, ctx, interval)
    if behaviour not in ("equivocate", "double_vote"):
        return None
    if isinstance(msg, Reply):
        # Every colluder gives a client the same wrong result: f + 1 of them are believed.
        return replace(msg, result=next_state_digest("lie", 0, msg.cmd_id)) if behaviour == "equivocate" else None
    if dst in ctx.nodes and ctx.nodes.index(dst) % 2 == 1 and dst not in colluders(ctx):
        return split(behaviour, msg, ctx)
    return None
