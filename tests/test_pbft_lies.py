"""PBFT's faulty replicas lie in every message kind; f liars break nothing, f + 1 can (issue 8, item 4)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from sim import run, scenario_from_dict
from sim.protocols.pbft import Pbft
from sim.protocols.pbft.messages import NULL_DIGEST, Checkpoint, NewView, Prepare, PrePrepare, Reply, Request, ViewChange
from sim.testing import make_node

NODES = ["n0", "n1", "n2", "n3"]


def lie(behaviour: str, msg: Any, dst: str, node: Pbft, ctx: Any) -> Any:
    ctx.protocol = node  # a faulty replica knows its own state
    return Pbft.mutate(behaviour, msg, dst, random.Random(1), ctx)


def test_equivocating_primary_sends_two_real_requests_for_one_seq() -> None:
    """Odd honest replicas get another real client request at seq 2 (the one logged at seq 1); the rest the truth."""
    node, ctx = make_node(Pbft, "n0", NODES)
    first, second = Request("client0", "client0:0"), Request("client1", "client1:0")
    node.on_message("client0", first)
    node.on_message("client1", second)
    pp = PrePrepare(0, 2, second.digest, second)
    told = lie("equivocate", pp, "n1", node, ctx)
    assert told == PrePrepare(0, 2, first.digest, first)
    assert lie("equivocate", pp, "n2", node, ctx) is None


def test_liars_fabricate_view_changes_new_views_checkpoints_and_replies() -> None:
    """Each lie is one an honest replica rejects when the liar is alone: its own signature is not a certificate."""
    node, ctx = make_node(Pbft, "n1", NODES)
    honest, _ = make_node(Pbft, "n3", NODES)
    req = Request("client0", "client0:0")
    node.on_message("n0", PrePrepare(0, 1, req.digest, req))
    for peer in ("n2", "n3"):
        node.on_message(peer, Prepare(0, 1, req.digest))
    vc = ViewChange(1, 0, "genesis", (), (node.st.certs[1],))
    assert honest.valid_view_change(vc)
    fake = lie("equivocate", vc, "n3", node, ctx)
    assert fake.prepared[0].digest == NULL_DIGEST and fake.prepared[0].view == 0
    assert not honest.valid_view_change(fake)  # signed by n1 alone: q - 1 = 2 prepares needed
    corrupted = lie("corrupt", vc, "n3", node, ctx)
    assert corrupted.stable_seq == 64 and not honest.valid_view_change(corrupted)
    nv = NewView(1, (), (PrePrepare(1, 1, req.digest, req),))
    assert lie("equivocate", nv, "n3", node, ctx).pre_prepares == (PrePrepare(1, 1, NULL_DIGEST, None), PrePrepare(1, 2, NULL_DIGEST, None))
    assert lie("equivocate", Checkpoint(4, "s"), "n3", node, ctx).state != "s"
    assert lie("equivocate", Reply(0, "client0:0", "r"), "client0", node, ctx).result != "r"


def scenario(**fields: Any) -> Any:
    data: dict[str, Any] = {
        "name": "pbft-lies",
        "mechanism": "pbft",
        "nodes": 4,
        "seed": 3,
        "duration": "3s",
        "protocol": {"view_change_timeout": "150ms"},
        "network": {"delay": {"dist": "uniform", "low": "2ms", "high": "8ms"}},
        "workload": {"kind": "poisson", "rate": "40/s", "until": "2s", "timeout": "100ms"},
    }
    data.update(fields)
    return scenario_from_dict(data)


@pytest.mark.parametrize("behaviour", ["equivocate", "corrupt", "double_vote"])
def test_one_liar_as_the_next_primary_breaks_nothing_at_n4(behaviour: str) -> None:
    """n0 is cut off, so n1 (a liar) leads view 1: its new-view, view-changes, checkpoints and replies lie."""
    faults = [
        {"byzantine": ["n1"], "behaviour": behaviour},
        {"at": "500ms", "cut": {"from": "n0", "to": ["n1", "n2", "n3"]}, "for": "600ms"},
    ]
    result = run(scenario(faults=faults))
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["view_changes"] >= 1
    assert result.summary["liveness"] == 1.0


@pytest.mark.parametrize("behaviour", ["equivocate", "corrupt"])
def test_f_liars_with_a_silent_primary_break_nothing_at_n7(behaviour: str) -> None:
    """n = 7, f = 2: n0 silent and n1 lying in every message; the view passes n1 by and all complete."""
    faults = [{"byzantine": ["n0"], "behaviour": "silent"}, {"byzantine": ["n1"], "behaviour": behaviour}]
    result = run(scenario(nodes=7, faults=faults))
    assert result.violations.empty, result.violations.to_string()
    assert result.summary["view_max"] >= 2
    assert result.summary["liveness"] == 1.0


@pytest.mark.parametrize(("nodes", "liars"), [(4, ["n0", "n1"]), (7, ["n0", "n1", "n2"]), (5, ["n0", "n1", "n2"])])
def test_colluding_equivocators_sending_real_requests_break_agreement(nodes: int, liars: list[str]) -> None:
    """f + 1 colluders (the primary among them) at n = 3f + 1 tell odd honest replicas another real request.

    At n = 5 (f = 1) quorums of 4 overlap in 3 replicas, so it takes 3 colluders, not 2.
    """
    result = run(scenario(nodes=nodes, faults=[{"byzantine": liars, "behaviour": "equivocate"}]))
    broken = result.violations[result.violations["rule"] == "agreement"]
    assert not broken.empty
    assert any("noop" not in detail for detail in broken["detail"])  # two real client requests, not one and the null one


def test_two_colluders_cannot_split_five_replicas() -> None:
    """n = 5: two equivocators (the primary among them) find no two quorums of 4 without a common honest replica."""
    result = run(scenario(nodes=5, faults=[{"byzantine": ["n0", "n2"], "behaviour": "equivocate"}]))
    assert result.violations.empty, result.violations.to_string()


@pytest.mark.parametrize(("liars", "broken"), [(["n3"], False), (["n2", "n3"], True)])
def test_view_change_lies_break_agreement_with_f_plus_one_liars_only(liars: list[str], broken: bool) -> None:
    """Liars lie in view-changes alone. n1 missed view 0 (cut), so it holds no certificate when n0 is cut off;
    the liars tell it that other requests prepared. One liar's certificate (its own signature) is refused; two
    liars sign a valid one, n1's O set re-issues their requests, and n1 decides against n0."""
    faults = [
        {"byzantine": liars, "behaviour": "equivocate", "messages": ["view_change"]},
        {"at": "0ms", "cut": {"from": ["n0", "n2", "n3"], "to": "n1"}, "until": "300ms"},
        {"at": "300ms", "cut": {"from": "n0", "to": ["n1", "n2", "n3"]}},
    ]
    # Five requests commit in view 0 without n1; the sixth, after n0 is cut off, forces view 1 (primary n1).
    workload = {"kind": "script", "commands": [*({"at": f"{10 + 20 * i}ms"} for i in range(5)), {"at": "400ms"}]}
    network = {"delay": {"dist": "uniform", "low": "1ms", "high": "5ms"}}
    result = run(scenario(seed=1, duration="2s", network=network, faults=faults, workload=workload))
    rules = set(result.violations["rule"])
    assert ("agreement" in rules) is broken, result.violations.to_string()
    if not broken:
        assert result.violations.empty
