"""Multi-Paxos: acceptor rules by hand, then whole runs under crashes, partitions, loss and lies."""

from __future__ import annotations

from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.protocols.base import NOOP, ClientRequest
from sim.protocols.multipaxos import MultiPaxos
from sim.protocols.multipaxos.messages import Accept, Accepted, Decide, Heartbeat, Nack, Prepare, Promise
from sim.scenario import ScenarioError
from sim.testing import make_node

NODES = ["n0", "n1", "n2", "n3", "n4"]


def scenario(**fields: Any) -> Any:
    data: dict[str, Any] = {"name": "mp-test", "mechanism": "multipaxos", "nodes": 5, "duration": "2s"}
    data.update(fields)
    return scenario_from_dict(data)


# --- single nodes, no event loop -------------------------------------------------------------


def test_acceptor_promises_then_rejects_lower_ballots() -> None:
    """An acceptor promises a ballot, reports its accepted values, and nacks anything lower."""
    node, ctx = make_node(MultiPaxos, "n1", NODES, bootstrap=False)
    node.on_message("n2", Accept((1, 2), 0, "c:0"))
    assert ctx.take(Accepted) == [("n2", Accepted((1, 2), 0))]
    node.on_message("n3", Prepare((2, 3), 0))
    [(dst, promise)] = ctx.take(Promise)
    assert dst == "n3" and promise.accepted == ((0, (1, 2), "c:0"),)
    node.on_message("n2", Accept((1, 2), 1, "c:1"))
    assert ctx.take(Nack) == [("n2", Nack((1, 2), (2, 3)))]
    assert 1 not in ctx.storage["accepted"]
    node.on_message("n4", Prepare((1, 4), 0))
    assert ctx.take(Nack) == [("n4", Nack((1, 4), (2, 3)))]


def test_acceptor_state_survives_a_crash() -> None:
    """The promised ballot and accepted values are in storage: a restarted node still honours them."""
    node, ctx = make_node(MultiPaxos, "n1", NODES, bootstrap=False)
    node.on_message("n3", Prepare((5, 3), 0))
    node.on_message("n3", Accept((5, 3), 0, "c:0"))
    fresh = MultiPaxos(ctx, node.config)  # type: ignore[arg-type]
    fresh.on_start()
    ctx.take()
    fresh.on_message("n2", Prepare((4, 2), 0))
    assert ctx.take(Nack) == [("n2", Nack((4, 2), (5, 3)))]
    assert ctx.storage["accepted"][0] == ((5, 3), "c:0")


def test_new_leader_adopts_highest_ballot_values_and_fills_gaps_with_noops() -> None:
    """Phase 1 won: each reported slot gets its highest-ballot value, unreported slots a no-op."""
    node, ctx = make_node(MultiPaxos, "n0", NODES, bootstrap=False)
    node.on_timer("election")
    [(_, prepare)] = ctx.take(Prepare)[:1]
    ballot = prepare.ballot
    assert ballot == (1, 0) and node.role == "candidate"
    node.on_message("n1", Promise(ballot, 0, ((0, (1, 1), "old"), (2, (1, 1), "c:2"))))
    assert node.role == "candidate"
    node.on_message("n2", Promise(ballot, 0, ((0, (1, 2), "newer"),)))
    assert node.is_leader()
    assert ("leader", {"term": 1}) in ctx.events
    accepts = {m.slot: m.value for _, m in ctx.take(Accept)}
    assert accepts == {0: "newer", 1: NOOP, 2: "c:2"}
    # New commands go after the adopted slots.
    node.on_request(ClientRequest("client0", "c:9"))
    assert [m.slot for _, m in ctx.take(Accept)] == [3] * 4


def test_leader_decides_on_a_phase2_quorum_and_replies_once_applied() -> None:
    """A command is chosen at a majority of accepted, decided to all, and the client answered."""
    node, ctx = make_node(MultiPaxos, "n0", NODES)
    for peer in ("n1", "n2"):
        node.on_message(peer, Promise((1, 0), 0, ()))
    assert node.is_leader()
    ctx.take()
    node.on_request(ClientRequest("client0", "c:0"))
    node.on_message("n1", Accepted((1, 0), 0))
    assert not ctx.decided
    node.on_message("n2", Accepted((1, 0), 0))
    assert ctx.decided == [(0, "c:0", {"ballot": 1})]
    assert len(ctx.take(Decide)) == 4
    replies = [m for d, m in ctx.sent if d == "client0"]
    assert len(replies) == 1 and replies[0].ok
    # A duplicate of an applied command is answered, never proposed again.
    ctx.take()
    node.on_request(ClientRequest("client0", "c:0"))
    assert not ctx.take(Accept)


def test_follower_redirects_clients_and_steps_down_candidates() -> None:
    """Followers redirect to the leader they heard from; a higher-ballot heartbeat ends a candidacy."""
    node, ctx = make_node(MultiPaxos, "n1", NODES, bootstrap=False)
    node.on_message("n0", Heartbeat((1, 0), 0))
    node.on_request(ClientRequest("client0", "c:0"))
    [(dst, reply)] = [(d, m) for d, m in ctx.sent if d == "client0"]
    assert not reply.ok and reply.leader == "n0"
    node.on_timer("election")
    assert node.role == "candidate"
    node.on_message("n3", Heartbeat((9, 3), 0))
    assert node.role == "follower" and node.leader == "n3"


# --- whole runs ------------------------------------------------------------------------------


def test_flexible_quorums_checked_at_load_time() -> None:
    """|Q1|+|Q2| <= N is refused with the field and the reason."""
    with pytest.raises(ScenarioError) as err:
        scenario(protocol={"quorums": {"phase1": 2, "phase2": 3}})
    assert err.value.field == "protocol.quorums" and "must exceed N=5" in err.value.problem


def test_flexible_quorums_run_with_small_phase2() -> None:
    """Q1=4, Q2=2 of 5 decides every command with fewer phase-2 votes needed."""
    result = run(scenario(protocol={"quorums": {"phase1": 4, "phase2": 2}}, workload={"kind": "poisson", "rate": "50/s", "until": "1.5s"}))
    assert result.summary["safety_violations"] == 0
    assert result.summary["liveness"] == 1.0


def _leaders_after_crashing(quorums: Any, crashed: list[str]) -> list[float]:
    """When nodes became leader in a run whose `crashed` nodes (the first leader among them) are down from 500ms to 2s."""
    result = run(
        scenario(
            seed=1,
            duration="3s",
            protocol={"quorums": quorums},
            network={"delay": "5ms"},
            faults=[{"at": "500ms", "crash": name, "for": "1500ms"} for name in crashed],
            workload={"kind": "poisson", "rate": "50/s", "until": "2.8s"},
        )
    )
    assert result.violations.empty
    events = result.events
    return sorted(events.loc[events["kind"] == "leader", "time_ms"].tolist())


def test_a_phase1_quorum_of_4_of_5_elects_no_leader_while_two_nodes_are_down() -> None:
    """Why the crash bound of {phase1: 4, phase2: 2} on 5 nodes is 1: with the leader and one more down, the 3 left
    cannot finish phase 1 until the crashed recover (2s); majorities elect a new leader at once."""
    flexible = {"phase1": 4, "phase2": 2}
    assert any(500 < t < 2000 for t in _leaders_after_crashing(flexible, ["n0"]))
    assert not any(500 < t < 2000 for t in _leaders_after_crashing(flexible, ["n0", "n1"]))
    assert any(500 < t < 2000 for t in _leaders_after_crashing("majority", ["n0", "n1"]))


def test_fault_bound_comes_from_the_configured_quorums() -> None:
    """Explore, compare and reports read `fault_bound`: flexible and weighted quorums set it, not n alone (it was 2 for all)."""
    assert MultiPaxos.fault_bound(scenario()) == ("crash", 2)
    assert MultiPaxos.fault_bound(scenario(protocol={"quorums": {"phase1": 4, "phase2": 2}})) == ("crash", 1)
    assert MultiPaxos.fault_bound(scenario(protocol={"quorums": {"phase1": 3, "phase2": 3}})) == ("crash", 2)
    assert MultiPaxos.fault_bound(scenario(nodes=7, protocol={"quorums": {"phase1": 3, "phase2": 5}})) == ("crash", 2)
    heavy = [{"name": "a", "weight": 10}, {"name": "b"}, {"name": "c"}, {"name": "d"}, {"name": "e"}]
    assert MultiPaxos.fault_bound(scenario(nodes=heavy, protocol={"quorums": "weighted"})) == ("crash", 0)
    even = [{"name": n} for n in NODES]
    assert MultiPaxos.fault_bound(scenario(nodes=even, protocol={"quorums": "weighted"})) == ("crash", 2)


@pytest.mark.parametrize("seed", range(20))
def test_safe_under_crashes_partitions_loss_and_duplicates(seed: int) -> None:
    """Agreement, validity and integrity hold on 20 seeds of a hostile network with crashes."""
    result = run(
        scenario(
            seed=seed,
            duration="2s",
            network={"delay": {"dist": "lognormal", "median": "5ms", "sigma": 0.6}, "loss": 0.05, "duplicate": 0.05},
            faults=[
                {"at": "300ms", "crash": "leader", "for": "500ms"},
                {"at": "900ms", "partition": [["n0", "n1"], ["n2", "n3", "n4"]], "until": "1300ms"},
                {"at": "1400ms", "crash": "random", "for": "200ms"},
            ],
            workload={"kind": "poisson", "rate": "80/s", "until": "1.7s"},
        )
    )
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["decisions"] > 50
    assert result.summary["ballots"] >= 2


def test_leader_crash_recovered_with_gaps_filled() -> None:
    """A leader whose accepts are mostly lost crashes; the next leader decides no-ops in the gaps."""
    result = run(
        scenario(
            seed=3,
            duration="2s",
            faults=[
                {"at": "500ms", "set_link": {"from": "n0", "to": "*", "loss": 0.6}},
                {"at": "700ms", "crash": "n0"},
            ],
            workload={"kind": "poisson", "rate": "100/s", "until": "1.5s"},
        )
    )
    assert result.violations.empty
    leaders = result.events[result.events["kind"] == "leader"]
    assert list(leaders["node"])[0] == "n0" and len(leaders) >= 2
    noops = result.decisions[result.decisions["value"] == NOOP]
    assert len(noops) > 0
    assert result.summary["liveness"] > 0.95


def test_one_equivocating_leader_breaks_agreement() -> None:
    """Multi-Paxos is crash-tolerant only: a leader telling half the nodes a no-op splits them."""
    result = run(
        scenario(
            faults=[{"byzantine": ["n0"], "behaviour": "equivocate"}],
            workload={"kind": "poisson", "rate": "50/s", "until": "1s"},
        )
    )
    assert "agreement" in set(result.violations["rule"])


# --- the checkers must be seen to fail --------------------------------------------------------


class ForgetfulPaxos(MultiPaxos):
    """Broken: a new leader ignores the values reported in promises."""

    def adopt(self) -> dict[int, Any]:  # type: ignore[override]
        return {}


class InventivePaxos(MultiPaxos):
    """Broken: the leader proposes a value no client asked for."""

    def propose(self, slot: int, value: str) -> None:
        super().propose(slot, value if value == NOOP else value + "-invented")


class StutteringPaxos(MultiPaxos):
    """Broken: every chosen slot is decided twice."""

    def learn(self, slot: int, value: str, round_: int) -> None:
        if slot not in self.ctx.storage["chosen"]:
            self.ctx.decide(slot, value, ballot=round_)
        super().learn(slot, value, round_)


def _leader_change_scenario() -> Any:
    # n0 leads; from 400ms nothing it sends reaches n3 and n4, so their values come only from the
    # next leader's phase 1, which must adopt what n1 and n2 accepted from n0.
    return scenario(
        duration="1.5s",
        faults=[{"at": "400ms", "cut": {"from": ["n0"], "to": ["n3", "n4"]}}],
        workload={"kind": "poisson", "rate": "100/s", "until": "1.2s"},
    )


def test_leader_change_scenario_is_safe_with_the_real_protocol() -> None:
    """The leader change below is handled: a second leader takes over, no violation."""
    result = run(_leader_change_scenario())
    assert result.violations.empty
    assert result.summary["leader_changes"] >= 2


def test_agreement_checker_catches_a_leader_that_skips_adoption() -> None:
    """Skipping the adoption of accepted values overwrites chosen slots after a leader change."""
    result = run(_leader_change_scenario(), protocol_cls=ForgetfulPaxos)
    assert "agreement" in set(result.violations["rule"])


def test_validity_checker_catches_invented_values() -> None:
    """Deciding a value no client submitted is a validity violation."""
    result = run(scenario(duration="1s", workload={"kind": "poisson", "rate": "20/s", "until": "800ms"}), protocol_cls=InventivePaxos)
    assert set(result.violations["rule"]) == {"validity"}


def test_integrity_checker_catches_a_slot_decided_twice() -> None:
    """Deciding the same slot twice in one incarnation is an integrity violation."""
    result = run(scenario(duration="1s", workload={"kind": "poisson", "rate": "20/s", "until": "800ms"}), protocol_cls=StutteringPaxos)
    assert set(result.violations["rule"]) == {"integrity"}


# --- one command, one slot (issue 8, item 13) -------------------------------------------------


def _commands_in_two_slots(decisions: Any) -> Any:
    applied = decisions[decisions["value"] != NOOP]
    slots = applied.groupby(["node", "value"])["slot"].nunique()
    return slots[slots > 1]


def test_retried_command_is_chosen_in_one_slot_only() -> None:
    """Reproduction: 20% loss and 60 ms client timeouts; a retry used to be proposed in a new slot."""
    result = run(
        scenario_from_dict(
            {
                "name": "multipaxos-duplicate-slots",
                "mechanism": "multipaxos",
                "nodes": 3,
                "seed": 1,
                "duration": "2s",
                "network": {"delay": "5ms", "loss": 0.2},
                "workload": {"kind": "poisson", "rate": "50/s", "until": "1.5s", "timeout": "60ms"},
            }
        )
    )
    assert _commands_in_two_slots(result.decisions).empty
    assert result.summary.get("duplicates_skipped", 0) == 0
    assert result.summary["liveness"] == 1.0


def _leader(ctx_nodes: list[str] = NODES) -> tuple[MultiPaxos, Any]:
    node, ctx = make_node(MultiPaxos, "n0", ctx_nodes)
    for peer in ("n1", "n2"):
        node.on_message(peer, Promise((1, 0), 0, ()))
    assert node.is_leader()
    ctx.take()
    return node, ctx  # type: ignore[return-value]


def test_retry_of_a_chosen_but_unapplied_command_is_not_proposed_again() -> None:
    """Slot 1 is chosen while slot 0 is not: the command waits to be applied, and a retry waits too."""
    node, ctx = _leader()
    node.on_request(ClientRequest("client0", "c:0"))
    node.on_request(ClientRequest("client0", "c:1"))
    for peer in ("n1", "n2"):
        node.on_message(peer, Accepted((1, 0), 1))
    assert not ctx.decided  # slot 1 chosen, but slot 0 still open: nothing applied yet
    ctx.take()
    node.on_request(ClientRequest("client0", "c:1"))
    assert not ctx.take(Accept)
    for peer in ("n1", "n2"):
        node.on_message(peer, Accepted((1, 0), 0))
    assert [(s, v) for s, v, _ in ctx.decided] == [(0, "c:0"), (1, "c:1")]
    assert [m.cmd_id for d, m in ctx.sent if d == "client0"] == ["c:0", "c:1"]


def test_new_leader_does_not_repropose_a_command_it_learned_chosen() -> None:
    """A leader elected with a chosen-but-unapplied command treats a retry of it as in flight."""
    node, ctx = make_node(MultiPaxos, "n0", NODES, bootstrap=False)
    node.on_message("n1", Decide(1, "c:1", 1))  # learned, not applicable: slot 0 is missing
    node.on_timer("election")
    ballot = ctx.take(Prepare)[0][1].ballot
    for peer in ("n1", "n2"):
        node.on_message(peer, Promise(ballot, 0, ()))
    assert node.is_leader()
    ctx.take()
    node.on_request(ClientRequest("client0", "c:1"))
    assert not ctx.take(Accept)


def test_a_command_chosen_in_two_slots_is_applied_once() -> None:
    """Paxos may choose a command twice (a leader could not know); the state machine skips the copy."""
    node, ctx = make_node(MultiPaxos, "n1", NODES, bootstrap=False)
    for slot, value in enumerate(["c:0", "c:1", "c:0"]):
        node.on_message("n0", Decide(slot, value, 1))
    assert [(s, v, f.get("duplicate")) for s, v, f in ctx.decided] == [(0, "c:0", None), (1, "c:1", None), (2, "c:0", True)]
    assert ctx.counters == {"duplicates_skipped": 1}
    # The table of applied commands is state-machine state: it survives a crash.
    fresh = MultiPaxos(ctx, node.config)  # type: ignore[arg-type]
    fresh.on_start()
    fresh.on_message("n0", Decide(3, "c:1", 1))
    assert ctx.decided[-1][2].get("duplicate") is True


# --- compaction: accepted values below what every node learned are forgotten ------------------


def test_leader_compacts_below_what_every_node_has_learned() -> None:
    """The compaction point is the lowest learned point over all nodes, and moves only forward."""
    node, ctx = _leader()
    for i in range(3):
        node.on_request(ClientRequest("client0", f"c:{i}"))
    for slot in range(3):
        for peer in ("n1", "n2"):
            node.on_message(peer, Accepted((1, 0), slot, slot))
    assert ctx.storage["executed"] == 3 and len(ctx.storage["accepted"]) == 3
    node.on_timer("heartbeat")
    assert ctx.storage["compacted"] == 0  # n3 and n4 never reported: nothing can be forgotten
    node.on_message("n3", Accepted((1, 0), 2, 2))
    node.on_message("n4", Accepted((1, 0), 2, 3))
    ctx.take()
    node.on_timer("heartbeat")
    # n1, n2 and n3 reported 2 at best (a late report of 1 does not lower it).
    node.on_message("n1", Accepted((1, 0), 0, 1))
    assert ctx.storage["compacted"] == 2
    assert sorted(ctx.storage["accepted"]) == [2] and sorted(ctx.storage["chosen"]) == [2]
    node.on_timer("heartbeat")
    assert {m.compacted for _, m in ctx.take(Heartbeat)} == {2}


def test_follower_forgets_accepted_values_on_the_leaders_word() -> None:
    """A follower prunes below the heartbeat's compaction point, and never stores a stale accept there."""
    node, ctx = make_node(MultiPaxos, "n1", NODES, bootstrap=False)
    for slot in range(4):
        node.on_message("n0", Accept((1, 0), slot, f"c:{slot}"))
        node.on_message("n0", Decide(slot, f"c:{slot}", 1))
    node.on_message("n0", Accept((1, 0), 4, "c:4"))
    node.on_message("n0", Heartbeat((1, 0), 4, 3))
    assert sorted(ctx.storage["accepted"]) == [3, 4]
    ctx.take()
    node.on_message("n0", Accept((1, 0), 1, "c:1"))
    assert 1 not in ctx.storage["accepted"] and not ctx.take(Accepted)
    node.on_message("n2", Prepare((2, 2), 4))
    [(_, promise)] = ctx.take(Promise)
    assert promise.accepted == ((4, (1, 0), "c:4"),)


def test_promises_stay_small_in_a_long_run() -> None:
    """After 2000 commands, a leader change's promises carry only the undecided window."""
    from sim.kernel import Simulation

    sim = Simulation(
        scenario(
            nodes=3,
            duration="10s",
            network={"delay": "2ms", "loss": 0.05},
            faults=[{"at": "9s", "crash": "leader"}],
            workload={"kind": "poisson", "rate": "250/s", "until": "8.5s"},
        )
    )
    sim.run()
    storages = [node.storage for node in sim.nodes.values()]
    assert min(st["executed"] for st in storages) > 2000
    assert max(len(st["accepted"]) for st in storages) < 100
    assert max(len(st["chosen"]) for st in storages) < 100
