"""Block fetching for HotStuff: a replica asks a peer for blocks it lacks, and asks again while they are missing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.protocols.dispatch import handles
from sim.protocols.hotstuff.messages import QC, Block, BlockReply, FetchBlock, Proposal

if TYPE_CHECKING:
    from collections.abc import Callable

    from sim.protocols.base import Context


class BlockFetch:
    """Mixin of the replica: serve blocks, take fetched ones in, and re-ask for the ones still missing.

    A proposal whose parent is missing waits in `orphans`, a QC whose block is missing in
    `early_qcs` (one this leader formed) or `missing_high` (one a new-view reported); each sends
    a `FetchBlock`. Links may lose the request or its reply, so the pacemaker's re-send timer
    calls `refetch`.
    """

    ctx: Context
    st: Any
    me: str
    orphans: dict[str, list[tuple[str, Block]]]
    early_qcs: dict[str, QC]
    missing_high: dict[str, QC]
    refetches: int
    arm_resend: Callable[[], None]
    """Start the re-send timer (provided by `Pacemaker`)."""

    def leader(self, view: int) -> str:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def update(self, block: Block) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def adopt_qc(self, qc: QC) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def adopt_reported(self, qc: QC) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def on_proposal(self, src: str, prop: Proposal) -> None:  # noqa: D102 - provided by the replica
        raise NotImplementedError

    def refetch(self) -> bool:
        """Ask again for the blocks we still miss (the request or its reply may be lost); whether any is missing.

        Each goes to one replica that signed the block's certificate, a different one each round (as
        DiemBFT's block retriever tries the QC's signers): they voted for the block, so they hold it.
        """
        st = self.st
        floor = st.blocks[st.executed_block].view
        wanted = dict(self.early_qcs)
        # A reported QC at or below our qc_high no longer holds up a proposal: stop asking for its block.
        self.missing_high = {b: qc for b, qc in self.missing_high.items() if qc.view > st.qc_high.view and b not in st.blocks}
        wanted.update(self.missing_high)
        for parent, waiting in self.orphans.items():
            wanted.setdefault(parent, waiting[0][1].justify)
        self.refetches += 1
        missing = False
        for block, qc in wanted.items():
            peers = sorted(qc.signers - {self.me})
            if block in st.blocks or qc.view <= floor or not peers:
                continue  # held, or below what we executed: no command of ours waits on it
            missing = True
            self.ctx.send(peers[self.refetches % len(peers)], FetchBlock(block))
        return missing

    @handles(FetchBlock)
    def on_fetch(self, src: str, msg: FetchBlock) -> None:
        """Send a peer a block it lacks."""
        block = self.st.blocks.get(msg.block)
        if block is not None:
            self.ctx.send(src, BlockReply(block))

    @handles(BlockReply)
    def on_block_reply(self, src: str, msg: BlockReply) -> None:
        """A fetched ancestor: store it if its parent is known (else fetch further), then retry its children."""
        block, st = msg.block, self.st
        if block.id in st.blocks or not (block.id in self.orphans or block.id in self.early_qcs or block.id in self.missing_high):
            return
        if block.parent not in st.blocks:
            self.orphans.setdefault(block.parent, []).append((block.view and self.leader(block.view), block))
            self.ctx.send(src, FetchBlock(block.parent))
            self.arm_resend()
            return
        st.blocks[block.id] = block
        self.update(block)
        if block.id in self.early_qcs:
            self.adopt_qc(self.early_qcs.pop(block.id))
        if block.id in self.missing_high:
            self.adopt_reported(self.missing_high.pop(block.id))
        for waiting_src, child in self.orphans.pop(block.id, []):
            self.on_proposal(waiting_src, Proposal(child))
