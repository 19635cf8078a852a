"""Chained HotStuff: the three-chain commit, the voting rules, the pacemaker, linear messages, faults."""

from __future__ import annotations

import pytest

from sim import run, scenario_from_dict
from sim.protocols.hotstuff import HotStuff
from sim.protocols.hotstuff.messages import (
    GENESIS,
    GENESIS_QC,
    QC,
    Block,
    BlockReply,
    FetchBlock,
    NewView,
    Proposal,
    Request,
    Vote,
)
from sim.testing import make_node

NODES = ["n0", "n1", "n2", "n3"]
SIGNERS = frozenset({"n0", "n1", "n2"})


def chain(views: list[int], term: int = 1) -> list[Block]:
    """Blocks proposed by the right leaders in `views`, each extending the previous one with its QC."""
    blocks: list[Block] = []
    parent, justify = GENESIS, GENESIS_QC
    for view in views:
        leader = NODES[(view // term) % 4]
        block = Block(view, parent, justify, (Request("c0", f"c0:{view}"),), leader)
        blocks.append(block)
        parent, justify = block.id, QC(view, block.id, SIGNERS)
    return blocks


def feed(node: HotStuff, blocks: list[Block], term: int = 1) -> None:
    for block in blocks:
        node.on_message(NODES[(block.view // term) % 4], Proposal(block))


def test_quorum_is_the_general_bft_quorum() -> None:
    """A QC needs ceil((n + f + 1) / 2) votes: 2f + 1 at n = 3f + 1, and more where n is larger than 3f + 1."""
    sizes = [make_node(HotStuff, "n0", [f"n{i}" for i in range(n)])[0].quorum for n in (4, 5, 6, 7, 10)]
    assert sizes == [3, 4, 4, 5, 7]
    assert make_node(HotStuff, "n0", NODES, f=0)[0].quorum == 3


def test_three_chain_commits_the_first_block_and_locks_the_second() -> None:
    """b <- b' <- b'' in consecutive views plus a proposal carrying QC(b'') commits b; the lock follows the two-chain."""
    node, ctx = make_node(HotStuff, "n3", NODES, leader_term=1)
    b1, b2, b3, b4 = chain([1, 2, 3, 4])
    feed(node, [b1, b2, b3])
    assert ctx.decided == []
    assert node.st.lock == b1.id  # on b3: b'' = b2, b' = b1
    feed(node, [b4])
    assert [(slot, value) for slot, value, _ in ctx.decided] == [(1, "c0:1")]
    assert node.st.lock == b2.id and node.st.qc_high.block == b3.id


def test_no_commit_without_consecutive_views() -> None:
    """A gap between b and b' (a failed view) means no direct three-chain: nothing commits on it."""
    node, ctx = make_node(HotStuff, "n3", NODES, leader_term=1)
    feed(node, chain([1, 3, 4, 5]))
    assert ctx.decided == []  # b1 <- b3 is not consecutive; b3 <- b4 <- b5 needs a proposal with QC(b5)


def test_votes_once_per_view_and_to_the_next_leader() -> None:
    """A replica votes for the first valid block of a view, sends the vote to the next view's leader, never twice."""
    node, ctx = make_node(HotStuff, "n3", NODES, leader_term=1)
    (b1,) = chain([1])
    node.on_message("n1", Proposal(b1))
    votes = ctx.take(Vote)
    assert votes == [("n2", Vote(1, b1.id))]
    twin = Block(1, GENESIS, GENESIS_QC, (), "n1", salt=1)
    node.on_message("n1", Proposal(twin))
    assert ctx.take(Vote) == []  # an equivocating leader gets one vote per replica and view
    other = Block(1, GENESIS, GENESIS_QC, (), "n1")
    node.on_message("n0", Proposal(other))  # not the leader of view 1
    assert ctx.take(Vote) == []


def test_locked_replica_refuses_a_conflicting_block_with_an_old_qc() -> None:
    """The safety rule: a block that neither extends the lock nor carries a newer QC gets no vote."""
    node, ctx = make_node(HotStuff, "n3", NODES, leader_term=1)
    b1, b2, b3 = chain([1, 2, 3])
    feed(node, [b1, b2, b3])
    assert node.st.lock == b1.id
    ctx.take()
    fork = Block(4, GENESIS, GENESIS_QC, (Request("c1", "c1:1"),), "n0")  # conflicts with the lock, QC of view 0
    node.on_message("n0", Proposal(fork))
    assert ctx.take(Vote) == []
    newer = Block(4, b3.id, QC(3, b3.id, SIGNERS), (), "n0")
    node.on_message("n0", Proposal(newer))
    assert ctx.take(Vote) == [("n1", Vote(4, newer.id))]


def test_next_leader_forms_a_qc_from_a_quorum_and_proposes_on_it() -> None:
    """Votes of a quorum of distinct replicas make a QC; the leader then proposes a child carrying it."""
    node, ctx = make_node(HotStuff, "n2", NODES, leader_term=1)
    (b1,) = chain([1])
    node.on_message("n1", Proposal(b1))  # n2 leads view 2: it votes for b1 itself
    node.on_message("n0", Vote(1, b1.id))
    assert ctx.take(Proposal) == []  # two votes: no quorum of 3 yet
    node.on_message("n0", Vote(1, b1.id))  # a repeated vote counts once
    assert ctx.take(Proposal) == []
    node.on_message("n3", Vote(1, b1.id))
    proposals = ctx.take(Proposal)
    assert len(proposals) == 3
    block = proposals[0][1].block
    assert block.view == 2 and block.parent == b1.id and block.justify.signers == frozenset({"n0", "n2", "n3"})


def test_pacemaker_times_out_only_with_work_and_moves_to_the_next_leader() -> None:
    """With nothing to do no timer runs; with a pending command a timeout tells every replica, and re-sends to the leader."""
    node, ctx = make_node(HotStuff, "n3", NODES, leader_term=4)
    assert "view" not in ctx.timers
    node.on_message("c0", Request("c0", "c0:1"))
    assert "view" in ctx.timers
    node.on_timer("view")
    assert node.st.view == 4
    # Everyone hears of it (a lagging replica may join), not just the next leader n1.
    assert ctx.take(NewView) == [(peer, NewView(4, GENESIS_QC)) for peer in ("n0", "n1", "n2")]
    assert ctx.counters["view_timeouts"] == 1
    node.on_timer("resend")  # no proposal for view 4 yet: the leader gets it again, in case it was lost
    assert ctx.take(NewView) == [("n1", NewView(4, GENESIS_QC))]
    assert "resend" in ctx.timers
    block = Block(4, GENESIS, GENESIS_QC, (Request("c0", "c0:1"),), "n1")
    node.on_message("n1", Proposal(block))  # n3 votes and moves on to view 5: no more re-sends
    node.on_timer("resend")
    assert ctx.take(NewView) == [] and node.st.view == 5


def test_f_plus_one_new_views_pull_a_lagging_replica_forward() -> None:
    """f + 1 replicas announcing higher views move a replica to the highest view they all reached; f never do."""
    node, ctx = make_node(HotStuff, "n3", NODES, leader_term=4)  # f = 1
    node.on_message("c0", Request("c0", "c0:1"))
    for _ in range(3):
        node.on_message("n0", NewView(400, GENESIS_QC))  # one (perhaps faulty) replica, however often and however far
    assert node.st.view == 1 and ctx.take(NewView) == []
    node.on_message("n2", NewView(8, GENESIS_QC))  # a second replica: at least one of the two is correct
    assert node.st.view == 8
    assert ctx.take(NewView) == [(peer, NewView(8, GENESIS_QC)) for peer in ("n0", "n1", "n2")]
    assert ("view_join", {"view": 8}) in ctx.events and "view" in ctx.timers


def test_a_lagging_leader_joins_its_view_and_proposes() -> None:
    """The leader of view 8, still in view 1, hears f + 1 = 2 new-views for 8: it joins, and with itself has a quorum."""
    node, ctx = make_node(HotStuff, "n2", NODES, leader_term=4)
    node.on_message("c0", Request("c0", "c0:1"))
    node.on_message("n0", NewView(8, GENESIS_QC))
    assert ctx.take(Proposal) == []
    node.on_message("n3", NewView(8, GENESIS_QC))
    assert 8 in node.synced and node.st.proposed == 8  # it proposed (and voted for its block: it is in view 9 now)
    assert [msg.block.view for _, msg in ctx.take(Proposal)] == [8, 8, 8]


def test_a_lost_block_fetch_is_asked_again_of_a_signer() -> None:
    """A proposal whose parent is missing fetches it; the fetch (or its reply) lost, the re-send timer asks again."""
    node, ctx = make_node(HotStuff, "n3", NODES, leader_term=1)
    b1, b2 = chain([1, 2])
    node.on_message("n2", Proposal(b2))  # b1 never arrived
    assert ctx.take(FetchBlock) == [("n2", FetchBlock(b1.id))]
    node.on_timer("resend")
    [(peer, msg)] = ctx.take(FetchBlock)
    assert msg == FetchBlock(b1.id) and peer in SIGNERS
    node.on_message(peer, BlockReply(b1))
    assert node.st.voted == 2  # both blocks in: it voted for b2
    node.on_timer("resend")
    assert ctx.take(FetchBlock) == [] and "resend" in ctx.timers  # no more asking


def test_a_leader_fetches_the_block_of_a_higher_reported_qc_before_proposing() -> None:
    """A new-view reports a QC for a block the leader lacks: it fetches the block and extends that QC, not its own lower one.

    On its lower QC the proposal would be refused by the replicas locked on the higher QC's block, and the view lost.
    """
    node, ctx = make_node(HotStuff, "n1", NODES, leader_term=4)
    (b1,) = chain([1], term=4)  # n1 never saw b1, but n0, n2 and n3 certified it
    node.on_message("c0", Request("c0", "c0:1"))
    node.on_timer("view")  # n1 leaves for view 4, its own, with the genesis QC
    node.on_message("n3", NewView(4, GENESIS_QC))
    node.on_message("n2", NewView(4, QC(1, b1.id, SIGNERS)))  # the quorum: n1, n3 and n2, whose QC is the highest
    assert 4 in node.synced
    assert ctx.take(Proposal) == []  # not on the genesis QC
    assert ctx.take(FetchBlock) == [("n2", FetchBlock(b1.id))]
    assert "view" in ctx.timers  # should the block never come, the view times out as before
    node.on_timer("resend")  # the fetch may be lost: asked again, of a signer
    [(peer, msg)] = ctx.take(FetchBlock)
    assert msg == FetchBlock(b1.id) and peer in SIGNERS
    node.on_message(peer, BlockReply(b1))
    proposals = ctx.take(Proposal)
    assert len(proposals) == 3
    block = proposals[0][1].block
    assert block.view == 4 and block.parent == b1.id and block.justify == QC(1, b1.id, SIGNERS)


def test_live_with_loss_and_a_crashed_replica() -> None:
    """Regression: at n = 5 (quorum 4 = the live replicas) with 5% loss and n1 crashed, every command still commits.

    The new-view went once to the next leader only: a few lost messages left the replicas in
    different views for good (seed 16 committed 5% of its commands, seed 7 56%).
    """
    for seed in (7, 16):
        data = {
            **SCENARIO,
            "nodes": 5,
            "seed": seed,
            "duration": "8s",
            "network": {**SCENARIO["network"], "loss": 0.05},
            "faults": [{"at": "1s", "crash": "n1"}],
            "workload": {"kind": "poisson", "rate": "50/s", "until": "6s"},
        }
        result = run(scenario_from_dict(data))
        assert result.summary["safety_violations"] == 0
        assert result.summary["liveness"] == 1.0, seed


SCENARIO = {
    "name": "hotstuff",
    "mechanism": "hotstuff",
    "nodes": 4,
    "seed": 1,
    "duration": "3s",
    "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}},
    "workload": {"kind": "poisson", "rate": "100/s", "until": "2.5s"},
}


@pytest.mark.parametrize("n", [4, 7, 10])
def test_messages_per_view_are_linear_in_n(n: int) -> None:
    """Each view costs n - 1 proposals and at most n - 1 votes: linear, where PBFT's prepares and commits are quadratic."""
    result = run(scenario_from_dict({**SCENARIO, "nodes": n}))
    assert result.summary["liveness"] == 1.0 and result.summary["safety_violations"] == 0
    counts = result.messages.groupby("type")["sent"].sum()
    views = result.summary["views"]
    assert counts["proposal"] == (n - 1) * views
    assert counts["vote"] <= (n - 1) * views
    assert "new_view" not in counts  # no timeouts on a healthy network


@pytest.mark.parametrize(
    "faults",
    [
        [{"at": "1s", "crash": "leader"}],
        [{"at": "1s", "crash": "n1"}],
        [{"byzantine": ["n1"], "behaviour": "equivocate"}],
        [{"at": "500ms", "partition": [["n0"], ["n1", "n2", "n3"]], "for": "1s"}],
    ],
    ids=["leader-crash", "crash", "equivocating-leader", "partition"],
)
def test_safe_and_live_with_f_faults(faults: list[dict]) -> None:
    """With one fault of n = 4 every command is decided, in one order, after view changes where needed."""
    data = {**SCENARIO, "duration": "4s", "faults": faults, "workload": {"kind": "poisson", "rate": "100/s", "until": "3s"}}
    result = run(scenario_from_dict(data))
    assert result.summary["safety_violations"] == 0
    assert result.summary["liveness"] == 1.0
    if any("crash" in fault for fault in faults):
        assert (result.events["kind"] == "crash").sum() == 1  # the fault struck (`leader` names a live leader)


def test_paper_rotation_stalls_with_a_crashed_replica_at_n4() -> None:
    """With a new leader every view, round-robin never gives four honest leaders in a row once one of four is down."""
    data = {**SCENARIO, "protocol": {"leader_term": 1}, "duration": "4s", "faults": [{"at": "1s", "crash": "n1"}]}
    result = run(scenario_from_dict(data))
    late = result.requests[result.requests["submit_ms"] > 1500]
    assert len(late) > 0 and late["done_ms"].isna().all()


class TwoChainHotStuff(HotStuff):
    """Broken: commits b' as soon as it sees a QC for its direct child (a two-chain)."""

    def update(self, block: Block) -> None:
        super().update(block)
        b2 = self.st.blocks.get(block.justify.block)
        b1 = self.st.blocks.get(b2.justify.block) if b2 is not None and block.justify.view else None
        if b2 is not None and b1 is not None and b2.parent == b1.id and b2.view == b1.view + 1 and b2.justify.view:
            self.commit(b1)


class NoLockHotStuff(HotStuff):
    """Broken: votes for any block of a newer view, whether or not it conflicts with the lock."""

    def safe(self, block: Block) -> bool:
        return True


def fork_from(parent: Block, views: list[int]) -> list[Block]:
    """Blocks in `views` by their leaders, the first extending `parent` with its QC, each carrying a command."""
    blocks, prev, justify = [], parent.id, QC(parent.view, parent.id, SIGNERS)
    for view in views:
        block = Block(view, prev, justify, (Request("c9", f"c9:{view}"),), NODES[view % 4])
        blocks.append(block)
        prev, justify = block.id, QC(view, block.id, SIGNERS)
    return blocks


def decided(ctx) -> dict[int, str]:
    return {slot: value for slot, value, _ in ctx.decided}


@pytest.mark.parametrize("cls", [HotStuff, TwoChainHotStuff])
def test_a_forking_leader_breaks_only_a_two_chain_commit(cls: type[HotStuff]) -> None:
    """The leader of view 4 shows replica A the true block and the others a fork on b1: a two-chain commit of b2 at A conflicts."""
    b1, b2, b3, b4 = chain([1, 2, 3, 4])
    forked = fork_from(b1, [4, 5, 6, 7])  # the others lock only on b1, so they may vote for it
    a, actx = make_node(cls, "n2", NODES, leader_term=1)
    feed(a, [b1, b2, b3, b4])
    b, bctx = make_node(cls, "n3", NODES, leader_term=1)
    feed(b, [b1, b2, b3, *forked])
    shared = decided(actx).keys() & decided(bctx).keys()
    conflicts = [s for s in shared if decided(actx)[s] != decided(bctx)[s]]
    assert bool(conflicts) == (cls is TwoChainHotStuff)


@pytest.mark.parametrize("cls", [HotStuff, NoLockHotStuff])
def test_the_lock_stops_a_fork_below_it(cls: type[HotStuff]) -> None:
    """After b4 the others are locked on b2; a fork on b1 gets their votes only without the lock, and then commits against A."""
    b1, b2, b3, b4, b5 = chain([1, 2, 3, 4, 5])
    forked = fork_from(b1, [5, 6, 7, 8])
    a, actx = make_node(cls, "n2", NODES, leader_term=1)
    feed(a, [b1, b2, b3, b4, b5])
    assert decided(actx) == {1: "c0:1", 2: "c0:2"}
    b, bctx = make_node(cls, "n3", NODES, leader_term=1)
    feed(b, [b1, b2, b3, b4])
    bctx.take()
    b.on_message(NODES[5 % 4], Proposal(forked[0]))
    voted = [m for _, m in bctx.take(Vote)]
    assert bool(voted) == (cls is NoLockHotStuff)
    if not voted:
        return  # n3 and every honest replica locked on b2 refuse: the fork can never gather a quorum
    feed(b, forked[1:])  # with the lock gone the fork is certified by honest votes and commits
    conflicts = [s for s in decided(actx).keys() & decided(bctx).keys() if decided(actx)[s] != decided(bctx)[s]]
    assert conflicts == [2]


def test_a_fork_event_is_a_violation() -> None:
    """A replica asked to commit a block off its executed chain refuses and records `fork`; the no_fork rule reports it."""
    import pandas as pd

    from sim.protocols.hotstuff.checks import check_no_fork

    class Tables:
        events = pd.DataFrame(
            [
                {"time_ms": 5.0, "node": "n1", "kind": "fork", "block": "ab12", "view": 7},
                {"time_ms": 6.0, "node": "n2", "kind": "fork", "block": "cd34", "view": 8},
                {"time_ms": 1.0, "node": "n2", "kind": "byzantine", "block": None, "view": None},
                {"time_ms": 2.0, "node": "n3", "kind": "leader", "block": None, "view": None},
            ]
        )

    rows = check_no_fork(Tables(), None)  # type: ignore[arg-type]
    assert [(r["nodes"], r["rule"]) for r in rows] == [("n1", "no_fork")]  # n2 is byzantine: not judged


def test_new_views_count_each_replica_once() -> None:
    """A leader that timed out into its own view counts itself once: two other new-views make a quorum of 3, one does not."""
    node, ctx = make_node(HotStuff, "n1", NODES, leader_term=4)
    node.on_message("c0", Request("c0", "c0:1"))
    node.on_timer("view")  # n1 leaves view 1 for view 4, its own, and sends itself a new-view
    assert node.st.view == 4 and 4 not in node.synced
    node.on_message("n2", NewView(4, GENESIS_QC))
    assert 4 not in node.synced  # n1 and n2: two replicas, below the quorum of 3
    node.on_message("n3", NewView(4, GENESIS_QC))
    assert 4 in node.synced and ctx.take(Proposal)


def _forked(faults: list[dict], cls: type[HotStuff] = HotStuff):
    data = {**SCENARIO, "duration": "1.5s", "faults": faults, "workload": {"kind": "poisson", "rate": "50/s", "until": "1.2s"}}
    return run(scenario_from_dict(data), protocol_cls=cls)


@pytest.mark.parametrize(("depth", "broken"), [(3, TwoChainHotStuff), (4, NoLockHotStuff)])
@pytest.mark.parametrize("liar", ["n0", "n1"])
def test_one_forking_leader_breaks_only_the_broken_variants(liar: str, depth: int, broken: type[HotStuff]) -> None:
    """A forking leader gets its block certified, then forks `depth` certificates back: below a two-chain commit
    (depth 3) or below the lock (depth 4). The broken variant forks; HotStuff stays safe and live (f = 1)."""
    faults = [{"byzantine": [liar], "behaviour": "fork", "params": {"depth": depth}}]
    assert _forked(faults, broken).summary["safety_violations"] > 0
    result = _forked(faults)
    assert result.summary["safety_violations"] == 0 and result.summary["liveness"] == 1.0


@pytest.mark.parametrize("liars", [["n0"], ["n1"], ["n0", "n1"]])
def test_double_votes_alone_break_nothing(liars: list[str]) -> None:
    """Votes for a block and its twin certify nothing an honest leader did not propose, even from two replicas."""
    result = _forked([{"byzantine": liars, "behaviour": "double_vote"}])
    assert result.summary["safety_violations"] == 0 and result.summary["liveness"] == 1.0


@pytest.mark.parametrize(
    "faults",
    [
        [{"byzantine": ["n1", "n2"], "behaviour": "fork", "params": {"depth": 4}}],
        [{"byzantine": ["n1"], "behaviour": "fork", "params": {"depth": 4}}, {"byzantine": ["n2"], "behaviour": "double_vote"}],
    ],
    ids=["two-forkers", "forker-and-double-voter"],
)
def test_f_plus_one_liars_fork_hotstuff(faults: list[dict]) -> None:
    """Beyond the bound (2 of 4): a colluder votes for the fork too, so it is certified past the lock and honest replicas conflict."""
    result = _forked(faults)
    assert "no_fork" in set(result.violations["rule"]) or "agreement" in set(result.violations["rule"])


def test_double_vote_adds_a_vote_for_the_twin_block() -> None:
    """A double voter's vote for block b also goes out for b's equivocating twin (the block it holds of no other view)."""
    from sim.protocols.hotstuff.lies import mutate, twin

    node, ctx = make_node(HotStuff, "n2", NODES, leader_term=1)
    (b1,) = chain([1])
    feed(node, [b1])
    ctx.protocol = node
    vote = Vote(1, b1.id)
    assert mutate("double_vote", vote, "n2", ctx, 3) == (vote, Vote(1, twin(b1).id))
    assert mutate("double_vote", Proposal(b1), "n3", ctx, 3) is None
