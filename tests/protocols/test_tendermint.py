"""Tendermint: locks and valid values, round changes, value fetch by digest, relayed votes, quadratic votes, faults."""

from __future__ import annotations

import pytest

from sim import run, scenario_from_dict
from sim.protocols._broadcast_client import Request
from sim.protocols.tendermint import PRECOMMIT, Tendermint
from sim.protocols.tendermint.messages import FetchValue, Precommit, Prevote, Proposal, Value, ValueReply
from sim.testing import make_node

NODES = ["n0", "n1", "n2", "n3"]


def value(tag: str, proposer: str) -> Value:
    return Value((Request("c0", f"c0:{tag}"),), proposer, 1)


class NoLockTendermint(Tendermint):
    """Broken: prevotes every valid proposal of a round, whatever it is locked on."""

    def _rules(self) -> None:
        self.st.locked_round, self.st.locked_value = -1, None
        super()._rules()


def lock_on_v(cls: type[Tendermint]):
    """Replica n0 sees a polka for v in round 0, locks it, then moves to round 1 after a precommit quorum without v."""
    node, ctx = make_node(cls, "n0", NODES)
    v = value("v", "n1")
    node.on_message("n1", Proposal(1, 0, v, -1))  # proposer of (h=1, r=0) is n1
    for src in ("n1", "n2", "n3"):
        node.on_message(src, Prevote(1, 0, v.id))
    assert node.st.step == PRECOMMIT
    for src in ("n2", "n3"):
        node.on_message(src, Precommit(1, 0, None))
    node.on_timer("precommit:1:0")  # a quorum of precommits but none for v: the round ends
    assert node.st.round == 1
    return node, ctx, v


def test_a_polka_locks_the_value_and_makes_it_the_valid_value() -> None:
    """A quorum of prevotes for the proposal locks it and precommits it (lines 36-43)."""
    node, ctx, v = lock_on_v(Tendermint)
    assert node.st.locked_value == v and node.st.locked_round == 0
    assert node.st.valid_value == v and node.st.valid_round == 0
    assert ("n1", Precommit(1, 0, v.id)) in ctx.sent


@pytest.mark.parametrize("cls", [Tendermint, NoLockTendermint])
def test_a_locked_replica_prevotes_nil_for_another_value(cls: type[Tendermint]) -> None:
    """Locked on v, a replica prevotes nil for a new value w of a later round; without the lock it would help decide w."""
    node, ctx, v = lock_on_v(cls)
    ctx.take()
    w = value("w", "n2")
    node.on_message("n2", Proposal(1, 1, w, -1))  # a lying proposer of round 1 ignores the polka on v
    prevotes = [m for _, m in ctx.take(Prevote)]
    assert prevotes[0].value == (w.id if cls is NoLockTendermint else None)
    for src in ("n2", "n3"):
        node.on_message(src, Prevote(1, 1, w.id))
        node.on_message(src, Precommit(1, 1, w.id))
    decided = [val for _, val, _ in ctx.decided]
    # n0, n1 and n3 precommitted v in round 0 (n3 lying to us), so v may be decided elsewhere: deciding w breaks agreement.
    assert decided == (["c0:w"] if cls is NoLockTendermint else [])


def test_a_proposal_with_a_later_polka_unlocks() -> None:
    """A proposal carrying a polka from a round at or after the lock (valid round) gets a prevote (lines 28-33)."""
    node, ctx, v = lock_on_v(Tendermint)
    w = value("w", "n3")
    for src in ("n1", "n2", "n3"):
        node.on_message(src, Prevote(1, 1, w.id))  # a polka for w in round 1
    node.on_timer("prevote:1:1")
    node.on_timer("precommit:1:1")
    ctx.take()
    node.on_message(NODES[(1 + 2) % 4], Proposal(1, 2, w, 1))
    assert {m.value for _, m in ctx.take(Prevote)} == {w.id}


def test_the_proposer_re_proposes_its_valid_value() -> None:
    """A proposer that saw a polka proposes that value again, with its valid round (line 15)."""
    node, ctx = make_node(Tendermint, "n2", NODES)
    v = value("v", "n1")
    node.on_message("n1", Proposal(1, 0, v, -1))
    for src in ("n0", "n1", "n3"):
        node.on_message(src, Prevote(1, 0, v.id))
    for src in ("n0", "n3"):
        node.on_message(src, Precommit(1, 0, None))
    ctx.take()
    node.on_timer("precommit:1:0")  # round 1: n2 proposes
    (proposal,) = {m for _, m in ctx.take(Proposal)}
    assert proposal.value == v and proposal.valid_round == 0 and proposal.round == 1


def test_f_plus_one_messages_of_a_later_round_skip_ahead() -> None:
    """Two replicas (f + 1) already in round 3 move a replica there (lines 55-56)."""
    node, _ = make_node(Tendermint, "n0", NODES)
    node.on_message("n1", Prevote(1, 3, None))
    assert node.st.round == 0
    node.on_message("n2", Prevote(1, 3, None))
    assert node.st.round == 3


def test_a_missed_proposal_is_fetched_by_digest() -> None:
    """A quorum of precommits for a value whose proposal was lost: the replica fetches it and checks the digest."""
    node, ctx = make_node(Tendermint, "n0", NODES)
    v = value("v", "n1")
    for src in ("n1", "n2", "n3"):
        node.on_message(src, Precommit(1, 0, v.id))
    assert ctx.decided == [] and ("n1", FetchValue(1, v.id)) in ctx.sent
    node.on_message("n2", ValueReply(1, value("forged", "n1")))  # not what the digest says: ignored
    assert ctx.decided == []
    node.on_message("n2", ValueReply(1, v))
    assert [val for _, val, _ in ctx.decided] == ["c0:v"] and node.st.height == 2


SCENARIO = {
    "name": "tendermint",
    "mechanism": "tendermint",
    "nodes": 4,
    "seed": 1,
    "duration": "3s",
    "network": {"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.3}},
    "workload": {"kind": "poisson", "rate": "100/s", "until": "2.5s"},
}


@pytest.mark.parametrize("n", [4, 7])
def test_votes_are_all_to_all(n: int) -> None:
    """Each decided height costs n - 1 proposals and n(n - 1) prevotes (and at most as many precommits): quadratic."""
    result = run(scenario_from_dict({**SCENARIO, "nodes": n}))
    assert result.summary["liveness"] == 1.0 and result.summary["safety_violations"] == 0
    counts = result.messages.groupby("type")["sent"].sum()
    heights = int(counts["proposal"]) // (n - 1)
    assert counts["prevote"] == n * (n - 1) * heights
    # A replica that sees a quorum of precommits before the polka decides without precommitting itself.
    assert (n - 1) * (n - 1) * heights <= counts["precommit"] <= n * (n - 1) * heights


@pytest.mark.parametrize(
    "faults",
    [
        [{"at": "1s", "crash": "n1"}],
        [{"at": "1s", "crash": "leader", "for": "1s"}],
        [{"byzantine": ["n2"], "behaviour": "equivocate"}],
        [{"at": "500ms", "partition": [["n0", "n1"], ["n2", "n3"]], "for": "1s"}],
    ],
    ids=["crash", "leader-crash", "equivocating-proposer", "partition"],
)
def test_safe_and_live_with_f_faults_under_loss(faults: list[dict]) -> None:
    """One fault of four, 2% loss: every command is decided in one order (with a crash, lost proposals are fetched)."""
    data = {**SCENARIO, "duration": "4s", "faults": faults, "workload": {"kind": "poisson", "rate": "100/s", "until": "3.5s"}}
    data["network"] = {**SCENARIO["network"], "loss": 0.02}
    result = run(scenario_from_dict(data))
    assert result.summary["safety_violations"] == 0
    assert result.summary["liveness"] == 1.0
    if any("crash" in fault for fault in faults):
        assert (result.events["kind"] == "crash").sum() == 1  # the fault struck (`leader` names a live leader)


def test_deciding_inside_our_own_precommit_leaves_no_stale_valid_value() -> None:
    """Our own precommit completing the quorum decides the height; the next height must not inherit its valid value.

    Before the fix the polka rule set `validValue` after the precommit had moved the replica to the next
    height, so it later proposed the previous height's value, which everyone drops (review finding).
    """
    node, ctx = make_node(Tendermint, "n2", NODES)
    v = value("1", "n1")
    node.on_message("n1", Proposal(1, 0, v, -1))
    node.on_message("n0", Precommit(1, 0, v.id))
    node.on_message("n1", Precommit(1, 0, v.id))
    node.on_message("n0", Prevote(1, 0, v.id))
    node.on_message("n1", Prevote(1, 0, v.id))  # polka: n2 precommits v, and its own precommit decides height 1
    assert node.st.height == 2
    assert node.st.valid_value is None and node.st.valid_round == -1
    ctx.take()
    node.on_message("c0", Request("c0", "c0:2"))  # n2 proposes at (2, 0)
    (proposal,) = {m for _, m in ctx.take(Proposal)}
    assert proposal.value.height == 2 and [c.cmd_id for c in proposal.value.cmds] == ["c0:2"]


@pytest.mark.parametrize(
    ("seed", "faults"),
    [
        (24, [{"at": "300ms", "crash": "n3"}]),
        (
            1,
            [
                {"at": "300ms", "crash": "n3"},
                {"at": "500ms", "for": "2500ms", "set_link": {"from": "n0", "to": "n1", "loss": 0.5}},
                {"at": "500ms", "for": "2500ms", "set_link": {"from": "n0", "to": "n2", "loss": 0.5}},
            ],
        ),
    ],
    ids=["stale-valid-value", "lost-commit"],
)
def test_review_stalls_are_gone(seed: int, faults: list[dict]) -> None:
    """Two stalls within the bound found in review: a stale valid value (liveness 0.08) and laggards that
    never learned a decision whose precommits they lost (they now adopt it on its commit certificate)."""
    data = {**SCENARIO, "seed": seed, "duration": "4s", "faults": faults, "workload": {"kind": "poisson", "rate": "100/s", "until": "3.5s"}}
    data["crypto"] = {"sign": "0.05ms", "verify": "0.1ms"}  # as scenarios/tendermint-normal.yaml, where review found them
    result = run(scenario_from_dict(data))
    assert result.summary["safety_violations"] == 0
    assert result.summary["liveness"] == 1.0


def test_double_vote_claims_a_nil_vote_for_the_proposal() -> None:
    """A double voter's nil prevote reaches the honest replicas but one as a prevote for the round's proposal, its nil
    precommit only that one (the first honest replica after the proposer); votes for a value and colluders get the truth."""
    from sim.protocols.tendermint.lies import mutate

    node, ctx = make_node(Tendermint, "n0", NODES)
    v = value("v", "n1")
    node.on_message("n1", Proposal(1, 0, v, -1))  # round 0 at height 1: proposer n1
    ctx.protocol = node
    claim = Prevote(1, 0, v.id)
    assert [mutate("double_vote", Prevote(1, 0, None), dst, ctx) for dst in ("n1", "n2", "n3")] == [claim, None, claim]
    assert [mutate("double_vote", Precommit(1, 0, None), dst, ctx) for dst in ("n1", "n2", "n3")] == [None, Precommit(1, 0, v.id), None]
    assert mutate("double_vote", Prevote(1, 0, v.id), "n3", ctx) is None
    assert mutate("double_vote", Prevote(1, 1, None), "n1", ctx) == ()  # no proposal of round 1 yet: held back once
    assert mutate("double_vote", Prevote(1, 1, None), "n1", ctx) is None
    ctx.colluders = frozenset({"n0", "n2"})
    assert mutate("double_vote", Prevote(1, 0, None), "n2", ctx) is None
    assert mutate("double_vote", Precommit(1, 0, None), "n3", ctx) == Precommit(1, 0, v.id)  # n2 lies with us: n3 is next


@pytest.mark.parametrize("liars", [["n0"], ["n3"]])
def test_one_double_voter_breaks_nothing(liars: list[str]) -> None:
    """With f = 1 double-voting replica (the first proposer, or another), every command is decided in one order."""
    data = {**SCENARIO, "duration": "3s", "faults": [{"byzantine": liars, "behaviour": "double_vote"}]}
    result = run(scenario_from_dict(data))
    assert result.summary["safety_violations"] == 0
    assert result.summary["liveness"] == 1.0


def test_the_gossip_relays_a_polka_that_a_faulty_prevote_completed() -> None:
    """n0 holds a polka for v that n2's prevote completed: its gossip passes n2's prevote (and the proposal) to the others."""
    from sim.protocols.tendermint.messages import Relay

    node, ctx = make_node(Tendermint, "n0", NODES)
    v = value("v", "n1")
    node.on_message("n1", Proposal(1, 0, v, -1))
    for src in ("n1", "n2"):
        node.on_message(src, Prevote(1, 0, v.id))
    ctx.take()
    node.on_timer("gossip")
    relays = {dst: set(m.signed) for dst, m in ctx.take(Relay)}
    assert relays["n3"] == {("n1", Proposal(1, 0, v, -1)), ("n1", Prevote(1, 0, v.id)), ("n2", Prevote(1, 0, v.id))}
    assert relays["n1"] == {("n2", Prevote(1, 0, v.id))}  # not n1's own messages back to it, nor ours (re-sent as they are)


def test_a_relayed_polka_lets_a_replica_accept_the_proposal_of_its_valid_round() -> None:
    """Missing one prevote of the valid round's polka, n3 cannot prevote the re-proposed value (lines 28-33) until a relay brings it."""
    from sim.protocols.tendermint.messages import Relay

    node, ctx = make_node(Tendermint, "n3", NODES)
    v = value("v", "n1")
    for src in ("n0", "n1"):
        node.on_message(src, Prevote(1, 0, v.id))  # n2's prevote for v in round 0 never reached n3
    node.on_timer("propose:1:0")
    node.on_timer("prevote:1:0")
    for src in ("n0", "n1"):
        node.on_message(src, Precommit(1, 0, None))
    node.on_timer("precommit:1:0")
    assert node.st.round == 1
    ctx.take()
    node.on_message("n0", Relay(1, (("n0", Proposal(1, 1, value("w", "n0"), -1)),)))  # n0 does not propose round 1
    assert 1 not in node.proposals
    node.on_message("n2", Proposal(1, 1, v, 0))  # the proposer of round 1 re-proposes v with its polka's round
    assert ctx.take(Prevote) == []
    node.on_message("n0", Relay(1, (("n2", Prevote(1, 0, v.id)),)))
    assert {m for _, m in ctx.take(Prevote)} == {Prevote(1, 1, v.id)}


STUCK_AFTER_HEAL = {
    **SCENARIO,
    "name": "tendermint-stuck-after-heal",
    "duration": "3s",
    "protocol": {
        "timeout_propose": "200ms",
        "timeout_prevote": "100ms",
        "timeout_precommit": "100ms",
        "timeout_delta": "50ms",
        "gossip_interval": "100ms",
    },
    "network": {"delay": {"dist": "constant", "value": "5ms"}},
    "workload": {"kind": "poisson", "rate": "25/s", "until": "2500ms", "timeout": "500ms"},
    "crypto": {"sign": "0.05ms", "verify": "0.1ms"},
    "faults": [
        {"byzantine": ["n2"], "behaviour": "omit", "params": {"fraction": 0.9}},
        {"at": "250ms", "for": "306ms", "partition": [["n1"], ["n0", "n2", "n3"]]},
    ],
}


@pytest.mark.parametrize("seed", [1444051992, 5])
def test_decides_again_after_a_heal_when_a_faulty_prevote_completed_a_polka_for_one_replica(seed: int) -> None:
    """Found by `consim explore scenarios/tendermint-normal.yaml -n 60 --seed 3` (stuck no_progress_after_heal).

    n2 drops 90% of what it sends; while n1 is cut off, n2's prevote of round 1 completes a polka at n0
    (and n2) alone, which locks the value. With each replica re-sending only what it signed, n1 and n3
    lacked that polka until n2's own re-sends got through (1.7 s and 2.7 s into the run), so they did not
    prevote the value n0 re-proposed with valid round 1, and the locked replicas prevoted nil for anything
    else: height 2 went round after round to the end (liveness 0.015). n0 relaying n2's prevote ends it.
    """
    result = run(scenario_from_dict({**STUCK_AFTER_HEAL, "seed": seed}))
    assert result.summary["safety_violations"] == 0
    assert result.summary["liveness"] >= 0.95
