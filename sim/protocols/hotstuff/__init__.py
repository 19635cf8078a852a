"""Chained HotStuff (Yin, Malkhi, Reiter, Gueta and Abraham, PODC 2019), event-driven, with a pacemaker.

n >= 3f + 1 replicas (the quorum is the general ceil((n + f + 1) / 2), 2f + 1 when n = 3f + 1);
a leader serves `leader_term` consecutive views (view v is led by replica (v // term) mod n).
A leader proposes a block extending the block of its
highest quorum certificate (QC) and carrying that QC; a replica votes for it (to the next view's
leader, who aggregates a quorum of votes into a QC) when the block's view is above the last view
it voted in and the block extends its locked block or carries a QC newer than the lock. Each
proposal's QC advances the three-chain: the QC'd block b'' becomes the highest QC, its parent b'
the lock (two-chain), and when b <- b' <- b'' are direct parents in consecutive views, b and its
ancestors commit (three-chain) and execute in order.

The pacemaker: a replica with work outstanding (commands pending or proposed but not executed)
waits `view_timeout` for progress, doubling on consecutive timeouts; it then moves to the next
view and sends every replica a new-view message with its highest QC. A leader that hears
new-views from a quorum proposes on the highest QC among them (the paper's view synchronisation);
a replica that hears of higher views from f + 1 replicas joins them, and one waiting for its
leader re-sends its new-view (see pacemaker.py for why).

Messages per decided block in the steady state are linear in n: n - 1 proposals and n - 1 votes.
Threshold signatures are modelled by the sizes of QCs (one aggregate signature) and by the CPU
model (one verify per QC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field

from sim.protocols._broadcast_client import BroadcastBft, Reply, Request
from sim.protocols.base import Message, Protocol, ProtocolConfig, register
from sim.protocols.dispatch import Dispatch, handles
from sim.protocols.hotstuff.fetch import BlockFetch
from sim.protocols.hotstuff.messages import (
    GENESIS,
    GENESIS_BLOCK,
    GENESIS_QC,
    QC,
    Block,
    FetchBlock,
    NewView,
    Proposal,
    Vote,
)
from sim.protocols.hotstuff.pacemaker import Pacemaker
from sim.protocols.quorum import byzantine_f
from sim.scenario import PositiveMs
from sim.timing import NetworkTiming, shortfall, show_ms

if TYPE_CHECKING:
    import random

    from sim.protocols.base import Context
    from sim.scenario import Scenario


class HotStuffConfig(ProtocolConfig):
    """HotStuff settings."""

    f: Annotated[int, Field(ge=0)] | None = None
    """Faults tolerated; derived as (n-1)//3 when not given."""
    view_timeout: PositiveMs = Field(default="max(300ms, 8rtt)", validate_default=True)
    """How long a replica with work outstanding waits for progress before it leaves the view (default: 300ms,
    or 8 rtt on a slower network: a command needs about four round trips)."""
    max_backoff: Annotated[int, Field(ge=1)] = 64
    """Cap on the doubling of the view timeout after consecutive timeouts."""
    max_batch: Annotated[int, Field(ge=1)] = 64
    """Most commands in one block."""
    leader_term: Annotated[int, Field(ge=1)] = 4
    """Consecutive views each leader serves; a timeout moves on to the next leader's first view.
    1 is the paper's rotation on every view, but then a commit needs four honest leaders in a row
    (three consecutive views for the three-chain and the next leader to certify the last), which
    round-robin never gives with n = 4 and one replica down; 4 lets every honest leader commit."""


@dataclass
class HotStuffState:
    """What a replica keeps on stable storage: the block tree, its vote and lock, and what it executed."""

    blocks: dict[str, Block] = field(default_factory=lambda: {GENESIS: GENESIS_BLOCK})
    view: int = 1
    voted: int = 0
    """vheight: the highest view this replica voted in (never vote twice in a view)."""
    proposed: int = 0
    """The highest view this replica proposed in as leader (never propose twice in a view)."""
    lock: str = GENESIS
    qc_high: QC = GENESIS_QC
    executed_block: str = GENESIS
    executed: dict[str, int] = field(default_factory=dict)
    """cmd_id -> the slot it executed at."""
    slot: int = 0


@register("hotstuff")
class HotStuff(Dispatch, BroadcastBft, Pacemaker, BlockFetch, Protocol):
    """One chained-HotStuff replica: propose, vote, three-chain commit, pacemaker."""

    Config = HotStuffConfig
    byzantine_behaviours: ClassVar[tuple[str, ...]] = (
        "silent",
        "omit",
        "delay",
        "replay",
        "forge",
        "equivocate",
        "double_vote",
        "fork",
    )
    weighs_nodes: ClassVar[bool] = False
    """Every replica counts as one: a node weight would do nothing."""
    config: HotStuffConfig

    # --- lifecycle -------------------------------------------------------------------------

    def on_start(self) -> None:
        """Load the persistent state; rebuild the volatile parts (mempool, tallies, pacemaker)."""
        ctx = self.ctx
        self.count_replicas()
        self.st: HotStuffState = ctx.storage.setdefault("hotstuff", HotStuffState())
        self.pending: dict[str, Request] = {}
        self.votes: dict[tuple[int, str], set[str]] = {}
        self.certified: set[int] = set()
        self.new_views: dict[int, dict[str, QC]] = {}
        self.synced: set[int] = set()
        self.orphans: dict[str, list[tuple[str, Block]]] = {}
        self.early_qcs: dict[str, QC] = {}
        """QCs this leader formed for blocks whose proposal has not reached it yet."""
        self.missing_high: dict[str, QC] = {}
        """QCs above our qc_high that new-views for a view we lead reported, for blocks we are fetching."""
        self.timeouts_in_row = 0
        self.timer_on = False
        self.announced = 0
        self.heard: dict[str, int] = {}
        self.resend_on = False
        self.refetches = 0

    def leader(self, view: int) -> str:
        """The leader of `view`: replica (v // leader_term) mod n."""
        return self.ctx.nodes[(view // self.config.leader_term) % self.n]

    def is_leader(self) -> bool:
        """Whether this replica leads its view, or proposed the previous one and its successor has not taken over.

        In the pipeline a leader votes for its own block and enters the next view before that view's
        leader has heard of it; for the fault plan it is still the leader until then.
        """
        st = self.st
        return self.leader(st.view) == self.me or (st.proposed == st.view - 1 and self.leader(st.proposed) == self.me)

    def epoch(self) -> tuple[int, ...]:
        """The view this replica is in (the fault plan's 'leader' is the leader of the highest view)."""
        return (self.st.view,)

    # --- clients ---------------------------------------------------------------------------

    @handles(Request)
    def on_client_request(self, src: str, req: Request) -> None:
        """Keep the command until it executes (or answer again if it already did)."""
        st = self.st
        if req.cmd_id in st.executed:
            self.ctx.send(req.client, Reply(req.cmd_id, str(st.executed[req.cmd_id])))
            return
        self.pending.setdefault(req.cmd_id, req)
        self.maybe_propose()
        self.arm_timer()

    # --- the block tree --------------------------------------------------------------------

    def extends(self, block_id: str, ancestor: str) -> bool:
        """Whether `block_id` is `ancestor` or descends from it."""
        blocks = self.st.blocks
        floor = blocks[ancestor].view
        while block_id in blocks:
            if block_id == ancestor:
                return True
            block = blocks[block_id]
            if block.view <= floor or block_id == GENESIS:
                return False
            block_id = block.parent
        return False

    def uncommitted(self, tip: str) -> list[Block]:
        """The blocks from `tip` back to (not including) the executed block, oldest first."""
        st, chain = self.st, []
        while tip != st.executed_block and tip in st.blocks and tip != GENESIS:
            chain.append(st.blocks[tip])
            tip = st.blocks[tip].parent
        chain.reverse()
        return chain

    def valid_qc(self, qc: QC) -> bool:
        """A QC is a quorum of distinct replicas' votes (the genesis QC is given)."""
        if qc == GENESIS_QC:
            return True
        return len(qc.signers) >= self.quorum and qc.signers <= frozenset(self.ctx.nodes)

    def has_work(self) -> bool:
        """Commands wait, or proposed commands are not executed yet."""
        if self.pending:
            return True
        return any(block.cmds for block in self.uncommitted(self.st.qc_high.block))

    # --- leader ----------------------------------------------------------------------------

    def maybe_propose(self, force: bool = False) -> None:
        """Propose in our view once we hold its predecessor's QC (or a quorum's new-views) and have work."""
        st = self.st
        view = st.view
        if self.leader(view) != self.me or st.proposed >= view:
            return
        if not (st.qc_high.view == view - 1 or view in self.synced):
            return
        if not (force or self.has_work()):
            return
        if any(qc.view > st.qc_high.view and qc.block not in st.blocks for qc in self.new_views.get(view, {}).values()):
            return  # a higher QC was reported: extend it once its block arrives (else the view times out)
        parent = st.qc_high.block
        in_chain = {c.cmd_id for block in self.uncommitted(parent) for c in block.cmds}
        cmds = tuple(req for cmd_id, req in self.pending.items() if cmd_id not in in_chain)[: self.config.max_batch]
        block = Block(view, parent, st.qc_high, cmds, self.me)
        st.proposed = view
        self.ctx.persist()
        self.ctx.record("leader", term=view)
        self.ctx.broadcast(Proposal(block))
        self.on_proposal(self.me, Proposal(block))

    @handles(Vote)
    def on_vote(self, src: str, vote: Vote) -> None:
        """Next leader: aggregate a quorum of votes for one block into a QC, then propose on it."""
        if self.leader(vote.view + 1) != self.me or vote.view in self.certified:
            return
        voters = self.votes.setdefault((vote.view, vote.block), set())
        voters.add(src)
        if len(voters) < self.quorum:
            return
        self.certified.add(vote.view)
        qc = QC(vote.view, vote.block, frozenset(voters))
        self.ctx.count("qcs_formed")
        self.ctx.record("qc", view=vote.view)
        if vote.block not in self.st.blocks:
            # The votes outran the proposal: keep the QC until the block arrives, and ask for it.
            self.early_qcs[vote.block] = qc
            self.ctx.send(src, FetchBlock(vote.block))
            self.arm_resend()
            return
        self.adopt_qc(qc)

    def adopt_reported(self, qc: QC) -> None:
        """A new-view's QC whose block has just arrived: it may be our highest, and our synced view may wait on it."""
        self.update_qc_high(qc)
        self.maybe_propose(force=self.st.view in self.synced)

    def adopt_qc(self, qc: QC) -> None:
        """A QC this leader formed: it is the highest, the view after it begins, and we propose on it."""
        self.update_qc_high(qc)
        self.advance(qc.view + 1)
        self.maybe_propose()

    @handles(NewView)
    def on_new_view(self, src: str, nv: NewView) -> None:
        """Adopt a higher QC; as the view's leader, propose once a quorum has moved to it; maybe join (see pacemaker)."""
        if not self.valid_qc(nv.qc):
            return
        leads = self.leader(nv.view) == self.me and not (nv.view < self.st.view and nv.view in self.synced)
        if nv.qc.block in self.st.blocks:
            self.update_qc_high(nv.qc)
        elif leads and nv.qc.view > self.st.qc_high.view and nv.qc.block not in self.missing_high:
            # The leader must extend the highest QC of the new-views (the paper's argmax over them), or replicas
            # locked on its block refuse the proposal and the view is lost: fetch the block first, as DiemBFT does.
            self.missing_high[nv.qc.block] = nv.qc
            self.ctx.send(src, FetchBlock(nv.qc.block))
            self.arm_resend()
        if leads:
            senders = self.new_views.setdefault(nv.view, {})
            senders[src] = nv.qc
            # Distinct replicas that have left for this view, ourselves included once (our own new-view counts as us).
            moved = set(senders) | ({self.me} if self.st.view >= nv.view else set())
            if len(moved) >= self.quorum and nv.view not in self.synced:
                self.synced.add(nv.view)
                self.advance(nv.view)
                self.maybe_propose(force=True)
        self.heard_of(src, nv.view)

    # --- replica ---------------------------------------------------------------------------

    @handles(Proposal)
    def on_proposal(self, src: str, prop: Proposal) -> None:
        """Check the block, run the three-chain rules on its QC, and vote if it is safe."""
        block, st = prop.block, self.st
        if src != self.leader(block.view) or block.parent != block.justify.block or block.view <= block.justify.view:
            return
        if not self.valid_qc(block.justify):
            return
        if block.parent not in st.blocks:
            self.orphans.setdefault(block.parent, []).append((src, block))
            self.ctx.send(src, FetchBlock(block.parent))
            self.arm_resend()
            return
        st.blocks.setdefault(block.id, block)
        self.update(block)
        if block.id in self.early_qcs:
            self.adopt_qc(self.early_qcs.pop(block.id))
        if block.id in self.missing_high:
            self.adopt_reported(self.missing_high.pop(block.id))
        if block.view > st.voted and block.view >= st.view and self.safe(block):
            st.voted = block.view
            self.ctx.persist()  # the vote is on disk before it leaves: a rebooted replica never votes twice in a view
            self.advance(block.view + 1)
            self.progress()
            to = self.leader(block.view + 1)
            if to == self.me:
                self.on_vote(self.me, Vote(block.view, block.id))
            else:
                self.ctx.send(to, Vote(block.view, block.id))
        for waiting_src, child in self.orphans.pop(block.id, []):
            self.on_proposal(waiting_src, Proposal(child))

    def safe(self, block: Block) -> bool:
        """The safety rule: extend the locked block, or carry a QC newer than the lock (liveness)."""
        st = self.st
        return self.extends(block.id, st.lock) or block.justify.view > st.blocks[st.lock].view

    def update(self, block: Block) -> None:
        """The three-chain: b'' (the QC'd block) is the highest QC, b' the lock, and b commits on a direct chain."""
        st = self.st
        b2 = st.blocks.get(block.justify.block)
        if b2 is None:
            return
        self.update_qc_high(block.justify)
        b1 = st.blocks.get(b2.justify.block)
        if b1 is None or b2.justify == GENESIS_QC:
            return
        if b1.view > st.blocks[st.lock].view:
            st.lock = b1.id
        b0 = st.blocks.get(b1.justify.block)
        if b0 is None or b1.justify == GENESIS_QC:
            return
        if b2.parent == b1.id and b1.parent == b0.id and b2.view == b1.view + 1 and b1.view == b0.view + 1:
            self.commit(b0)

    def update_qc_high(self, qc: QC) -> None:
        """Keep the highest QC seen (for a block we hold)."""
        if qc.view > self.st.qc_high.view and qc.block in self.st.blocks:
            self.st.qc_high = qc

    def commit(self, block: Block) -> None:
        """Execute `block` and its unexecuted ancestors in order; reply to clients."""
        st = self.st
        if block.view <= st.blocks[st.executed_block].view:
            return
        chain = self.uncommitted(block.id)
        if not chain or chain[0].parent != st.executed_block:
            self.ctx.record("fork", block=block.id, view=block.view)  # never for honest replicas within the bound
            return
        for b in chain:
            for req in b.cmds:
                self.pending.pop(req.cmd_id, None)
                if req.cmd_id in st.executed:
                    continue  # proposed twice (two leaders raced): executes once
                st.slot += 1
                st.executed[req.cmd_id] = st.slot
                self.ctx.decide(st.slot, req.cmd_id, view=b.view)
                self.ctx.send(req.client, Reply(req.cmd_id, str(st.slot)))
        st.executed_block = block.id
        self.progress()

    # --- class hooks -----------------------------------------------------------------------

    @classmethod
    def recovery_time(cls, scenario: Scenario, config: ProtocolConfig) -> float:
        """The view timer at its capped backoff, once for each of up to f faulty leaders in a row and once more."""
        f = byzantine_f(scenario.n, config.f)  # type: ignore[attr-defined]
        return (f + 2) * config.view_timeout * config.max_backoff  # type: ignore[attr-defined]

    @classmethod
    def timing(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> list[tuple[str, str]]:
        """A view must outlast its proposal and the votes that certify it (one round trip) plus the QC's CPU."""
        assert isinstance(config, HotStuffConfig)
        return shortfall(
            "protocol.view_timeout",
            config.view_timeout,
            2 * net.rtt,
            "what a view needs",
            "replicas leave every view before its block can be certified",
            "raise it, e.g. view_timeout: 8rtt",
            f"proposal and votes, 2 x rtt {show_ms(net.rtt)}",
        )

    @classmethod
    def expected_latency(cls, scenario: Scenario, config: ProtocolConfig, net: NetworkTiming) -> float:
        """Request, three proposal-vote rounds to the three-chain, the proposal carrying the last QC, reply."""
        return 4.5 * net.rtt

    @classmethod
    def checkers(cls) -> list[Any]:
        """Agreement, integrity, validity, exactly-once, gapless, and no honest replica asked to commit a fork."""
        from sim.checkers.agreement import GENERIC_CHECKERS
        from sim.checkers.execution import LOG_CHECKERS
        from sim.protocols.hotstuff.checks import check_no_fork

        return [*GENERIC_CHECKERS, *LOG_CHECKERS, check_no_fork]

    @classmethod
    def summarise(cls, tables: Any, scenario: Scenario) -> dict[str, Any]:
        """Views reached, view timeouts and QCs formed."""
        events = tables.events
        views = events.loc[events["kind"] == "leader"] if not events.empty else events
        return {
            "views": int(len(views)),
            "view_timeouts": int(tables.counters.get("view_timeouts", 0)),
            "qcs_formed": int(tables.counters.get("qcs_formed", 0)),
        }

    @classmethod
    def mutate(
        cls, behaviour: str, msg: Message, dst: str, rng: random.Random, ctx: Context, depth: int = 3
    ) -> Message | tuple[Message, ...] | None:
        """Equivocating and forking leaders, double votes (see sim/protocols/hotstuff/lies.py)."""
        from sim.protocols.hotstuff import lies

        return lies.mutate(behaviour, msg, dst, ctx, depth)
